import type { ChatResult, Usage } from '../../core/canonical.ts';
import { parseToolInput, type AnthropicContentBlockOut, type AnthropicMessageOut, type AnthropicUsageOut } from '../../wire/anthropic.ts';
import { mapToAnthropicStopReason } from './map-to-anthropic-stop-reason.ts';

/** Anthropic message ids look like `msg_...`; keep the upstream's id inside so logs can be matched. */
export function toAnthropicMessageId(id: string, fallback: string): string {
  const base = id || fallback;
  return base.startsWith('msg_') ? base : `msg_${base}`;
}

/** Canonical usage -> Anthropic's, whose input_tokens excludes cache reads and writes. */
export function encodeAnthropicUsage(u: Partial<Usage> | undefined): AnthropicUsageOut {
  const cacheRead = u?.cachedInputTokens ?? 0;
  const cacheWrite = u?.cacheWriteTokens ?? 0;
  return {
    input_tokens: Math.max(0, (u?.inputTokens ?? 0) - cacheRead - cacheWrite),
    output_tokens: u?.outputTokens ?? 0,
    cache_creation_input_tokens: cacheWrite,
    cache_read_input_tokens: cacheRead,
  };
}

/**
 * Canonical result -> an Anthropic `message` object, as the Messages API returns it.
 * Tool call ids are kept as they are: the client sends them back in tool_result
 * blocks, and the upstream must recognise them.
 */
export function encodeAnthropicMessage(result: ChatResult, ctx: { model: string; requestId: string }): AnthropicMessageOut {
  const content: AnthropicContentBlockOut[] = [];
  result.content.forEach((part, i) => {
    switch (part.type) {
      case 'text':
        content.push({ type: 'text', text: part.text });
        return;
      case 'reasoning':
        if (part.redactedData !== undefined) content.push({ type: 'redacted_thinking', data: part.redactedData });
        else content.push({ type: 'thinking', thinking: part.text, signature: part.signature ?? '' });
        return;
      case 'tool_call':
        // Anthropic's input is always an object; arguments that are not one cannot be expressed.
        content.push({ type: 'tool_use', id: part.id || `toolu_${ctx.requestId}_${i}`, name: part.name, input: parseToolInput(part.arguments).value });
        return;
    }
  });
  return {
    id: toAnthropicMessageId(result.id, ctx.requestId),
    type: 'message',
    role: 'assistant',
    model: ctx.model,
    content,
    stop_reason: mapToAnthropicStopReason(result.finishReason, result.rawFinishReason),
    stop_sequence: null,
    usage: encodeAnthropicUsage(result.usage),
  };
}
