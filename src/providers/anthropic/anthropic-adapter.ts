import type { ChatRequest } from '../../core/canonical.ts';
import type { AdapterTarget, UpstreamAdapter, UpstreamHttpRequest } from '../../core/codec.ts';
import { parseAnthropicError } from './anthropic-error.ts';
import { anthropicEndpoint } from './anthropic-endpoint.ts';
import { AnthropicStreamDecoder } from './anthropic-stream-decoder.ts';
import { convertToAnthropicRequest } from './convert-to-anthropic-request.ts';
import { parseAnthropicMessage } from './parse-anthropic-message.ts';

/** Anthropic Messages API upstreams (api.anthropic.com and compatible servers). */
export const anthropicAdapter: UpstreamAdapter = {
  type: 'anthropic',
  buildRequest(req: ChatRequest, target: AdapterTarget): UpstreamHttpRequest {
    const { url, headers } = anthropicEndpoint(target, '/v1/messages', req.passHeaders);
    // The betas the call goes out with decide what the body may use (mid-conversation system messages).
    const betas = headers['anthropic-beta']?.split(',') ?? [];
    const { body, warnings } = convertToAnthropicRequest(req, target.upstreamModel, { betas });
    return { url, headers, body: JSON.stringify(body), warnings };
  },
  parseResult: (body) => parseAnthropicMessage(body),
  createStreamDecoder: () => new AnthropicStreamDecoder(),
  parseError: parseAnthropicError,
};
