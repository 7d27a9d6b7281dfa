import type { FinishReason } from '../../core/canonical.ts';

const CONTENT_FILTER = new Set([
  'SAFETY',
  'RECITATION',
  'BLOCKLIST',
  'PROHIBITED_CONTENT',
  'SPII',
  'IMAGE_SAFETY',
  'IMAGE_PROHIBITED_CONTENT',
  'IMAGE_RECITATION',
  // promptFeedback.blockReason values that can stand in for a finish reason
  'MODEL_ARMOR',
]);

/**
 * Gemini's FinishReason -> canonical. Gemini answers STOP for function calls too,
 * so the caller says whether the candidate carried any.
 */
export function mapGeminiFinishReason(reason: string | null | undefined, hasToolCalls: boolean): FinishReason {
  switch (reason) {
    case 'STOP':
      return hasToolCalls ? 'tool_calls' : 'stop';
    case 'MAX_TOKENS':
      return 'length';
    case null:
    case undefined:
      return hasToolCalls ? 'tool_calls' : 'other';
    default:
      return CONTENT_FILTER.has(reason) ? 'content_filter' : 'other';
  }
}
