import { GatewayError } from '../../core/errors.ts';
import type { AdapterTarget } from '../../core/codec.ts';
import { geminiModelPath } from './gemini-endpoint.ts';

/**
 * An OpenAI embeddings request as Gemini's batchEmbedContents: one request per
 * input text, `dimensions` as outputDimensionality. Token-array input has no text
 * Gemini could embed, so it is refused (400) rather than guessed at.
 */
export function convertToGeminiEmbeddings(
  target: AdapterTarget,
  input: unknown,
  dimensions: unknown,
): { url: string; headers: Record<string, string>; body: string; count: number } {
  const texts = typeof input === 'string' ? [input] : Array.isArray(input) && input.every((x) => typeof x === 'string') ? (input as string[]) : undefined;
  if (!texts) {
    throw new GatewayError('invalid_request_error', 'Token-array input cannot be embedded by a Gemini upstream: send the text instead.', {
      param: 'input',
      publicCode: 'invalid_value',
    });
  }
  const model = geminiModelPath(target.upstreamModel);
  const dims = typeof dimensions === 'number' ? { outputDimensionality: dimensions } : {};
  const requests = texts.map((text) => ({ model, content: { parts: [{ text }] }, ...dims }));
  const root = target.baseUrl.replace(/\/+$/, '').replace(/\/v1(?:beta)?$/, '');
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(target.apiKey ? { 'x-goog-api-key': target.apiKey } : {}), ...target.headers };
  return { url: `${root}/v1beta/${model}:batchEmbedContents`, headers, body: JSON.stringify({ requests }), count: texts.length };
}

/** The vectors of a batchEmbedContents answer, in input order; throws when the answer is not one. */
export function parseGeminiEmbeddings(json: unknown, expected: number): number[][] {
  const list = (json as { embeddings?: Array<{ values?: unknown }> } | null)?.embeddings;
  if (!Array.isArray(list) || list.length !== expected || !list.every((e) => Array.isArray(e?.values))) {
    throw new GatewayError('upstream_error', `Gemini answered batchEmbedContents without ${expected} embeddings.`);
  }
  return list.map((e) => e.values as number[]);
}
