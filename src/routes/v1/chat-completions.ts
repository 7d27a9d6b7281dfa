import type { FastifyReply, FastifyRequest } from 'fastify';
import { countPromptTokens, countTextTokens } from '../../core/tokens.ts';
import { extractOpenAIUsage } from '../../providers/openai/convert-openai-usage.ts';
import { openAIChatEndpoint } from '../../providers/openai/openai-chat-endpoint.ts';
import { parseOpenAIError } from '../../providers/openai/openai-error.ts';
import { collectOpenAIResultText, isOpenAIStreamError, OpenAIStreamTap } from '../../providers/openai/openai-stream-tap.ts';
import { countableOpenAIMessages, prepareOpenAIChatBody, validateOpenAIChatBody } from '../../protocols/openai/openai-chat-request.ts';
import { openAICodec } from '../../protocols/openai/openai-codec.ts';
import { encodeOpenAIStreamError } from '../../protocols/openai/openai-error.ts';
import { chatAttempt, dispatchCall } from '../../routing/dispatch.ts';
import { adapterTarget } from '../../routing/upstreams.ts';
import type { Services } from '../../services.ts';

/** The completion ceiling an OpenAI chat body names, if any. */
function maxCompletionTokens(body: Record<string, unknown>): number | undefined {
  const v = body.max_completion_tokens ?? body.max_tokens;
  return typeof v === 'number' && v > 0 ? v : undefined;
}

/** POST /v1/chat/completions from an OpenAI client. */
export function chatCompletionsHandler(services: Services) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const body = validateOpenAIChatBody(request.body);
    const raw = request.rawBody ?? Buffer.from(JSON.stringify(body));
    const stream = body.stream === true;
    const countPrompt = (): Promise<number> => countPromptTokens(countableOpenAIMessages(body));
    await dispatchCall(services, request, reply, {
      endpoint: 'chat.completions',
      model: body.model,
      stream,
      maxTokens: maxCompletionTokens(body),
      countPrompt,
      attempt: chatAttempt({
        protocol: 'openai',
        codec: openAICodec,
        decode: () => openAICodec.decodeRequest(body),
        passthrough: (target) => {
          const { payload, clientWantsUsage } = prepareOpenAIChatBody(raw, body, target.upstreamModel);
          const endpoint = openAIChatEndpoint(target.upstream.type === 'azure' ? 'azure' : 'openai', adapterTarget(target.upstream, target.upstreamModel, target.credential));
          return {
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
          };
        },
      }),
    });
  };
}
