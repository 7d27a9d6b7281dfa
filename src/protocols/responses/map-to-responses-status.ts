import type { FinishReason } from '../../core/canonical.ts';
import type { ResponsesObjectOut } from '../../wire/openai-responses.ts';

/**
 * Canonical finish -> a finished response's status. A cut-off answer is
 * `incomplete` with the reason, as OpenAI reports it; every other end (including
 * tool calls, which Responses does not single out) is `completed`.
 */
export function mapToResponsesStatus(reason: FinishReason): Pick<ResponsesObjectOut, 'status' | 'incomplete_details'> {
  switch (reason) {
    case 'length':
      return { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } };
    case 'content_filter':
      return { status: 'incomplete', incomplete_details: { reason: 'content_filter' } };
    default:
      return { status: 'completed', incomplete_details: null };
  }
}
