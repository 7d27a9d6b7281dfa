import type { FastifyRequest } from 'fastify';
import type { Services } from '../../services.ts';
import { apiKeyAuth } from '../v1/auth.ts';

/**
 * onRequest hook: the key as Midjourney-proxy clients send it (`mj-api-secret`, the header the
 * proxy itself reads) or as `Authorization: Bearer`, then the same checks as every /v1 route.
 */
export function mjAuth(services: Services) {
  const auth = apiKeyAuth(services);
  return async (request: FastifyRequest): Promise<void> => {
    const secret = request.headers['mj-api-secret'];
    if (typeof secret === 'string' && secret.trim()) request.headers.authorization = `Bearer ${secret.trim().replace(/^Bearer\s+/i, '')}`;
    await auth(request);
  };
}
