/**
 * One table of error codes: each with its HTTP status, the OpenAI-style `type`
 * and whether a retry on another upstream can help. Modelled on Fastify's
 * lib/errors.js. Ingress codecs render a GatewayError in their own wire shape.
 */
export interface ErrorSpec {
  status: number;
  type: string;
  retryable: boolean;
}

export const ERROR_CODES = {
  invalid_request_error: { status: 400, type: 'invalid_request_error', retryable: false },
  invalid_json: { status: 400, type: 'invalid_request_error', retryable: false },
  missing_field: { status: 400, type: 'invalid_request_error', retryable: false },
  invalid_api_key: { status: 401, type: 'invalid_request_error', retryable: false },
  key_expired: { status: 401, type: 'invalid_request_error', retryable: false },
  key_revoked: { status: 401, type: 'invalid_request_error', retryable: false },
  invalid_admin_key: { status: 401, type: 'invalid_request_error', retryable: false },
  user_disabled: { status: 401, type: 'invalid_request_error', retryable: false },
  invalid_credentials: { status: 401, type: 'invalid_request_error', retryable: false },
  not_signed_in: { status: 401, type: 'invalid_request_error', retryable: false },
  signup_closed: { status: 403, type: 'invalid_request_error', retryable: false },
  conflict: { status: 409, type: 'invalid_request_error', retryable: false },
  too_many_attempts: { status: 429, type: 'requests', retryable: false },
  model_not_allowed: { status: 403, type: 'invalid_request_error', retryable: false },
  ip_not_allowed: { status: 403, type: 'invalid_request_error', retryable: false },
  model_not_found: { status: 404, type: 'invalid_request_error', retryable: false },
  not_found: { status: 404, type: 'invalid_request_error', retryable: false },
  unknown_url: { status: 404, type: 'invalid_request_error', retryable: false },
  method_not_allowed: { status: 405, type: 'invalid_request_error', retryable: false },
  body_too_large: { status: 413, type: 'invalid_request_error', retryable: false },
  unsupported_media_type: { status: 415, type: 'invalid_request_error', retryable: false },
  insufficient_quota: { status: 429, type: 'insufficient_quota', retryable: false },
  rate_limit_exceeded: { status: 429, type: 'requests', retryable: false },
  upstream_error: { status: 502, type: 'upstream_error', retryable: true },
  upstream_unreachable: { status: 502, type: 'upstream_error', retryable: true },
  upstream_timeout: { status: 504, type: 'timeout_error', retryable: true },
  server_shutting_down: { status: 503, type: 'server_error', retryable: true },
  store_unavailable: { status: 503, type: 'server_error', retryable: true },
  internal_error: { status: 500, type: 'server_error', retryable: false },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface GatewayErrorOptions {
  param?: string | null;
  /** Override the table's status (upstream errors keep the upstream's status). */
  status?: number;
  /** Override the table's type (upstream errors keep the upstream's type). */
  type?: string;
  retryable?: boolean;
  upstreamStatus?: number;
  /** Upstream body with credentials already removed. */
  upstreamBody?: string;
  /** Code shown to the client when it differs from the internal code (upstream's own code). */
  publicCode?: string | null;
  /** For 429s: seconds until a retry can succeed (sent as Retry-After). */
  retryAfterSeconds?: number;
  cause?: unknown;
}

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly retryable: boolean;
  readonly upstreamStatus?: number;
  readonly upstreamBody?: string;
  readonly publicCode: string | null;
  readonly retryAfterSeconds?: number;

  constructor(code: ErrorCode, message: string, opts: GatewayErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    const spec: ErrorSpec = ERROR_CODES[code];
    this.name = 'GatewayError';
    this.code = code;
    this.status = opts.status ?? spec.status;
    this.type = opts.type ?? spec.type;
    this.param = opts.param ?? null;
    this.retryable = opts.retryable ?? spec.retryable;
    this.upstreamStatus = opts.upstreamStatus;
    this.upstreamBody = opts.upstreamBody;
    this.publicCode = opts.publicCode === undefined ? code : opts.publicCode;
    this.retryAfterSeconds = opts.retryAfterSeconds;
  }
}

export function isGatewayError(err: unknown): err is GatewayError {
  return err instanceof GatewayError;
}

/** Whether an upstream HTTP status is worth trying on another upstream. */
export function isRetryableUpstreamStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/**
 * Remove every known secret from a text that may be shown to a client or a log.
 * Upstreams sometimes quote the key they were given ("Incorrect API key provided: sk-...").
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    if (out.includes(secret)) out = out.split(secret).join('[redacted]');
    // OpenAI masks the middle of the key in its message ("sk-abc*****wxyz"); catch the visible ends too.
    const head = secret.slice(0, Math.min(8, Math.floor(secret.length / 3)));
    const tail = secret.slice(-4);
    if (head.length >= 4) {
      const masked = new RegExp(`${escapeRegExp(head)}[A-Za-z0-9_-]{0,6}[*\\u2026]{3,}${escapeRegExp(tail)}`, 'g');
      out = out.replace(masked, '[redacted]');
    }
  }
  return out;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
