import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.ts';
import { adminAuth } from './admin/admin-auth.ts';

/** GET /metrics (Prometheus text format) behind the admin key or an admin session; `metrics.listen` serves it open on its own port. */
export function metricsRoutes(services: Services) {
  return async function register(app: FastifyInstance): Promise<void> {
    const metrics = services.metrics;
    if (!metrics) return;
    app.addHook('onRequest', adminAuth(services));
    app.get('/metrics', { config: { protocol: 'admin' } }, async (_request, reply) => {
      const text = await metrics.render();
      return reply.header('content-type', metrics.contentType).header('cache-control', 'no-store').send(text);
    });
  };
}
