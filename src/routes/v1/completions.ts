import type { FastifyReply, FastifyRequest } from 'fastify';
import { countTextTokens } from '../../core/tokens.ts';
import { extractOpenAIUsage } from '../../providers/openai/convert-openai-usage.ts';
import { collectOpenAIResultText, isOpenAIStreamError, OpenAIStreamTap } from '../../providers/openai/openai-stream-tap.ts';
import { inputTexts, inputTokenCount, validateCompletionsBody } from '../../protocols/openai/openai-api-bodies.ts';
import { prepareOpenAIChatBody } from '../../protocols/openai/openai-chat-request.ts';
import { encodeOpenAIStreamError } from '../../protocols/openai/openai-error.ts';
import { dispatchCall } from '../../routing/dispatch.ts';
import { isOpenAIType, openAICall } from '../../routing/openai-api-call.ts';
import { relayPassthrough } from '../../routing/relay-passthrough.ts';
import type { Services } from '../../services.ts';

/** Tokens of a prompt that may be text, texts or token arrays. */
export async function countInputTokens(input: unknown): Promise<number> {
  let n = inputTokenCount(input);
  for (const t of inputTexts(input)) n += await countTextTokens(t);
  return n;
}

/**
 * POST /v1/completions (legacy text completions) on OpenAI-compatible upstreams,
 * passed through like chat: usage asked for in streams and stripped again when
 * the client did not ask.
 */
export function completionsHandler(services: Services) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const body = validateCompletionsBody(request.body);
    const raw = request.rawBody ?? Buffer.from(JSON.stringify(body));
    const stream = body.stream === true;
    const countPrompt = (): Promise<number> => countInputTokens(body.prompt);
    await dispatchCall(services, request, reply, {
      endpoint: 'completions',
      path: '/v1/completions',
      model: body.model,
      stream,
      maxTokens: typeof body.max_tokens === 'number' && body.max_tokens > 0 ? body.max_tokens : 16,
      countPrompt,
      serves: isOpenAIType,
      attempt: (io, target) => {
        const { payload, clientWantsUsage } = prepareOpenAIChatBody(raw, body, target.upstreamModel);
        const call = openAICall(target, '/completions', payload);
        return relayPassthrough(io, target, {
          url: call.url,
          headers: call.headers,
          body: payload,
          stream,
          parseError: call.parseError,
          isStreamError: isOpenAIStreamError,
          createTap: () => new OpenAIStreamTap(clientWantsUsage),
          extractUsage: extractOpenAIUsage,
          resultText: collectOpenAIResultText,
          countPromptTokens: countPrompt,
          countTextTokens,
          encodeStreamError: encodeOpenAIStreamError,
        });
      },
    });
  };
}
