import type { AdapterTarget } from '../../core/codec.ts';

/**
 * The generateContent URL for a target. base_url may be the host root
 * (https://generativelanguage.googleapis.com) or end in /v1beta or /v1; either way the
 * call goes to v1beta, as the Gemini docs and the @google/genai client do (thinkingConfig,
 * responseSchema and tools are v1beta features), and as the Gemini pass-through does.
 */
export function geminiEndpoint(target: AdapterTarget, stream: boolean): { url: string; headers: Record<string, string> } {
  const base = target.baseUrl.replace(/\/+$/, '');
  const root = base.replace(/\/v1(?:beta)?$/, '');
  const url = `${root}/v1beta/${geminiModelPath(target.upstreamModel)}:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (target.apiKey) headers['x-goog-api-key'] = target.apiKey;
  return { url, headers: { ...headers, ...target.headers } };
}

/** "gemini-2.5-flash" and "models/gemini-2.5-flash" -> "models/gemini-2.5-flash"; tuned models keep their own collection. */
export function geminiModelPath(model: string): string {
  const name = model.replace(/^\/+/, '');
  if (name.startsWith('models/') || name.startsWith('tunedModels/')) return name;
  return `models/${name}`;
}
