import type { FinishReason } from '../../core/canonical.ts';
import { mapAnthropicStopReason } from '../../wire/anthropic.ts';

const ANTHROPIC_STOP_REASONS = new Set(['end_turn', 'max_tokens', 'stop_sequence', 'tool_use', 'pause_turn', 'refusal', 'model_context_window_exceeded']);

/**
 * Canonical finish reason -> Anthropic `stop_reason`. The provider's raw reason is
 * used when it is already an Anthropic one that agrees with the canonical reason
 * (stop_sequence, pause_turn, model_context_window_exceeded say more than the
 * canonical value does).
 */
export function mapToAnthropicStopReason(reason: FinishReason, raw?: string): string {
  if (raw !== undefined && ANTHROPIC_STOP_REASONS.has(raw) && mapAnthropicStopReason(raw) === reason) return raw;
  switch (reason) {
    case 'stop':
      return 'end_turn';
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    case 'error':
    case 'other':
      return 'end_turn';
  }
}
