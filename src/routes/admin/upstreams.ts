import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.ts';
import type { Services } from '../../services.ts';

function upstreamNotFound(name: string): GatewayError {
  return new GatewayError('not_found', `No upstream named '${name}'.`, { param: 'name', publicCode: 'not_found' });
}

/**
 * /admin/upstreams: the YAML upstreams (marked `source: config`; only enable and
 * disable here) and those added at run time (stored, credentials encrypted).
 * Changes reach every instance within two seconds. Never shows a credential.
 */
export function upstreamRoutes(services: Services) {
  return async function register(app: FastifyInstance): Promise<void> {
    const admin = { config: { protocol: 'admin' as const } };
    type NameReq = FastifyRequest<{ Params: { name: string } }>;
    const set = services.upstreamSet;

    app.get('/upstreams', admin, async () => ({ object: 'list', data: set.upstreams.map((u) => set.view(u)) }));

    app.get('/upstreams/:name', admin, async (request: NameReq) => {
      const u = set.get(request.params.name);
      if (!u) throw upstreamNotFound(request.params.name);
      return set.view(u);
    });

    app.post('/upstreams', admin, async (request: FastifyRequest, reply: FastifyReply) => {
      const u = await set.create(request.body);
      return reply.code(201).send(set.view(u));
    });

    app.patch('/upstreams/:name', admin, async (request: NameReq) => {
      const u = await set.update(request.params.name, request.body);
      if (!u) throw upstreamNotFound(request.params.name);
      return set.view(u);
    });

    app.post('/upstreams/:name/enable', admin, async (request: NameReq) => {
      const u = await set.setEnabled(request.params.name, true);
      if (!u) throw upstreamNotFound(request.params.name);
      return set.view(u);
    });

    app.post('/upstreams/:name/disable', admin, async (request: NameReq) => {
      const u = await set.setEnabled(request.params.name, false);
      if (!u) throw upstreamNotFound(request.params.name);
      return set.view(u);
    });

    app.delete('/upstreams/:name', admin, async (request: NameReq) => {
      if (!(await set.delete(request.params.name))) throw upstreamNotFound(request.params.name);
      return { name: request.params.name, object: 'upstream', deleted: true };
    });
  };
}
