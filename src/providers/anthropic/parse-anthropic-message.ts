import type { ChatResult, ReasoningPart, TextPart, ToolCallPart } from '../../core/canonical.ts';
import { anthropicMessageSchema, mapAnthropicStopReason, type AnthropicContentBlock } from '../../wire/anthropic.ts';
import { convertAnthropicUsage } from './convert-anthropic-usage.ts';

/**
 * A Messages API `message` object -> canonical result. Server-tool blocks
 * (server_tool_use, web_search_tool_result, ...) have no canonical counterpart and
 * are skipped. Anthropic messages carry no timestamp, so `created` is the time of
 * parsing (`now` is injectable for tests).
 */
export function parseAnthropicMessage(body: unknown, now: () => number = Date.now): ChatResult {
  const parsed = anthropicMessageSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`not an Anthropic message (${issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'invalid'})`);
  }
  const m = parsed.data;
  const content: ChatResult['content'] = [];
  for (const block of m.content ?? []) {
    const part = convertAnthropicContentBlock(block);
    if (part) content.push(part);
  }
  const result: ChatResult = {
    id: m.id ?? '',
    model: m.model ?? '',
    created: Math.floor(now() / 1000),
    content,
    finishReason: mapAnthropicStopReason(m.stop_reason),
  };
  if (m.stop_reason) result.rawFinishReason = m.stop_reason;
  if (m.usage) result.usage = convertAnthropicUsage(m.usage);
  return result;
}

export function convertAnthropicContentBlock(block: AnthropicContentBlock): TextPart | ReasoningPart | ToolCallPart | undefined {
  switch (block.type) {
    case 'text':
      return { type: 'text', text: block.text ?? '' };
    case 'thinking': {
      const part: ReasoningPart = { type: 'reasoning', text: block.thinking ?? '' };
      if (block.signature) part.signature = block.signature;
      return part;
    }
    case 'redacted_thinking':
      return { type: 'reasoning', text: '', redactedData: block.data ?? '' };
    case 'tool_use':
      return { type: 'tool_call', id: block.id ?? '', name: block.name ?? '', arguments: JSON.stringify(block.input ?? {}) };
    default:
      return undefined;
  }
}
