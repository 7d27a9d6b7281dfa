import type { FastifyReply, FastifyRequest } from 'fastify';
import { countableOrRaw } from '../../core/count-canonical.ts';
import { GatewayError } from '../../core/errors.ts';
import { countPromptTokens, countTextTokens } from '../../core/tokens.ts';
import { createGeminiStreamEncoder, geminiCodec } from '../../protocols/gemini/gemini-codec.ts';
import { geminiEndpoint } from '../../providers/gemini/gemini-endpoint.ts';
import { parseGeminiError } from '../../providers/gemini/gemini-error.ts';
import {
  collectGeminiText,
  extractGeminiUsage,
  GeminiStreamTap,
  geminiCountTokensUrl,
  isGeminiStreamError,
} from '../../providers/gemini/gemini-passthrough.ts';
import { chatAttempt, dispatchCall } from '../../routing/dispatch.ts';
import { AttemptSignal, callUpstream, upstreamFailure, upstreamHttpError } from '../../routing/upstream-call.ts';
import { planRoute } from '../../routing/route-plan.ts';
import { adapterTarget, credentialOrder, upstreamAvailable } from '../../routing/upstreams.ts';
import type { Services } from '../../services.ts';

const METHODS = new Set(['generateContent', 'streamGenerateContent', 'countTokens']);

/** `gemini-2.0-flash:generateContent` (the `models/` prefix already consumed by the route). */
export function parseModelAction(path: string): { model: string; method: string } {
  const at = path.lastIndexOf(':');
  const model = at > 0 ? path.slice(0, at) : path;
  const method = at > 0 ? path.slice(at + 1) : '';
  if (!METHODS.has(method)) {
    throw new GatewayError('unknown_url', `Method "${method || '(none)'}" is not supported on models/${model}: use generateContent, streamGenerateContent or countTokens.`, { publicCode: null });
  }
  return { model, method };
}

function requireObject(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new GatewayError('invalid_request_error', 'Invalid JSON payload received. The request body must be a JSON object.', { publicCode: null });
  }
  return body as Record<string, unknown>;
}

/** POST /v1beta/models/{model}:{generateContent|streamGenerateContent|countTokens} from a Gemini client, to any upstream. */
export function generateContentHandler(services: Services) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const { model, method } = parseModelAction((request.params as { '*': string })['*']);
    const body = requireObject(request.body);
    if (method === 'countTokens') return countTokens(services, request, model, body);
    const stream = method === 'streamGenerateContent';
    const query = request.query as Record<string, unknown>;
    // Without alt=sse, Gemini streams one JSON array whose elements arrive as they are generated.
    const jsonArray = stream && query.alt !== 'sse';
    const raw = request.rawBody ?? Buffer.from(JSON.stringify(body));
    const ctx = { model, requestId: request.id };
    const countPrompt = (): Promise<number> => countPromptTokens(countableOrRaw(() => geminiCodec.decodeRequest(body, { model, stream }), body));
    const generation = body.generationConfig as { maxOutputTokens?: unknown } | undefined;
    await dispatchCall(services, request, reply, {
      endpoint: stream ? 'gemini.streamGenerateContent' : 'gemini.generateContent',
      model,
      stream,
      maxTokens: typeof generation?.maxOutputTokens === 'number' ? generation.maxOutputTokens : undefined,
      countPrompt,
      attempt: chatAttempt({
        protocol: 'gemini',
        codec: geminiCodec,
        decode: () => geminiCodec.decodeRequest(body, { model, stream }),
        streamEncoder: jsonArray ? () => createGeminiStreamEncoder({ ...ctx, streamUsage: true }, { jsonArray: true }) : undefined,
        streamContentType: jsonArray ? 'application/json; charset=utf-8' : undefined,
        passthrough: (target) => {
          const tap = new GeminiStreamTap(jsonArray);
          return {
            ...geminiEndpoint(adapterTarget(target.upstream, target.upstreamModel, target.credential), stream),
            body: raw,
            stream,
            parseError: parseGeminiError,
            isStreamError: isGeminiStreamError,
            createTap: () => tap,
            extractUsage: extractGeminiUsage,
            resultText: collectGeminiText,
            countPromptTokens: countPrompt,
            countTextTokens,
            encodeStreamError: (err) => tap.frameError(geminiCodec.encodeError(err).body),
            streamContentType: jsonArray ? 'application/json; charset=utf-8' : undefined,
          };
        },
      }),
    });
    return reply;
  };
}

/** countTokens: exact from a Gemini upstream; otherwise counted by the gateway. */
async function countTokens(services: Services, request: FastifyRequest, model: string, body: Record<string, unknown>): Promise<unknown> {
  const key = request.apiKey;
  if (!key) throw new GatewayError('invalid_api_key', 'Missing API key.');
  const targets = planRoute(services.registry, {}, key, model)[0].targets;
  const gemini = targets.find((t) => t.upstream.type === 'gemini' && upstreamAvailable(t.upstream, services.now()));
  if (gemini) {
    const u = gemini.upstream;
    const attempt = new AttemptSignal(u.firstByteTimeoutMs);
    try {
      const target = adapterTarget(u, gemini.upstreamModel, credentialOrder(u, services.now())[0]);
      const { headers } = geminiEndpoint(target, false);
      const res = await callUpstream(u, { url: geminiCountTokensUrl(target), headers, body: JSON.stringify(body) }, attempt);
      if (res.statusCode >= 400) throw await upstreamHttpError(u, res.statusCode, res.body, parseGeminiError, res.headers);
      return (await res.body.json()) as unknown;
    } catch (err) {
      throw upstreamFailure(u, err, attempt);
    } finally {
      attempt.clear();
    }
  }
  const inner = (body.generateContentRequest as Record<string, unknown> | undefined) ?? body;
  const countable = countableOrRaw(() => geminiCodec.decodeRequest({ contents: [], ...inner }, { model, stream: false }), inner);
  return { totalTokens: await countPromptTokens(countable) };
}

/** GET /v1beta/models in Gemini's shape: only what the calling key may use. */
export function geminiModelObject(id: string, contextWindow: number | undefined): Record<string, unknown> {
  return {
    name: `models/${id}`,
    version: '001',
    displayName: id,
    description: `${id} served by Switchyard`,
    inputTokenLimit: contextWindow ?? 1_048_576,
    outputTokenLimit: 65_536,
    supportedGenerationMethods: ['generateContent', 'streamGenerateContent', 'countTokens'],
  };
}
