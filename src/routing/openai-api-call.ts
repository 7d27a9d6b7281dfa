import { parseOpenAIError } from '../providers/openai/openai-error.ts';
import { openAIEndpoint } from '../providers/openai/openai-chat-endpoint.ts';
import type { UpstreamType } from '../config/schema.ts';
import type { Target } from './model-registry.ts';
import type { ApiCallSpec } from './relay-api-call.ts';
import { adapterTarget } from './upstreams.ts';

/** Upstream types that speak the OpenAI REST API beyond chat. */
export function isOpenAIType(type: UpstreamType): boolean {
  return type === 'openai' || type === 'azure';
}

/**
 * A call of `path` on an OpenAI-compatible target: URL, auth, error parsing. A JSON
 * body keeps the client's bytes unless the upstream knows the model by another name.
 */
export function openAICall(target: Target, path: string, body: ApiCallSpec['body'], contentType: string | null = 'application/json'): ApiCallSpec {
  const endpoint = openAIEndpoint(target.upstream.type === 'azure' ? 'azure' : 'openai', adapterTarget(target.upstream, target.upstreamModel, target.credential), path, contentType);
  return { url: endpoint.url, headers: endpoint.headers, body, parseError: parseOpenAIError };
}

/** The client's JSON bytes when the model name is unchanged, else the body with the upstream's model name. */
export function bodyForModel(raw: Buffer, body: Record<string, unknown>, upstreamModel: string): string | Buffer {
  return body.model === upstreamModel ? raw : JSON.stringify({ ...body, model: upstreamModel });
}

/** Whether an upstream serves the Responses API itself (see the `responses` upstream setting). */
export function servesResponsesNatively(type: UpstreamType, config: { base_url: string; responses?: 'native' | 'chat' }): boolean {
  if (config.responses) return config.responses === 'native' && isOpenAIType(type);
  if (type === 'azure') return true;
  if (type !== 'openai') return false;
  try {
    return new URL(config.base_url).hostname === 'api.openai.com';
  } catch {
    return false;
  }
}
