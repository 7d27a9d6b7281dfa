import type { FastifyReply, FastifyRequest } from 'fastify';
import { countPromptTokens } from '../../core/tokens.ts';
import { countableOpenAIMessages, validateOpenAIChatBody } from '../../protocols/openai/openai-chat-request.ts';
import { dispatchCall } from '../../routing/dispatch.ts';
import { openAIChatAttempt } from '../../routing/openai-chat-attempt.ts';
import type { Services } from '../../services.ts';

/** The completion ceiling an OpenAI chat body names, if any. */
export function maxCompletionTokens(body: Record<string, unknown>): number | undefined {
  const v = body.max_completion_tokens ?? body.max_tokens;
  return typeof v === 'number' && v > 0 ? v : undefined;
}

/** POST /v1/chat/completions from an OpenAI client. */
export function chatCompletionsHandler(services: Services) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const body = validateOpenAIChatBody(request.body);
    const raw = request.rawBody ?? Buffer.from(JSON.stringify(body));
    const countPrompt = (): Promise<number> => countPromptTokens(countableOpenAIMessages(body));
    await dispatchCall(services, request, reply, {
      endpoint: 'chat.completions',
      model: body.model,
      stream: body.stream === true,
      maxTokens: maxCompletionTokens(body),
      countPrompt,
      attempt: openAIChatAttempt(body, raw, countPrompt),
    });
  };
}
