import type { IngressCodec, StreamTap } from '../core/codec.ts';
import { countTextTokens } from '../core/tokens.ts';
import { extractOpenAIUsage } from '../providers/openai/convert-openai-usage.ts';
import { openAIChatEndpoint } from '../providers/openai/openai-chat-endpoint.ts';
import { parseOpenAIError } from '../providers/openai/openai-error.ts';
import { collectOpenAIResultText, isOpenAIStreamError, OpenAIStreamTap } from '../providers/openai/openai-stream-tap.ts';
import { type OpenAIChatBody, prepareOpenAIChatBody } from '../protocols/openai/openai-chat-request.ts';
import { openAICodec } from '../protocols/openai/openai-codec.ts';
import { encodeOpenAIStreamError } from '../protocols/openai/openai-error.ts';
import { chatAttempt, type DispatchSpec } from './dispatch.ts';
import { adapterTarget } from './upstreams.ts';

/** What a route adds to an OpenAI chat relay to read the answer and add to it, on every path a target can take. */
export interface ChatAnswerHooks {
  /** Converted targets: the codec that encodes the answer. */
  readonly codec: IngressCodec;
  /** Pass-through streams: wraps the tap that watches the upstream's events. */
  wrapTap(tap: StreamTap): StreamTap;
  /** Pass-through non-stream answers: the body the client gets. */
  clientBody(text: string, json: unknown): string;
}

/**
 * The attempt of an OpenAI chat call (POST /v1/chat/completions, and the turns of
 * server-kept conversations): OpenAI-compatible targets get the body as bytes with
 * only the gateway's edits, the others convert through the OpenAI codec. `hooks`
 * lets a route read the answer and add to it on either path.
 */
export function openAIChatAttempt(body: OpenAIChatBody, raw: Buffer, countPrompt: () => Promise<number>, hooks?: ChatAnswerHooks): DispatchSpec['attempt'] {
  const stream = body.stream === true;
  const codec = hooks?.codec ?? openAICodec;
  return chatAttempt({
    protocol: 'openai',
    codec,
    decode: () => codec.decodeRequest(body),
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
        createTap: hooks ? () => hooks.wrapTap(new OpenAIStreamTap(clientWantsUsage)) : () => new OpenAIStreamTap(clientWantsUsage),
        extractUsage: extractOpenAIUsage,
        resultText: collectOpenAIResultText,
        countPromptTokens: countPrompt,
        countTextTokens,
        encodeStreamError: encodeOpenAIStreamError,
        clientBody: hooks && ((text: string, json: unknown) => hooks.clientBody(text, json)),
      };
    },
  });
}
