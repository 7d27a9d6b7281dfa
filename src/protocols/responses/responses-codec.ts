import type { IngressCodec } from '../../core/codec.ts';
import type { ResponsesObjectOut } from '../../wire/openai-responses.ts';
import { encodeOpenAIError } from '../openai/openai-error.ts';
import { decodeResponsesRequest } from './decode-responses-request.ts';
import type { ResponsesEncodeContext } from './encode-responses-object.ts';
import { encodeResponsesResult } from './encode-responses-result.ts';
import type { ResponsesEcho } from './responses-echo.ts';
import type { ResponsesIdGenerator } from './responses-ids.ts';
import { ResponsesStreamEncoder } from './responses-stream-encoder.ts';

/** What one request's codec knows beyond the generic codec context. */
export interface ResponsesCodecOptions {
  /** For previous_response_id: the earlier turn's input items, then its output items. */
  priorItems?: readonly unknown[];
  responseId?: string;
  echo?: ResponsesEcho;
  ids?: ResponsesIdGenerator;
  createdAt?: number;
  now?: () => number;
  /** Called with each Response the codec writes (the JSON answer, or a stream's final response), for the route to store. */
  onResponse?: (response: ResponsesObjectOut) => void;
}

/**
 * The OpenAI Responses wire format (`POST /v1/responses`), for routes whose
 * upstream speaks another protocol. A Response repeats its request's settings and
 * carries ids the route stores, so a route builds one codec per request with
 * those; `responsesCodec` is the same with OpenAI's defaults.
 */
export function createResponsesCodec(options: ResponsesCodecOptions = {}): IngressCodec {
  const { priorItems, onResponse, ...encodeOptions } = options;
  const encodeCtx = (ctx: { model: string; requestId: string }): ResponsesEncodeContext => ({ ...encodeOptions, ...ctx });
  return {
    protocol: 'responses',
    decodeRequest: (body, ctx) => decodeResponsesRequest(body, { ...ctx, ...(priorItems ? { priorItems } : {}) }),
    encodeResult: (result, ctx) => {
      const response = encodeResponsesResult(result, encodeCtx(ctx));
      onResponse?.(response);
      return response;
    },
    createStreamEncoder: (ctx) => new ResponsesStreamEncoder({ ...encodeCtx(ctx), ...(onResponse ? { onResponse } : {}) }),
    // Errors before a response exists are OpenAI's usual error body.
    encodeError: (err) => ({ status: err.status, body: encodeOpenAIError(err) }),
  };
}

export const responsesCodec: IngressCodec = createResponsesCodec();
