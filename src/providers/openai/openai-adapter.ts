import type { AdapterTarget, UpstreamAdapter, UpstreamHttpRequest } from '../../core/codec.ts';
import type { ChatRequest } from '../../core/canonical.ts';
import { parseOpenAIError } from './openai-error.ts';
import { openAIChatEndpoint } from './openai-chat-endpoint.ts';
import { OpenAIChatStreamDecoder } from './openai-chat-stream-decoder.ts';
import { convertToOpenAIChatRequest } from './convert-to-openai-chat-request.ts';
import { parseOpenAIChatCompletion } from './parse-openai-chat-completion.ts';

/** OpenAI's reasoning models (o1, o3, o4-mini, gpt-5...) reject `max_tokens`. */
const REASONING_MODEL = /^(?:[\w.-]+\/)?(?:o\d|gpt-5)/i;

/**
 * `max_completion_tokens` is what OpenAI and Azure document today, and the only
 * one reasoning models take; other OpenAI-compatible servers often know only
 * `max_tokens`, so they get it unless the model name says reasoning model.
 */
export function usesMaxCompletionTokens(type: 'openai' | 'azure', target: AdapterTarget): boolean {
  if (type === 'azure' || REASONING_MODEL.test(target.upstreamModel)) return true;
  try {
    return new URL(target.baseUrl).hostname === 'api.openai.com';
  } catch {
    return false;
  }
}

function createAdapter(type: 'openai' | 'azure'): UpstreamAdapter {
  return {
    type,
    buildRequest(req: ChatRequest, target: AdapterTarget): UpstreamHttpRequest {
      const { body, warnings } = convertToOpenAIChatRequest(req, target.upstreamModel, {
        maxCompletionTokens: usesMaxCompletionTokens(type, target),
      });
      const { url, headers } = openAIChatEndpoint(type, target);
      return { url, headers, body: JSON.stringify(body), warnings };
    },
    parseResult: parseOpenAIChatCompletion,
    createStreamDecoder: () => new OpenAIChatStreamDecoder(),
    parseError: parseOpenAIError,
  };
}

/** OpenAI and OpenAI-compatible chat completions upstreams. */
export const openAIAdapter: UpstreamAdapter = createAdapter('openai');

/** Azure OpenAI: deployment in the path, `api-key` header, `api-version` query parameter. */
export const azureAdapter: UpstreamAdapter = createAdapter('azure');
