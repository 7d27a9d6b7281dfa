import type { FastifyReply, FastifyRequest } from 'fastify';
import { countableChatRequest } from '../../core/count-canonical.ts';
import { GatewayError } from '../../core/errors.ts';
import { encodeSse } from '../../core/sse.ts';
import { countPromptTokens, countTextTokens } from '../../core/tokens.ts';
import type { KeyState } from '../../metering/keys.ts';
import { adapterTarget } from '../../routing/upstreams.ts';
import { openAIEndpoint } from '../../providers/openai/openai-chat-endpoint.ts';
import {
  collectResponsesResultText,
  extractResponsesUsage,
  isResponsesStreamError,
  parseResponsesStreamError,
  ResponsesStreamTap,
} from '../../providers/openai/responses-stream-tap.ts';
import { encodeOpenAIError } from '../../protocols/openai/openai-error.ts';
import { requireJsonObject, requireModel } from '../../protocols/openai/openai-api-bodies.ts';
import { decodeResponsesRequest } from '../../protocols/responses/decode-responses-request.ts';
import { extractResponsesState } from '../../protocols/responses/extract-responses-state.ts';
import { createResponsesCodec } from '../../protocols/responses/responses-codec.ts';
import { extractResponsesEcho } from '../../protocols/responses/responses-echo.ts';
import { createResponsesIdGenerator, toResponsesId } from '../../protocols/responses/responses-ids.ts';
import { responsesInputToItems } from '../../protocols/responses/responses-input-to-items.ts';
import { chatAttempt, dispatchCall } from '../../routing/dispatch.ts';
import type { Target } from '../../routing/model-registry.ts';
import { servesResponsesNatively } from '../../routing/openai-api-call.ts';
import type { Services } from '../../services.ts';

/** Azure's Responses API is not per deployment; this is the first api-version that has it. */
const AZURE_RESPONSES_API_VERSION = '2025-04-01-preview';
/** How far back a previous_response_id chain is followed. */
const MAX_CHAIN = 200;

function requireKey(request: FastifyRequest): KeyState {
  if (!request.apiKey) throw new GatewayError('invalid_api_key', 'Missing API key.');
  return request.apiKey;
}

/**
 * The conversation before a turn: every earlier turn's input items then its
 * output, oldest first, from the responses this key stored. 404 when the id is
 * not one of them (another key's response is not found either).
 */
async function priorItems(services: Services, keyId: string, previousId: string): Promise<unknown[]> {
  const turns: unknown[][] = [];
  let id: string | null = previousId;
  for (let depth = 0; id && depth < MAX_CHAIN; depth++) {
    const row = await services.responses.find(id, keyId);
    if (!row) {
      if (depth === 0) {
        throw new GatewayError('not_found', `Previous response with id '${previousId}' not found.`, { param: 'previous_response_id', publicCode: 'previous_response_not_found' });
      }
      break;
    }
    const response = JSON.parse(row.response_json) as { output?: unknown[] };
    turns.unshift([...(JSON.parse(row.input_json) as unknown[]), ...(response.output ?? [])]);
    id = row.previous_response_id;
  }
  return turns.flat();
}

/**
 * The body for an upstream that serves the Responses API itself: the model it
 * knows, and a gateway-stored previous_response_id expanded into input items
 * (the upstream never saw that id).
 */
function nativeBody(raw: Buffer, body: Record<string, unknown>, upstreamModel: string, prior: unknown[] | undefined, items: unknown[]): string | Buffer {
  if (!prior && body.model === upstreamModel) return raw;
  if (!prior) return JSON.stringify({ ...body, model: upstreamModel });
  const { previous_response_id: _dropped, ...rest } = body;
  return JSON.stringify({ ...rest, model: upstreamModel, input: [...prior, ...items] });
}

function nativeEndpoint(target: Target): { url: string; headers: Record<string, string> } {
  const t = adapterTarget(target.upstream, target.upstreamModel, target.credential);
  if (target.upstream.type !== 'azure') return openAIEndpoint('openai', t, '/responses');
  const root = t.baseUrl.replace(/\/openai$/, '');
  const headers: Record<string, string> = { 'content-type': 'application/json', ...t.headers, ...(t.apiKey ? { 'api-key': t.apiKey } : {}) };
  return { url: `${root}/openai/responses?api-version=${encodeURIComponent(target.upstream.config.api_version ?? AZURE_RESPONSES_API_VERSION)}`, headers };
}

/**
 * POST /v1/responses: passed through to upstreams that serve it natively, and
 * translated through the canonical chat request for every other upstream
 * (chat-only OpenAI-compatible servers, Anthropic, Gemini). With `store` (the
 * default) the answer is kept for GET /v1/responses/{id} and previous_response_id,
 * scoped to the key.
 */
export function createResponseHandler(services: Services) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const key = requireKey(request);
    const body = requireJsonObject(request.body);
    const model = requireModel(body);
    const raw = request.rawBody ?? Buffer.from(JSON.stringify(body));
    const state = extractResponsesState(body);
    const prior = state.previousResponseId ? await priorItems(services, key.id, state.previousResponseId) : undefined;
    const responseId = toResponsesId(request.id);
    const items = body.input === undefined ? [] : responsesInputToItems(body, createResponsesIdGenerator(responseId, 'in'));
    // Bad input is refused before any upstream is called, whichever path the call takes.
    const canonical = decodeResponsesRequest(body, prior ? { priorItems: prior } : undefined);
    const stream = canonical.stream;
    /** The Response the client got, for the store: from the codec (converted), the JSON answer or the stream's last event (native). */
    let answered: Record<string, unknown> | undefined;
    let nativeTap: ResponsesStreamTap | undefined;
    const codec = createResponsesCodec({
      ...(prior ? { priorItems: prior } : {}),
      responseId,
      echo: { ...extractResponsesEcho(body), previous_response_id: state.previousResponseId ?? null },
      onResponse: (r) => {
        answered = r as unknown as Record<string, unknown>;
      },
    });
    const countPrompt = (): Promise<number> => countPromptTokens(countableChatRequest(canonical));
    await dispatchCall(services, request, reply, {
      endpoint: 'responses',
      model,
      stream,
      maxTokens: typeof body.max_output_tokens === 'number' ? body.max_output_tokens : undefined,
      countPrompt,
      attempt: chatAttempt({
        protocol: 'responses',
        codec,
        decode: () => canonical,
        sameProtocol: (t) => servesResponsesNatively(t.upstream.type, t.upstream.config),
        passthrough: (target) => ({
          ...nativeEndpoint(target),
          body: nativeBody(raw, body, target.upstreamModel, prior, items),
          stream,
          parseError: parseResponsesStreamError,
          isStreamError: isResponsesStreamError,
          createTap: () => (nativeTap = new ResponsesStreamTap()),
          extractUsage: (json) => {
            if (json && typeof json === 'object') answered = json as Record<string, unknown>;
            return extractResponsesUsage(json);
          },
          resultText: collectResponsesResultText,
          countPromptTokens: countPrompt,
          countTextTokens,
          encodeStreamError: (err) => {
            const e = encodeOpenAIError(err).error;
            return encodeSse(JSON.stringify({ type: 'error', code: e.code ?? null, message: e.message, param: e.param ?? null, sequence_number: 0 }), 'error');
          },
        }),
      }),
    });
    if (nativeTap?.response) answered = nativeTap.response;
    if (state.store && answered && typeof answered.id === 'string' && answered.status !== 'failed') {
      await storeResponse(services, key.id, state.previousResponseId, items, answered, request);
    }
  };
}

async function storeResponse(
  services: Services,
  keyId: string,
  previousId: string | undefined,
  items: unknown[],
  response: Record<string, unknown>,
  request: FastifyRequest,
): Promise<void> {
  try {
    await services.responses.insert({
      id: response.id as string,
      key_id: keyId,
      previous_response_id: previousId ?? null,
      input_json: JSON.stringify(items),
      response_json: JSON.stringify(response),
      created_at: services.now(),
    });
  } catch (err) {
    // The answer went out already; only its later retrieval is lost.
    request.log.error({ err: { message: (err as Error).message }, responseId: response.id }, 'could not store the response');
  }
}

/** GET, DELETE /v1/responses/{id} and GET /v1/responses/{id}/input_items for responses this key stored. */
export function storedResponseRoutes(services: Services) {
  const load = async (request: FastifyRequest) => {
    const key = requireKey(request);
    const id = (request.params as { id: string }).id;
    const row = await services.responses.find(id, key.id);
    if (!row) throw new GatewayError('not_found', `Response with id '${id}' not found.`, { param: 'response_id', publicCode: null });
    return row;
  };
  return {
    get: async (request: FastifyRequest) => JSON.parse((await load(request)).response_json) as unknown,
    delete: async (request: FastifyRequest) => {
      const row = await load(request);
      await services.responses.delete(row.id, row.key_id);
      return { id: row.id, object: 'response', deleted: true };
    },
    inputItems: async (request: FastifyRequest) => {
      const row = await load(request);
      const q = request.query as { order?: string; limit?: string; after?: string };
      let items = JSON.parse(row.input_json) as Array<{ id?: string }>;
      // OpenAI lists input items newest first unless asked otherwise.
      if (q.order !== 'asc') items = [...items].reverse();
      if (q.after) {
        const at = items.findIndex((i) => i.id === q.after);
        items = at === -1 ? [] : items.slice(at + 1);
      }
      const limit = Math.min(100, Math.max(1, Number(q.limit ?? 20) || 20));
      const page = items.slice(0, limit);
      return { object: 'list', data: page, first_id: page[0]?.id ?? null, last_id: page.at(-1)?.id ?? null, has_more: items.length > page.length };
    },
  };
}
