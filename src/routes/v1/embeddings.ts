import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Usage } from '../../core/canonical.ts';
import { convertToGeminiEmbeddings, parseGeminiEmbeddings } from '../../providers/gemini/convert-to-gemini-embeddings.ts';
import { parseGeminiError } from '../../providers/gemini/gemini-error.ts';
import { extractOpenAIUsage } from '../../providers/openai/convert-openai-usage.ts';
import { validateEmbeddingsBody } from '../../protocols/openai/openai-api-bodies.ts';
import { encodeEmbeddingsResponse } from '../../protocols/openai/encode-embeddings.ts';
import { dispatchCall } from '../../routing/dispatch.ts';
import { bodyForModel, isOpenAIType, openAICall } from '../../routing/openai-api-call.ts';
import { apiAttempt, parseUpstreamJson } from '../../routing/relay-api-call.ts';
import { adapterTarget } from '../../routing/upstreams.ts';
import type { Services } from '../../services.ts';
import { countInputTokens } from './completions.ts';

/**
 * POST /v1/embeddings: passed through to OpenAI-compatible upstreams; converted to
 * batchEmbedContents for Gemini ones, the vectors returned in OpenAI's shape and
 * the encoding the client asked for. Metered by input tokens.
 */
export function embeddingsHandler(services: Services) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const body = validateEmbeddingsBody(request.body);
    const raw = request.rawBody ?? Buffer.from(JSON.stringify(body));
    const countPrompt = (): Promise<number> => countInputTokens(body.input);
    const estimate = async (): Promise<Usage> => ({ inputTokens: await countPrompt(), outputTokens: 0 });
    await dispatchCall(services, request, reply, {
      endpoint: 'embeddings',
      path: '/v1/embeddings',
      model: body.model,
      stream: false,
      maxTokens: 0,
      countPrompt,
      serves: (type) => isOpenAIType(type) || type === 'gemini',
      attempt: apiAttempt((target) => {
        if (target.upstream.type !== 'gemini') {
          return {
            ...openAICall(target, '/embeddings', bodyForModel(raw, body, target.upstreamModel)),
            settle: (text, contentType, meter) => {
              const usage = extractOpenAIUsage(parseUpstreamJson(text, target.upstream.name));
              if (usage) meter.usage = usage;
              else meter.estimate = estimate;
              return { body: text, contentType };
            },
          };
        }
        const call = convertToGeminiEmbeddings(adapterTarget(target.upstream, target.upstreamModel, target.credential), body.input, body.dimensions);
        return {
          url: call.url,
          headers: call.headers,
          body: call.body,
          parseError: parseGeminiError,
          settle: async (text, _contentType, meter) => {
            const vectors = parseGeminiEmbeddings(parseUpstreamJson(text, target.upstream.name), call.count);
            // Gemini reports no usage for embeddings: the gateway counts the input, and the answer and the record agree.
            meter.usage = { ...(await estimate()), estimated: true };
            return {
              body: JSON.stringify(encodeEmbeddingsResponse(vectors, body.model, body.encoding_format === 'base64' ? 'base64' : 'float', meter.usage.inputTokens)),
              contentType: 'application/json',
            };
          },
        };
      }),
    });
  };
}
