import { GatewayError } from '../core/errors.ts';
import type { ClientProtocol } from '../http-types.ts';
import { anthropicCodec } from './anthropic/anthropic-codec.ts';
import { geminiCodec } from './gemini/gemini-codec.ts';
import { encodeOpenAIError } from './openai/openai-error.ts';

/** The protocol a URL speaks when no route matched (404s, body errors before routing). */
export function protocolForUrl(url: string): ClientProtocol {
  if (url.startsWith('/admin')) return 'admin';
  if (url.startsWith('/v1beta/') || /^\/v1(-openai)?\/models\/[^?]*:/.test(url)) return 'gemini';
  if (/^\/v1(-openai)?\/messages/.test(url)) return 'anthropic';
  return 'openai';
}

/** Renders an error in the caller's wire format. */
export function renderError(protocol: ClientProtocol, err: GatewayError): { status: number; body: unknown } {
  switch (protocol) {
    case 'anthropic':
      return anthropicCodec.encodeError(err);
    case 'gemini':
      return geminiCodec.encodeError(err);
    case 'openai':
    case 'admin':
    default:
      return { status: err.status, body: encodeOpenAIError(err) };
  }
}

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  message?: string;
  validation?: unknown;
}

/** Turns Fastify's own errors (body too large, bad content type, ...) into gateway errors. */
export function toGatewayError(err: unknown, maxBodyMb: number): GatewayError {
  if (err instanceof GatewayError) return err;
  const e = (err ?? {}) as FastifyLikeError;
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError('body_too_large', `Request body too large: the limit is ${maxBodyMb} MB.`, { publicCode: 'request_too_large' });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new GatewayError('invalid_json', 'We could not parse the JSON body of your request. The body is empty.', { publicCode: null });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GatewayError('unsupported_media_type', 'Unsupported Content-Type: send application/json.', { publicCode: null });
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new GatewayError('invalid_request_error', 'Request body size did not match Content-Length.', { publicCode: null });
    default:
      break;
  }
  if (e.statusCode === 503) {
    // Fastify answers requests that arrive while the server drains for shutdown.
    return new GatewayError('server_shutting_down', 'The server is shutting down; retry on another instance.', { publicCode: null });
  }
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
    return new GatewayError('invalid_request_error', e.message ?? 'Bad request.', { status: e.statusCode, publicCode: null });
  }
  return new GatewayError('internal_error', 'The server had an error while processing your request.', { cause: err, publicCode: null });
}
