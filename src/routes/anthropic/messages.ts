import type { FastifyReply, FastifyRequest } from 'fastify';
import { countableOrRaw } from '../../core/count-canonical.ts';
import { GatewayError } from '../../core/errors.ts';
import { encodeSse } from '../../core/sse.ts';
import { countPromptTokens, countTextTokens } from '../../core/tokens.ts';
import { anthropicCodec } from '../../protocols/anthropic/anthropic-codec.ts';
import { parseAnthropicError } from '../../providers/anthropic/anthropic-error.ts';
import { anthropicEndpoint } from '../../providers/anthropic/anthropic-endpoint.ts';
import {
  AnthropicStreamTap,
  collectAnthropicResultText,
  extractAnthropicUsage,
  isAnthropicStreamError,
} from '../../providers/anthropic/anthropic-passthrough.ts';
import { chatAttempt, dispatchCall } from '../../routing/dispatch.ts';
import { callUpstream, AttemptSignal, upstreamFailure, upstreamHttpError } from '../../routing/upstream-call.ts';
import { planRoute } from '../../routing/route-plan.ts';
import { adapterTarget, credentialOrder, upstreamAvailable } from '../../routing/upstreams.ts';
import type { Services } from '../../services.ts';

interface AnthropicBody {
  model: string;
  stream?: boolean;
  [field: string]: unknown;
}

/** The fields the gateway itself needs before routing; the codec validates the rest when it converts. */
function readBody(body: unknown): AnthropicBody {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new GatewayError('invalid_request_error', 'The request body must be a JSON object.', { publicCode: null });
  }
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string' || !b.model) throw new GatewayError('missing_field', 'model: Field required', { param: 'model', publicCode: null });
  if (!Array.isArray(b.messages)) throw new GatewayError('missing_field', 'messages: Field required', { param: 'messages', publicCode: null });
  if (b.stream !== undefined && typeof b.stream !== 'boolean') {
    throw new GatewayError('invalid_request_error', 'stream: Input should be a valid boolean', { param: 'stream', publicCode: null });
  }
  return b as AnthropicBody;
}

function clientHeaders(request: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['anthropic-version', 'anthropic-beta'] as const) {
    const v = request.headers[name];
    if (typeof v === 'string' && v) out[name] = v;
  }
  return out;
}

/** POST /v1/messages from an Anthropic client, to any upstream. */
export function messagesHandler(services: Services) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const body = readBody(request.body);
    const raw = request.rawBody ?? Buffer.from(JSON.stringify(body));
    const stream = body.stream === true;
    const passHeaders = clientHeaders(request);
    const decode = () => {
      const req = anthropicCodec.decodeRequest(body);
      // anthropic-beta only means something to Anthropic upstreams; adapters of other types ignore it.
      return { ...req, passHeaders: { ...(req.passHeaders ?? {}), ...passHeaders } };
    };
    const countPrompt = (): Promise<number> => countPromptTokens(countableOrRaw(() => anthropicCodec.decodeRequest(body), body));
    await dispatchCall(services, request, reply, {
      endpoint: 'messages',
      model: body.model,
      stream,
      maxTokens: typeof body.max_tokens === 'number' ? body.max_tokens : undefined,
      countPrompt,
      attempt: chatAttempt({
        protocol: 'anthropic',
        codec: anthropicCodec,
        decode,
        passthrough: (target) => ({
          ...anthropicEndpoint(adapterTarget(target.upstream, target.upstreamModel, target.credential), '/v1/messages', passHeaders),
          body: body.model === target.upstreamModel ? raw : JSON.stringify({ ...body, model: target.upstreamModel }),
          stream,
          parseError: parseAnthropicError,
          isStreamError: isAnthropicStreamError,
          createTap: () => new AnthropicStreamTap(),
          extractUsage: extractAnthropicUsage,
          resultText: collectAnthropicResultText,
          countPromptTokens: countPrompt,
          countTextTokens,
          encodeStreamError: (err) => encodeSse(JSON.stringify(anthropicCodec.encodeError(err).body), 'error'),
        }),
      }),
    });
  };
}

/**
 * POST /v1/messages/count_tokens: an Anthropic upstream counts exactly; for other
 * upstreams the gateway counts with its own tokenizer.
 */
export function countTokensHandler(services: Services) {
  return async (request: FastifyRequest) => {
    const body = readBody({ messages: [], ...(request.body as object) });
    const key = request.apiKey;
    if (!key) throw new GatewayError('invalid_api_key', 'Missing API key.');
    const targets = planRoute(services.registry, {}, key, body.model)[0].targets;
    const anthropicTarget = targets.find((t) => t.upstream.type === 'anthropic' && upstreamAvailable(t.upstream, services.now()));
    if (anthropicTarget) {
      const u = anthropicTarget.upstream;
      const attempt = new AttemptSignal(u.firstByteTimeoutMs);
      try {
        const credential = credentialOrder(u, services.now())[0];
        const endpoint = anthropicEndpoint(adapterTarget(u, anthropicTarget.upstreamModel, credential), '/v1/messages/count_tokens', clientHeaders(request));
        const res = await callUpstream(u, { ...endpoint, body: JSON.stringify({ ...body, model: anthropicTarget.upstreamModel }) }, attempt);
        if (res.statusCode >= 400) throw await upstreamHttpError(u, res.statusCode, res.body, parseAnthropicError, res.headers);
        return (await res.body.json()) as unknown;
      } catch (err) {
        throw upstreamFailure(u, err, attempt);
      } finally {
        attempt.clear();
      }
    }
    const countable = countableOrRaw(() => anthropicCodec.decodeRequest({ max_tokens: 1, ...body }), body);
    return { input_tokens: await countPromptTokens(countable) };
  };
}
