import type { AdapterTarget } from '../../core/codec.ts';

/** The server root: `base_url` may name the server or its `/mj` context path (the API lives under `/mj` either way). */
export function midjourneyRoot(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, '').replace(/\/mj$/, '');
}

export interface MidjourneyHttpRequest {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
}

/**
 * A call of the Midjourney-proxy API: `path` under `/mj`, the credential in `mj-api-secret`
 * (the proxy's ApiAuthorizeInterceptor reads nothing else), the configured extra headers.
 */
export function midjourneyRequest(target: AdapterTarget, path: string, body?: unknown): MidjourneyHttpRequest {
  const headers: Record<string, string> = { ...target.headers, accept: 'application/json' };
  if (target.apiKey) headers['mj-api-secret'] = target.apiKey;
  if (body === undefined) return { url: `${midjourneyRoot(target.baseUrl)}/mj${path}`, method: 'GET', headers };
  headers['content-type'] = 'application/json';
  return { url: `${midjourneyRoot(target.baseUrl)}/mj${path}`, method: 'POST', headers, body: JSON.stringify(body) };
}

/** Headers for fetching a task's image: the credential only when the image is on the upstream itself (never to a CDN). */
export function midjourneyImageHeaders(target: AdapterTarget, imageUrl: string): Record<string, string> {
  const headers: Record<string, string> = { ...target.headers };
  try {
    if (target.apiKey && new URL(imageUrl).origin === new URL(target.baseUrl).origin) headers['mj-api-secret'] = target.apiKey;
  } catch {
    // An unparsable URL gets no credential; the fetch itself fails on it.
  }
  return headers;
}
