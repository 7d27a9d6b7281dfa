import type { GatewayError } from '../../core/errors.ts';
import { encodeSse } from '../../core/sse.ts';

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** `{"error":{"message","type","param","code"}}`, as OpenAI's API and clients expect. */
export function encodeOpenAIError(err: GatewayError): OpenAIErrorBody {
  return { error: { message: err.message, type: err.type, param: err.param, code: err.publicCode } };
}

/** The error event that ends an OpenAI stream that already started (the openai SDK throws on it). */
export function encodeOpenAIStreamError(err: GatewayError): string {
  return encodeSse(JSON.stringify(encodeOpenAIError(err)));
}
