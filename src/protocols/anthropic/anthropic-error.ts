import type { GatewayError } from '../../core/errors.ts';
import { encodeSse } from '../../core/sse.ts';
import { isAnthropicErrorType, type AnthropicErrorBody } from '../../wire/anthropic.ts';

/** The error type Anthropic uses for an HTTP status (https://docs.claude.com/en/api/errors). */
export function anthropicErrorTypeForStatus(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 409:
      return 'conflict_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 503:
    case 529:
      // "temporarily unavailable": Anthropic's SDKs retry overloaded_error.
      return 'overloaded_error';
    case 504:
      return 'timeout_error';
    default:
      // "We may also use this error type for other 4XX status codes."
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

/**
 * `{"type":"error","error":{"type","message"}}`. An error that already carries a
 * specific Anthropic type (relayed from an Anthropic upstream: overloaded_error,
 * rate_limit_error, ...) keeps it; the generic invalid_request_error and the
 * gateway's OpenAI-style types are derived from the status instead, so a 401 reads
 * authentication_error as Anthropic clients expect.
 */
export function encodeAnthropicError(err: GatewayError): AnthropicErrorBody {
  const type = isAnthropicErrorType(err.type) && err.type !== 'invalid_request_error' ? err.type : anthropicErrorTypeForStatus(err.status);
  return { type: 'error', error: { type, message: err.message } };
}

/** The `event: error` that ends an Anthropic stream which already started (the SDK throws on it). */
export function encodeAnthropicStreamError(err: GatewayError): string {
  return encodeSse(JSON.stringify(encodeAnthropicError(err)), 'error');
}
