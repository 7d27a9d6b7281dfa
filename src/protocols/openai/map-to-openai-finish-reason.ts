import type { FinishReason } from '../../core/canonical.ts';
import type { OpenAIFinishReason } from '../../wire/openai-chat.ts';

/** OpenAI has no 'error' or 'other' finish reason; clients treat 'stop' as a normal end, the safest reading of both. */
export function mapToOpenAIFinishReason(reason: FinishReason): OpenAIFinishReason {
  switch (reason) {
    case 'length':
    case 'tool_calls':
    case 'content_filter':
      return reason;
    default:
      return 'stop';
  }
}
