import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services.ts';
import { adminAuth } from './admin-auth.ts';
import { upstreamRoutes } from './upstreams.ts';
import { AdminRouteRegistry, provideAdminRegistry } from './admin-route.ts';
import { keyRoutes } from './keys.ts';
import { openApiRoute } from './openapi.ts';
import { resourceRoutes } from './resources.ts';
import { sessionRoutes } from './session.ts';
import { usageRoutes } from './usage.ts';
import { accountRoutes } from './accounts.ts';
import { registerAuditHooks } from './audit-hooks.ts';

/** The admin API (documented by GET /admin/openapi.json, built from the routes' own schemas). */
export function adminRoutes(services: Services) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', adminAuth(services));
    // Every route below declares itself through adminRoute() (admin-route.ts), which records it here for /admin/openapi.json.
    const registry = new AdminRouteRegistry();
    provideAdminRegistry(app, registry);
    openApiRoute(app, registry);
    registerAuditHooks(app, services);
    await app.register(sessionRoutes(services));
    await app.register(keyRoutes(services));
    await app.register(usageRoutes(services));
    await app.register(resourceRoutes(services));
    await app.register(upstreamRoutes(services));
    await app.register(accountRoutes(services));
  };
}
