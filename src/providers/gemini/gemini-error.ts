import { geminiErrorBodySchema } from '../../wire/gemini.ts';

export interface GeminiErrorInfo {
  message: string;
  type?: string;
  code?: string | null;
  param?: string | null;
  /** The HTTP status Google put in `error.code`. */
  status?: number;
}

/** google.rpc status -> the OpenAI-style error type other clients see. */
const TYPE_BY_STATUS: Record<string, string> = {
  INVALID_ARGUMENT: 'invalid_request_error',
  FAILED_PRECONDITION: 'invalid_request_error',
  OUT_OF_RANGE: 'invalid_request_error',
  UNAUTHENTICATED: 'authentication_error',
  PERMISSION_DENIED: 'permission_error',
  NOT_FOUND: 'not_found_error',
  RESOURCE_EXHAUSTED: 'rate_limit_error',
  CANCELLED: 'server_error',
  INTERNAL: 'server_error',
  UNKNOWN: 'server_error',
  UNAVAILABLE: 'server_error',
  DEADLINE_EXCEEDED: 'timeout_error',
};

/**
 * `{"error":{"code":400,"message":"...","status":"INVALID_ARGUMENT"}}` -> message,
 * type and code (the google.rpc status, e.g. RESOURCE_EXHAUSTED). The JSON-array
 * streaming mode wraps the same object in `[...]`. Anything else: the text itself.
 */
export function parseGeminiError(text: string): GeminiErrorInfo {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { message: text.trim().slice(0, 2000) || 'upstream error' };
  }
  if (Array.isArray(json) && json.length > 0) json = json[0];
  const parsed = geminiErrorBodySchema.safeParse(json);
  if (!parsed.success) return { message: text.trim().slice(0, 2000) || 'upstream error' };
  const e = parsed.data.error;
  const info: GeminiErrorInfo = { message: e.message || e.status || 'upstream error', code: e.status ?? null };
  const type = e.status ? TYPE_BY_STATUS[e.status] : undefined;
  if (type) info.type = type;
  if (typeof e.code === 'number' && e.code >= 400 && e.code < 600) info.status = e.code;
  return info;
}
