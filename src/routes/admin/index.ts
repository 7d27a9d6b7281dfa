import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.ts';
import type { Services } from '../../services.ts';
import { adminAuth } from './admin-auth.ts';
import { parseKeyCreate, parseKeyUpdate } from './key-input.ts';
import { upstreamRoutes } from './upstreams.ts';
import { batchObject } from '../v1/batches.ts';

function keyNotFound(id: string): GatewayError {
  return new GatewayError('not_found', `No API key with id '${id}'.`, { param: 'id', publicCode: 'not_found' });
}

/** The admin API: API keys and upstreams; usage and the dashboard's needs come later. */
export function adminRoutes(services: Services) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', adminAuth(services));
    const admin = { config: { protocol: 'admin' as const } };
    type IdReq = FastifyRequest<{ Params: { id: string } }>;

    // Every key's batches, newest first, with progress (the dashboard's batch view).
    app.get('/batches', admin, async (request: FastifyRequest) => {
      const q = request.query as { after?: string; limit?: string; key_id?: string };
      const limit = Math.min(500, Math.max(1, Number(q.limit ?? 100) || 100));
      const { rows, hasMore } = await services.batches.list({ keyId: q.key_id, after: q.after, limit });
      const data = rows.map((b) => ({ ...batchObject(b), key_id: b.key_id }));
      return { object: 'list', data, first_id: rows[0]?.id ?? null, last_id: rows.at(-1)?.id ?? null, has_more: hasMore };
    });

    app.post('/keys', admin, async (request: FastifyRequest, reply: FastifyReply) => {
      const input = parseKeyCreate(request.body);
      const { view, secret } = await services.keys.create(input);
      // The secret is shown here once; only its hash is stored.
      return reply.code(201).send({ ...view, key: secret });
    });

    app.get('/keys', admin, async () => ({ object: 'list', data: await services.keys.list() }));

    app.get('/keys/:id', admin, async (request: IdReq) => {
      const view = await services.keys.get(request.params.id);
      if (!view) throw keyNotFound(request.params.id);
      return view;
    });

    app.patch('/keys/:id', admin, async (request: IdReq) => {
      const view = await services.keys.update(request.params.id, parseKeyUpdate(request.body));
      if (!view) throw keyNotFound(request.params.id);
      return view;
    });

    app.delete('/keys/:id', admin, async (request: IdReq) => {
      if (!(await services.keys.delete(request.params.id))) throw keyNotFound(request.params.id);
      return { id: request.params.id, object: 'api_key', deleted: true };
    });

    await app.register(upstreamRoutes(services));
  };
}
