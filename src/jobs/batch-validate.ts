import type { Readable } from 'node:stream';

/** The endpoints a batch may target (OpenAI's list). */
export const BATCH_ENDPOINTS = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/responses', '/v1/moderations'] as const;

export interface BatchLineError {
  code: string;
  message: string;
  param: string | null;
  /** 1-based line number in the input file. */
  line: number | null;
}

export interface ParsedLine {
  lineNo: number;
  customId: string;
  offset: number;
  length: number;
}

/**
 * Reads a JSONL input file as a stream (memory stays flat whatever its size) and
 * yields each non-empty line with its byte offset and length.
 */
export async function* readJsonLines(stream: Readable): AsyncGenerator<{ text: string; offset: number; length: number; line: number }> {
  let carry: Buffer = Buffer.alloc(0);
  let carryOffset = 0;
  let line = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    let start = 0;
    for (let nl = buf.indexOf(0x0a, start); nl !== -1; nl = buf.indexOf(0x0a, start)) {
      line++;
      const end = nl > start && buf[nl - 1] === 0x0d ? nl - 1 : nl;
      if (end > start) yield { text: buf.toString('utf8', start, end), offset: carryOffset + start, length: end - start, line };
      start = nl + 1;
    }
    carryOffset += start;
    buf = buf.subarray(start);
    carry = Buffer.from(buf);
  }
  if (carry.length) {
    line++;
    const end = carry[carry.length - 1] === 0x0d ? carry.length - 1 : carry.length;
    if (end > 0) yield { text: carry.toString('utf8', 0, end), offset: carryOffset, length: end, line };
  }
}

/**
 * Checks one input line as OpenAI's batch validation does; returns its custom_id
 * and model, or the error with OpenAI's code.
 */
export function checkBatchLine(
  text: string,
  line: number,
  endpoint: string,
  seen: Set<string>,
  knowsModel: (model: string) => boolean,
): { customId: string } | { error: BatchLineError } {
  const err = (code: string, message: string, param: string | null = null): { error: BatchLineError } => ({ error: { code, message, param, line } });
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    return err('invalid_json_line', `This line is not parseable as valid JSON.`);
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return err('invalid_json_line', 'This line is not a JSON object.');
  const o = obj as Record<string, unknown>;
  for (const field of ['custom_id', 'method', 'url', 'body'] as const) {
    if (o[field] === undefined || o[field] === null) return err('missing_required_parameter', `Missing required parameter: '${field}'.`, field);
  }
  if (typeof o.custom_id !== 'string' || o.custom_id === '') return err('invalid_request', "'custom_id' must be a non-empty string.", 'custom_id');
  if (o.method !== 'POST') return err('invalid_method', `Invalid method ${JSON.stringify(o.method)}: batch requests use POST.`, 'method');
  if (typeof o.url !== 'string' || !(BATCH_ENDPOINTS as readonly string[]).includes(o.url)) {
    return err('invalid_url', `Invalid URL ${JSON.stringify(o.url)}: supported are ${BATCH_ENDPOINTS.join(', ')}.`, 'url');
  }
  if (o.url !== endpoint) return err('mismatched_url', `The URL ${o.url} does not match the batch's endpoint ${endpoint}.`, 'url');
  if (!o.body || typeof o.body !== 'object' || Array.isArray(o.body)) return err('invalid_request', "'body' must be a JSON object.", 'body');
  const body = o.body as Record<string, unknown>;
  if (body.stream === true) return err('streaming_unsupported', 'Streaming is not supported in batches.', 'body.stream');
  if (seen.has(o.custom_id)) return err('duplicate_custom_id', `The custom_id '${o.custom_id}' is used more than once in this file.`, 'custom_id');
  // Moderations have a default model; every other endpoint needs one it can route.
  const model = body.model ?? (endpoint === '/v1/moderations' ? 'omni-moderation-latest' : undefined);
  if (typeof model !== 'string' || model === '') return err('missing_required_parameter', "Missing required parameter: 'body.model'.", 'body.model');
  if (!knowsModel(model)) return err('model_not_found', `The model '${model}' does not exist or you do not have access to it.`, 'body.model');
  seen.add(o.custom_id);
  return { customId: o.custom_id };
}
