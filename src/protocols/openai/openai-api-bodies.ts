import { GatewayError } from '../../core/errors.ts';
import { jsonType } from '../../core/json-type.ts';
import type { StreamableBody } from './openai-chat-request.ts';

/**
 * Checks of the JSON bodies of the OpenAI endpoints besides chat, limited to what
 * the gateway itself reads (model, the metered input); the upstream validates the
 * rest. Wording and `param` follow OpenAI's own errors.
 */
export type JsonBody = Record<string, unknown>;

export function requireJsonObject(body: unknown): JsonBody {
  if (body === undefined || body === null) {
    throw new GatewayError('missing_field', 'We could not parse the JSON body of your request. The request body is empty.', { publicCode: null });
  }
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw new GatewayError('invalid_request_error', 'The request body must be a JSON object.', { publicCode: null });
  }
  return body as JsonBody;
}

/** The `model` field; `fallback` for endpoints where OpenAI has a default model (images, moderations). */
export function requireModel(body: JsonBody, fallback?: string): string {
  const m = body.model;
  if ((m === undefined || m === null || m === '') && fallback !== undefined) return fallback;
  if (m === undefined || m === null || m === '') throw new GatewayError('missing_field', 'you must provide a model parameter', { param: 'model', publicCode: null });
  if (typeof m !== 'string') {
    throw new GatewayError('invalid_request_error', `Invalid type for 'model': expected a string, but got ${jsonType(m)} instead.`, { param: 'model', publicCode: 'invalid_type' });
  }
  return m;
}

export function requireField(body: JsonBody, name: string): unknown {
  const v = body[name];
  if (v === undefined || v === null) {
    throw new GatewayError('missing_field', `Missing required parameter: '${name}'.`, { param: name, publicCode: 'missing_required_parameter' });
  }
  return v;
}

function requireString(body: JsonBody, name: string): string {
  const v = requireField(body, name);
  if (typeof v !== 'string') {
    throw new GatewayError('invalid_request_error', `Invalid type for '${name}': expected a string, but got ${jsonType(v)} instead.`, { param: name, publicCode: 'invalid_type' });
  }
  return v;
}

/** POST /v1/completions: `prompt` is a string, strings, tokens or token arrays. */
export function validateCompletionsBody(raw: unknown): StreamableBody {
  const body = requireJsonObject(raw);
  const model = requireModel(body);
  const prompt = requireField(body, 'prompt');
  if (!isTextOrTokens(prompt)) {
    throw new GatewayError('invalid_request_error', "Invalid type for 'prompt': expected a string, an array of strings, an array of integers or an array of integer arrays.", {
      param: 'prompt',
      publicCode: 'invalid_type',
    });
  }
  return { ...body, model };
}

/** POST /v1/embeddings: `input` as for completions, never empty. */
export function validateEmbeddingsBody(raw: unknown): JsonBody & { model: string; input: EmbeddingInput } {
  const body = requireJsonObject(raw);
  const model = requireModel(body);
  const input = requireField(body, 'input');
  if (!isTextOrTokens(input)) {
    throw new GatewayError('invalid_request_error', "Invalid type for 'input': expected a string, an array of strings, an array of integers or an array of integer arrays.", {
      param: 'input',
      publicCode: 'invalid_type',
    });
  }
  if (input === '' || (Array.isArray(input) && input.length === 0)) {
    throw new GatewayError('invalid_request_error', "'input' cannot be an empty string or array.", { param: 'input', publicCode: 'invalid_value' });
  }
  const format = body.encoding_format;
  if (format !== undefined && format !== null && format !== 'float' && format !== 'base64') {
    throw new GatewayError('invalid_request_error', `Invalid value for 'encoding_format': expected 'float' or 'base64', got ${JSON.stringify(format)}.`, {
      param: 'encoding_format',
      publicCode: 'invalid_value',
    });
  }
  return { ...body, model, input };
}

export type EmbeddingInput = string | string[] | number[] | number[][];

function isTextOrTokens(v: unknown): v is EmbeddingInput {
  if (typeof v === 'string') return true;
  if (!Array.isArray(v)) return false;
  return v.every((x) => typeof x === 'string') || v.every((x) => Number.isInteger(x)) || v.every((x) => Array.isArray(x) && x.every((t) => Number.isInteger(t)));
}

/** The texts of a string or string-array input (token arrays have none). */
export function inputTexts(input: unknown): string[] {
  if (typeof input === 'string') return [input];
  if (Array.isArray(input)) return input.filter((x): x is string => typeof x === 'string');
  return [];
}

/** Token count of token-array input, which needs no tokenizer. */
export function inputTokenCount(input: unknown): number {
  if (!Array.isArray(input)) return 0;
  let n = 0;
  for (const x of input) {
    if (typeof x === 'number') n++;
    else if (Array.isArray(x)) n += x.length;
  }
  return n;
}

/** POST /v1/images/generations. OpenAI's default model is dall-e-2. */
export function validateImageGenerationBody(raw: unknown): JsonBody & { model: string; prompt: string } {
  const body = requireJsonObject(raw);
  const model = requireModel(body, 'dall-e-2');
  return { ...body, model, prompt: requireString(body, 'prompt') };
}

/** POST /v1/audio/speech. */
export function validateSpeechBody(raw: unknown): JsonBody & { model: string; input: string } {
  const body = requireJsonObject(raw);
  const model = requireModel(body);
  const input = requireString(body, 'input');
  requireField(body, 'voice');
  return { ...body, model, input };
}

/** POST /v1/moderations. OpenAI's default model is omni-moderation-latest. */
export function validateModerationsBody(raw: unknown): JsonBody & { model: string } {
  const body = requireJsonObject(raw);
  const model = requireModel(body, 'omni-moderation-latest');
  requireField(body, 'input');
  return { ...body, model };
}

/** Texts of a moderation input: a string, strings, or multimodal parts ({type:'text', text}). */
export function moderationTexts(input: unknown): string[] {
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input)) return [];
  const out: string[] = [];
  for (const x of input) {
    if (typeof x === 'string') out.push(x);
    else if (x && typeof x === 'object' && typeof (x as { text?: unknown }).text === 'string') out.push((x as { text: string }).text);
  }
  return out;
}
