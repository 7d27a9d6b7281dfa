import type { FinishReason } from '../../core/canonical.ts';

/** Anthropic `stop_reason` -> canonical finish reason (the raw value is kept beside it). */
export function mapAnthropicStopReason(stopReason: string | null | undefined): FinishReason {
  switch (stopReason) {
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    case 'pause_turn':
    default:
      // pause_turn: a server tool loop paused; the client is meant to send the turn back.
      return 'other';
  }
}
