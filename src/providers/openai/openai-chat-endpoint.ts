import type { AdapterTarget } from '../../core/codec.ts';

export const AZURE_DEFAULT_API_VERSION = '2024-10-21';

/**
 * URL and headers of a chat completions call from an adapter target; the adapter
 * and the pass-through route both call it, so both paths build the same URL.
 */
export function openAIChatEndpoint(type: 'openai' | 'azure', target: AdapterTarget): { url: string; headers: Record<string, string> } {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...target.headers };
  if (type === 'azure') {
    if (target.apiKey) headers['api-key'] = target.apiKey;
    const root = target.baseUrl.replace(/\/openai$/, '');
    const version = target.apiVersion ?? AZURE_DEFAULT_API_VERSION;
    return {
      url: `${root}/openai/deployments/${encodeURIComponent(target.upstreamModel)}/chat/completions?api-version=${encodeURIComponent(version)}`,
      headers,
    };
  }
  if (target.apiKey) headers.authorization = `Bearer ${target.apiKey}`;
  return { url: `${target.baseUrl}/chat/completions`, headers };
}
