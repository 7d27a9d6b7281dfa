import type { GatewayError } from '../../core/errors.ts';
import type { GeminiErrorBody } from '../../wire/gemini.ts';

/** google.rpc.Code names, as Google puts them in `error.status`. */
const RPC_STATUSES = new Set([
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
]);

/** HTTP status -> google.rpc status, per google.rpc.Code's documented HTTP mapping. */
const RPC_BY_HTTP: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  405: 'UNIMPLEMENTED',
  408: 'DEADLINE_EXCEEDED',
  409: 'ABORTED',
  413: 'INVALID_ARGUMENT',
  415: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

function rpcStatus(err: GatewayError): string {
  if (err.publicCode && RPC_STATUSES.has(err.publicCode)) return err.publicCode;
  return RPC_BY_HTTP[err.status] ?? (err.status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION');
}

/**
 * The body Google sends for a bad key (HTTP 400, not 401), with the ErrorInfo detail
 * clients look for (reason API_KEY_INVALID, also for expired keys).
 */
function apiKeyError(message: string): GeminiErrorBody {
  return {
    error: {
      code: 400,
      message,
      status: 'INVALID_ARGUMENT',
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'API_KEY_INVALID',
          domain: 'googleapis.com',
          metadata: { service: 'generativelanguage.googleapis.com' },
        },
        { '@type': 'type.googleapis.com/google.rpc.LocalizedMessage', locale: 'en-US', message },
      ],
    },
  };
}

/** GatewayError -> Gemini's `{"error":{"code","message","status"}}` and HTTP status. */
export function encodeGeminiError(err: GatewayError): { status: number; body: GeminiErrorBody } {
  switch (err.code) {
    case 'invalid_api_key':
    case 'key_revoked':
    case 'user_disabled':
      return { status: 400, body: apiKeyError('API key not valid. Please pass a valid API key.') };
    case 'key_expired':
      return { status: 400, body: apiKeyError('API key expired. Please renew the API key.') };
    default:
      return { status: err.status, body: { error: { code: err.status, message: err.message, status: rpcStatus(err) } } };
  }
}
