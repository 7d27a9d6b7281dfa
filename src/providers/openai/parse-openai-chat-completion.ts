import type { ChatResult } from '../../core/canonical.ts';
import { GatewayError } from '../../core/errors.ts';
import { openAIChatCompletionSchema } from '../../wire/openai-chat.ts';
import { convertOpenAIUsage } from './convert-openai-usage.ts';
import { finishReasonWithToolCalls, mapOpenAIFinishReason } from './map-openai-finish-reason.ts';

/** A `chat.completion` body -> canonical result (first choice; converted routes ask for one). */
export function parseOpenAIChatCompletion(body: unknown): ChatResult {
  const parsed = openAIChatCompletionSchema.safeParse(body);
  if (!parsed.success) {
    throw new GatewayError('upstream_error', `Upstream returned a malformed chat completion: ${parsed.error.issues[0]?.message ?? 'invalid body'}.`);
  }
  const b = parsed.data;
  const id = b.id ?? '';
  const result: ChatResult = { id, model: b.model ?? '', created: b.created ?? 0, content: [], finishReason: 'other' };
  const choice = b.choices.find((c) => (c.index ?? 0) === 0) ?? b.choices[0];
  if (choice) {
    const m = choice.message;
    const reasoning = m.reasoning_content ?? m.reasoning;
    if (reasoning) result.content.push({ type: 'reasoning', text: reasoning });
    // A refusal is the model's answer in words; canonical has no refusal part, so it is text.
    const text = m.content ?? m.refusal;
    if (text) result.content.push({ type: 'text', text });
    (m.tool_calls ?? []).forEach((call, k) => {
      result.content.push({
        type: 'tool_call',
        id: call.id ?? `call_${id}_${k}`,
        name: call.function?.name ?? '',
        arguments: call.function?.arguments ?? '',
      });
    });
    if (m.function_call?.name) {
      result.content.push({ type: 'tool_call', id: `call_${id}_fc`, name: m.function_call.name, arguments: m.function_call.arguments ?? '' });
    }
    const hasToolCalls = result.content.some((p) => p.type === 'tool_call');
    result.finishReason = finishReasonWithToolCalls(mapOpenAIFinishReason(choice.finish_reason), hasToolCalls);
    if (choice.finish_reason) result.rawFinishReason = choice.finish_reason;
  }
  if (b.usage) result.usage = convertOpenAIUsage(b.usage);
  return result;
}
