import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.ts';
import { clientAddress } from '../../core/ip-allow-list.ts';
import { secretsEqual } from '../../metering/keys.ts';
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

/** Headers of the requests the batch runner injects: a per-process token, the key and the batch. */
export const INTERNAL_HEADER = 'x-switchyard-internal';
export const INTERNAL_KEY_HEADER = 'x-switchyard-key-id';
export const INTERNAL_BATCH_HEADER = 'x-switchyard-batch-id';

/** onRequest hook: authenticates before the body is even read. */
export function apiKeyAuth(services: Services) {
  return async (request: FastifyRequest): Promise<void> => {
    if (request.routeOptions.config?.public || request.routeOptions.url === undefined) return;
    const internal = request.headers[INTERNAL_HEADER];
    if (typeof internal === 'string' && secretsEqual(internal, services.internalToken)) {
      // A batch line the gateway runs itself, on behalf of the key that created the batch (app.inject: never from the network).
      request.apiKey = await services.keys.authenticateId(String(request.headers[INTERNAL_KEY_HEADER]));
      const batch = services.config.batch;
      request.batch = { id: String(request.headers[INTERNAL_BATCH_HEADER]), priceFactor: batch.price_factor, upstreamShare: batch.upstream_share };
      return;
    }
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
