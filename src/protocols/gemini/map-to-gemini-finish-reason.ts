import type { FinishReason } from '../../core/canonical.ts';
import { GEMINI_FINISH_REASONS } from '../../wire/gemini.ts';

/**
 * Canonical finish reason -> Gemini FinishReason. Gemini says STOP for function calls.
 * A raw reason that is already one of Gemini's values (a Gemini upstream) is kept when
 * it agrees with the canonical one.
 */
export function mapToGeminiFinishReason(reason: FinishReason, raw?: string): string {
  switch (reason) {
    case 'stop':
    case 'tool_calls':
      return 'STOP';
    case 'length':
      return 'MAX_TOKENS';
    case 'content_filter':
      return raw !== undefined && GEMINI_FINISH_REASONS.has(raw) && raw !== 'STOP' && raw !== 'MAX_TOKENS' ? raw : 'SAFETY';
    case 'error':
    case 'other':
      return raw !== undefined && GEMINI_FINISH_REASONS.has(raw) && raw !== 'STOP' && raw !== 'MAX_TOKENS' ? raw : 'OTHER';
  }
}
