import type { AdapterTarget } from '../../core/codec.ts';

export const AZURE_DEFAULT_API_VERSION = '2024-10-21';

/**
 * URL and headers of a call to an OpenAI-compatible upstream's `path` (`/embeddings`,
 * `/audio/speech`, ...). Azure puts the deployment in the path and the version in the
 * query. `contentType` null leaves it to the body (a multipart form sets its boundary).
 */
export function openAIEndpoint(
  type: 'openai' | 'azure',
  target: AdapterTarget,
  path: string,
  contentType: string | null = 'application/json',
): { url: string; headers: Record<string, string> } {
  const headers: Record<string, string> = { ...(contentType ? { 'content-type': contentType } : {}), ...target.headers };
  if (type === 'azure') {
    if (target.apiKey) headers['api-key'] = target.apiKey;
    const root = target.baseUrl.replace(/\/openai$/, '');
    const version = target.apiVersion ?? AZURE_DEFAULT_API_VERSION;
    return {
      url: `${root}/openai/deployments/${encodeURIComponent(target.upstreamModel)}${path}?api-version=${encodeURIComponent(version)}`,
      headers,
    };
  }
  if (target.apiKey) headers.authorization = `Bearer ${target.apiKey}`;
  return { url: `${target.baseUrl}${path}`, headers };
}

/**
 * URL and headers of a chat completions call from an adapter target; the adapter
 * and the pass-through route both call it, so both paths build the same URL.
 */
export function openAIChatEndpoint(type: 'openai' | 'azure', target: AdapterTarget): { url: string; headers: Record<string, string> } {
  return openAIEndpoint(type, target, '/chat/completions');
}
