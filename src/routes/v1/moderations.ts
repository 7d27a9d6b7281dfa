import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Usage } from '../../core/canonical.ts';
import { countTextTokens } from '../../core/tokens.ts';
import { moderationTexts, validateModerationsBody } from '../../protocols/openai/openai-api-bodies.ts';
import { dispatchCall } from '../../routing/dispatch.ts';
import { bodyForModel, isOpenAIType, openAICall } from '../../routing/openai-api-call.ts';
import { apiAttempt } from '../../routing/relay-api-call.ts';
import type { Services } from '../../services.ts';

/** POST /v1/moderations on OpenAI-compatible upstreams; answers carry no usage, so input tokens are counted by the gateway. */
export function moderationsHandler(services: Services) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const body = validateModerationsBody(request.body);
    const raw = request.rawBody && (request.body as { model?: unknown }).model === body.model ? request.rawBody : Buffer.from(JSON.stringify(body));
    const countPrompt = async (): Promise<number> => {
      let n = 0;
      for (const t of moderationTexts(body.input)) n += await countTextTokens(t);
      return n;
    };
    const estimate = async (): Promise<Usage> => ({ inputTokens: await countPrompt(), outputTokens: 0 });
    await dispatchCall(services, request, reply, {
      endpoint: 'moderations',
      path: '/v1/moderations',
      model: body.model,
      stream: false,
      maxTokens: 0,
      countPrompt,
      serves: isOpenAIType,
      attempt: apiAttempt((target) => ({
        ...openAICall(target, '/moderations', bodyForModel(raw, body, target.upstreamModel)),
        settle: (text, contentType, meter) => {
          meter.estimate = estimate;
          return { body: text, contentType };
        },
      })),
    });
  };
}
