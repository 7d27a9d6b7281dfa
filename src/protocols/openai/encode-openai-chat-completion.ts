import type { ChatResult } from '../../core/canonical.ts';
import type { OpenAIChatCompletionOut, OpenAIToolCallOut } from '../../wire/openai-chat.ts';
import { encodeOpenAIUsage } from './encode-openai-usage.ts';
import { mapToOpenAIFinishReason } from './map-to-openai-finish-reason.ts';

/** OpenAI ids look like `chatcmpl-...`; keep the upstream's id inside so logs can be matched. */
export function toOpenAIChatId(id: string, fallback: string): string {
  const base = id || fallback;
  return base.startsWith('chatcmpl-') ? base : `chatcmpl-${base}`;
}

/** Canonical result -> a `chat.completion` object, as OpenAI documents it. */
export function encodeOpenAIChatCompletion(result: ChatResult, ctx: { model: string; requestId: string }): OpenAIChatCompletionOut {
  let text = '';
  let reasoning = '';
  let hasReasoning = false;
  const toolCalls: OpenAIToolCallOut[] = [];
  for (const part of result.content) {
    if (part.type === 'text') text += part.text;
    else if (part.type === 'reasoning') {
      reasoning += part.text;
      hasReasoning = true;
    } else {
      // OpenAI clients JSON.parse the arguments; a tool with no input still has an object.
      toolCalls.push({ id: part.id, type: 'function', function: { name: part.name, arguments: part.arguments || '{}' } });
    }
  }
  const hasText = result.content.some((p) => p.type === 'text');
  const message: OpenAIChatCompletionOut['choices'][number]['message'] = {
    role: 'assistant',
    content: hasText || toolCalls.length === 0 ? text : null,
    refusal: null,
  };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  if (hasReasoning) message.reasoning_content = reasoning;

  const out: OpenAIChatCompletionOut = {
    id: toOpenAIChatId(result.id, ctx.requestId),
    object: 'chat.completion',
    created: result.created,
    model: ctx.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: mapToOpenAIFinishReason(result.finishReason) }],
  };
  if (result.usage) out.usage = encodeOpenAIUsage(result.usage);
  return out;
}
