import type { Upstream } from '../../routing/upstreams.ts';

/**
 * URL and headers for an OpenAI-compatible call. `path` is relative to the API
 * root (e.g. `/chat/completions`). Azure maps the model to a deployment and takes
 * `api-key` plus an `api-version` query parameter.
 */
export function openAIEndpoint(upstream: Upstream, path: string, upstreamModel: string): { url: string; headers: Record<string, string> } {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...upstream.config.headers };
  if (upstream.type === 'azure') {
    if (upstream.config.api_key) headers['api-key'] = upstream.config.api_key;
    const root = upstream.baseUrl.replace(/\/openai$/, '');
    const version = upstream.config.api_version ?? '2024-10-21';
    return {
      url: `${root}/openai/deployments/${encodeURIComponent(upstreamModel)}${path}?api-version=${encodeURIComponent(version)}`,
      headers,
    };
  }
  if (upstream.config.api_key) headers.authorization = `Bearer ${upstream.config.api_key}`;
  return { url: `${upstream.baseUrl}${path}`, headers };
}
