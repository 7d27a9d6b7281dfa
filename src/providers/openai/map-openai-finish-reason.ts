import type { FinishReason } from '../../core/canonical.ts';

/** OpenAI (and compatible servers') finish_reason -> canonical. */
export function mapOpenAIFinishReason(raw: string | null | undefined): FinishReason {
  switch (raw) {
    case 'stop':
      return 'stop';
    case 'length':
      return 'length';
    case 'tool_calls':
    case 'function_call':
      return 'tool_calls';
    case 'content_filter':
      return 'content_filter';
    default:
      return 'other';
  }
}

/**
 * Some OpenAI-compatible servers answer 'stop' after tool calls; clients of other
 * formats (Anthropic's stop_reason 'tool_use') rely on the reason to run the tools.
 */
export function finishReasonWithToolCalls(reason: FinishReason, hasToolCalls: boolean): FinishReason {
  return hasToolCalls && reason === 'stop' ? 'tool_calls' : reason;
}
