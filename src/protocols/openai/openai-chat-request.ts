import { jsonType } from '../../core/json-type.ts';
import { GatewayError } from '../../core/errors.ts';
import type { CountableMessage } from '../../core/tokens.ts';

/** The fields of an OpenAI chat request the gateway itself reads; everything else passes through untouched. */
export interface OpenAIChatBody {
  model: string;
  messages: unknown[];
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null } | null;
  [field: string]: unknown;
}

/** What the pass-through edits in any OpenAI body that may stream (chat and legacy completions). */
export interface StreamableBody {
  model: string;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null } | null;
  [field: string]: unknown;
}

/** Checks what the gateway relies on, with OpenAI's own wording and `param`; the upstream validates the rest. */
export function validateOpenAIChatBody(body: unknown): OpenAIChatBody {
  if (body === undefined || body === null) {
    throw new GatewayError('missing_field', 'We could not parse the JSON body of your request. The request body is empty.', { publicCode: null });
  }
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw new GatewayError('invalid_request_error', 'The request body must be a JSON object.', { publicCode: null });
  }
  const b = body as Record<string, unknown>;
  if (b.model === undefined || b.model === null || b.model === '') {
    throw new GatewayError('missing_field', "you must provide a model parameter", { param: 'model', publicCode: null });
  }
  if (typeof b.model !== 'string') {
    throw new GatewayError('invalid_request_error', `Invalid type for 'model': expected a string, but got ${jsonType(b.model)} instead.`, { param: 'model', publicCode: 'invalid_type' });
  }
  if (b.messages === undefined) {
    throw new GatewayError('missing_field', "Missing required parameter: 'messages'.", { param: 'messages', publicCode: 'missing_required_parameter' });
  }
  if (!Array.isArray(b.messages)) {
    throw new GatewayError('invalid_request_error', `Invalid type for 'messages': expected an array, but got ${jsonType(b.messages)} instead.`, { param: 'messages', publicCode: 'invalid_type' });
  }
  if (b.messages.length === 0) {
    throw new GatewayError('invalid_request_error', "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", { param: 'messages', publicCode: 'empty_array' });
  }
  b.messages.forEach((m, i) => {
    if (!m || typeof m !== 'object' || typeof (m as { role?: unknown }).role !== 'string') {
      throw new GatewayError('missing_field', `Missing required parameter: 'messages[${i}].role'.`, { param: `messages[${i}].role`, publicCode: 'missing_required_parameter' });
    }
  });
  if (b.stream !== undefined && b.stream !== null && typeof b.stream !== 'boolean') {
    throw new GatewayError('invalid_request_error', `Invalid type for 'stream': expected a boolean, but got ${jsonType(b.stream)} instead.`, { param: 'stream', publicCode: 'invalid_type' });
  }
  if (b.stream_options !== undefined && b.stream_options !== null && (typeof b.stream_options !== 'object' || Array.isArray(b.stream_options))) {
    throw new GatewayError('invalid_request_error', `Invalid type for 'stream_options': expected an object, but got ${jsonType(b.stream_options)} instead.`, { param: 'stream_options', publicCode: 'invalid_type' });
  }
  return b as OpenAIChatBody;
}

/** Texts and images of the prompt, for counting tokens when the upstream does not. */
export function countableOpenAIMessages(body: OpenAIChatBody): CountableMessage[] {
  const out: CountableMessage[] = body.messages.map((raw) => {
    const m = raw as { content?: unknown; name?: unknown; tool_calls?: unknown };
    const texts: string[] = [];
    let images = 0;
    if (typeof m.content === 'string') texts.push(m.content);
    else if (Array.isArray(m.content)) {
      for (const part of m.content as Array<{ type?: string; text?: string }>) {
        if (part.type === 'text' && typeof part.text === 'string') texts.push(part.text);
        else if (part.type === 'image_url' || part.type === 'input_image') images += 1;
      }
    }
    if (typeof m.name === 'string') texts.push(m.name);
    if (Array.isArray(m.tool_calls)) texts.push(JSON.stringify(m.tool_calls));
    return { texts, images };
  });
  if (Array.isArray(body.tools) && body.tools.length > 0) out.push({ texts: [JSON.stringify(body.tools)], images: 0 });
  return out;
}

/**
 * The body to send upstream. Same-protocol traffic is forwarded as the client's
 * own bytes; only the gateway's edits (model rename, asking for stream usage)
 * change it, and asking for usage alone is a splice, not a re-encode.
 */
export function prepareOpenAIChatBody(raw: Buffer, body: StreamableBody, upstreamModel: string): { payload: string | Buffer; clientWantsUsage: boolean } {
  const stream = body.stream === true;
  const clientWantsUsage = stream && body.stream_options?.include_usage === true;
  const rename = body.model !== upstreamModel;
  if (!stream || clientWantsUsage) {
    return { payload: rename ? JSON.stringify({ ...body, model: upstreamModel }) : raw, clientWantsUsage };
  }
  if (!rename && body.stream_options === undefined) {
    const open = raw.indexOf(0x7b); // the body's opening "{"
    return {
      payload: Buffer.concat([raw.subarray(0, open + 1), INCLUDE_USAGE, raw.subarray(open + 1)]),
      clientWantsUsage,
    };
  }
  return {
    payload: JSON.stringify({ ...body, model: upstreamModel, stream_options: { ...(body.stream_options ?? {}), include_usage: true } }),
    clientWantsUsage,
  };
}

const INCLUDE_USAGE = Buffer.from('"stream_options":{"include_usage":true},');
