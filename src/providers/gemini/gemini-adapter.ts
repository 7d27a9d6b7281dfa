import type { ChatRequest } from '../../core/canonical.ts';
import type { AdapterTarget, UpstreamAdapter, UpstreamHttpRequest } from '../../core/codec.ts';
import { convertToGeminiRequest } from './convert-to-gemini-request.ts';
import { geminiEndpoint } from './gemini-endpoint.ts';
import { parseGeminiError } from './gemini-error.ts';
import { GeminiStreamDecoder } from './gemini-stream-decoder.ts';
import { parseGeminiResponse, type GeminiParseOptions } from './parse-gemini-response.ts';

/** The Gemini adapter with an injectable clock (Gemini sends no creation time; tests pin it). */
export function createGeminiAdapter(opts: GeminiParseOptions = {}): UpstreamAdapter {
  return {
    type: 'gemini',
    buildRequest(req: ChatRequest, target: AdapterTarget): UpstreamHttpRequest {
      const { body, warnings } = convertToGeminiRequest(req, target.upstreamModel);
      const { url, headers } = geminiEndpoint(target, req.stream);
      return { url, headers, body: JSON.stringify(body), warnings };
    },
    parseResult: (body) => parseGeminiResponse(body, opts),
    createStreamDecoder: () => new GeminiStreamDecoder(opts),
    parseError: parseGeminiError,
  };
}

/** Gemini API upstreams (generateContent / streamGenerateContent?alt=sse, x-goog-api-key). */
export const geminiAdapter: UpstreamAdapter = createGeminiAdapter();
