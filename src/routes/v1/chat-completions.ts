import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.ts';
import { countPromptTokens, countTextTokens } from '../../core/tokens.ts';
import { extractOpenAIUsage, parseOpenAIError } from '../../providers/openai/openai-api.ts';
import { openAIEndpoint } from '../../providers/openai/openai-request.ts';
import { collectOpenAIResultText, isOpenAIStreamError, OpenAIStreamTap } from '../../providers/openai/openai-stream-tap.ts';
import {
  countableOpenAIMessages,
  prepareOpenAIChatBody,
  validateOpenAIChatBody,
} from '../../protocols/openai/openai-chat-request.ts';
import { encodeOpenAIStreamError } from '../../protocols/openai/openai-error.ts';
import { orderTargets } from '../../routing/model-registry.ts';
import { relayPassthrough } from '../../routing/relay-passthrough.ts';
import type { Services } from '../../services.ts';
import { admit } from './admission.ts';

/** POST /v1/chat/completions from an OpenAI client. */
export function chatCompletionsHandler(services: Services) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const body = validateOpenAIChatBody(request.body);
    const key = request.apiKey;
    if (!key) throw new GatewayError('invalid_api_key', 'Missing API key.');
    const targets = orderTargets(admit(services, key, body.model));
    const stream = body.stream === true;
    const meter = services.newMeter(request.id, key, 'chat.completions', targets[0].model, stream);
    const raw = request.rawBody ?? Buffer.from(JSON.stringify(body));
    const countPrompt = (): Promise<number> => countPromptTokens(countableOpenAIMessages(body));

    let lastError: GatewayError | undefined;
    for (const target of targets) {
      if (reply.raw.destroyed) {
        meter.finish('abandoned', 499, 'client_closed');
        return;
      }
      if (target.upstream.type !== 'openai' && target.upstream.type !== 'azure') {
        lastError = new GatewayError('upstream_error', `Upstream type ${target.upstream.type} cannot serve OpenAI chat yet.`, { status: 501, retryable: true });
        continue;
      }
      meter.model = target.model;
      const { payload, clientWantsUsage } = prepareOpenAIChatBody(raw, body, target.upstreamModel);
      const endpoint = openAIEndpoint(target.upstream, '/chat/completions', target.upstreamModel);
      const result = await relayPassthrough({ reply, meter, headers: { 'x-request-id': request.id } }, target, {
        url: endpoint.url,
        headers: endpoint.headers,
        body: payload,
        stream,
        parseError: parseOpenAIError,
        isStreamError: isOpenAIStreamError,
        createTap: () => new OpenAIStreamTap(clientWantsUsage),
        extractUsage: extractOpenAIUsage,
        resultText: collectOpenAIResultText,
        countPromptTokens: countPrompt,
        countTextTokens,
        encodeStreamError: encodeOpenAIStreamError,
      });
      if (result.kind === 'done') return;
      lastError = result.error;
      request.log.warn({ upstream: target.upstream.name, code: lastError.code, status: lastError.status, msg: lastError.message }, 'upstream attempt failed');
      if (!lastError.retryable) break;
    }
    const error = lastError ?? new GatewayError('upstream_unreachable', 'No upstream could serve the request.');
    meter.finish(error.status === 499 ? 'abandoned' : 'failed', error.status, error.publicCode ?? error.code);
    throw error;
  };
}
