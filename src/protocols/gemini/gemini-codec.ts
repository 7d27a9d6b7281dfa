import type { IngressCodec } from '../../core/codec.ts';
import { decodeGeminiRequest } from './decode-gemini-request.ts';
import { encodeGeminiResponse } from './encode-gemini-response.ts';
import { encodeGeminiError } from './gemini-error.ts';
import { createGeminiStreamEncoder } from './gemini-stream-encoder.ts';

export { createGeminiStreamEncoder, encodeGeminiJsonArrayStream, GeminiStreamEncoder, type GeminiStreamEncoderOptions } from './gemini-stream-encoder.ts';

/**
 * The Gemini API wire format (generateContent / streamGenerateContent), for routes whose
 * upstream speaks another protocol. createStreamEncoder is the alt=sse framing; the route
 * uses createGeminiStreamEncoder(ctx, { jsonArray: true }) when the client left alt=sse out.
 */
export const geminiCodec: IngressCodec = {
  protocol: 'gemini',
  decodeRequest: decodeGeminiRequest,
  encodeResult: encodeGeminiResponse,
  createStreamEncoder: (ctx) => createGeminiStreamEncoder(ctx),
  encodeError: encodeGeminiError,
};
