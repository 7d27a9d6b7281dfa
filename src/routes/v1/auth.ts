import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.ts';
import { clientAddress } from '../../core/ip-allow-list.ts';
import type { Services } from '../../services.ts';

/**
 * The caller's key from whichever header its client library uses: OpenAI's
 * `Authorization: Bearer`, Anthropic's `x-api-key`, Azure's `api-key`, Gemini's
 * `x-goog-api-key` or `?key=`.
 */
export function presentedKey(request: FastifyRequest): string | undefined {
  const h = request.headers;
  const auth = h.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1].trim();
  }
  for (const name of ['x-api-key', 'api-key', 'x-goog-api-key'] as const) {
    const v = h[name];
    if (typeof v === 'string' && v) return v.trim();
  }
  const query = request.query as Record<string, unknown> | undefined;
  if (query && typeof query.key === 'string' && query.key) return query.key;
  return undefined;
}

/** onRequest hook: authenticates before the body is even read. */
export function apiKeyAuth(services: Services) {
  return async (request: FastifyRequest): Promise<void> => {
    if (request.routeOptions.config?.public || request.routeOptions.url === undefined) return;
    const key = await services.keys.authenticate(presentedKey(request));
    if (key.allowedIps) {
      const ip = clientAddress(request.socket.remoteAddress, request.headers['x-forwarded-for'], services.trustedProxies);
      if (!key.allowedIps.matches(ip)) {
        throw new GatewayError('ip_not_allowed', `This API key cannot be used from your IP address (${ip || 'unknown'}).`, { publicCode: 'ip_not_allowed' });
      }
    }
    request.apiKey = key;
  };
}
