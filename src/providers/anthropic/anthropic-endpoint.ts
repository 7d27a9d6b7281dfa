import type { AdapterTarget } from '../../core/codec.ts';
import { ANTHROPIC_VERSION } from '../../wire/anthropic.ts';

/**
 * Client headers that must never reach the upstream from passHeaders: auth and framing are the
 * gateway's, and the body is shaped for ANTHROPIC_VERSION, so a client's own version cannot apply.
 */
const RESERVED = new Set(['x-api-key', 'authorization', 'host', 'content-length', 'content-type', 'connection', 'transfer-encoding', 'anthropic-version']);

/** `https://api.anthropic.com` and `https://api.anthropic.com/v1` both name the same API root. */
export function anthropicApiRoot(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, '').replace(/\/v1$/, '');
}

/**
 * URL and headers of an Anthropic API call. Configured headers win over the
 * client's passed ones, except `anthropic-beta`, whose flags are merged so both
 * the operator's and the client's betas apply. An operator may pin another
 * `anthropic-version` in the configured headers; clients cannot.
 */
export function anthropicEndpoint(
  target: AdapterTarget,
  path: '/v1/messages' | '/v1/messages/count_tokens',
  passHeaders?: Record<string, string>,
): { url: string; headers: Record<string, string> } {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'anthropic-version': ANTHROPIC_VERSION };
  const betas: string[] = [];
  const addBetas = (value: string): void => {
    for (const flag of value.split(',')) {
      const f = flag.trim();
      if (f && !betas.includes(f)) betas.push(f);
    }
  };
  for (const [name, value] of Object.entries(passHeaders ?? {})) {
    const key = name.toLowerCase();
    if (RESERVED.has(key)) continue;
    if (key === 'anthropic-beta') addBetas(value);
    else headers[key] = value;
  }
  for (const [name, value] of Object.entries(target.headers)) {
    const key = name.toLowerCase();
    if (key === 'anthropic-beta') addBetas(value);
    else headers[key] = value;
  }
  if (betas.length > 0) headers['anthropic-beta'] = betas.join(',');
  if (target.apiKey) headers['x-api-key'] = target.apiKey;
  return { url: `${anthropicApiRoot(target.baseUrl)}${path}`, headers };
}
