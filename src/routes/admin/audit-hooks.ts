import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../services.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The id of the object an admin POST created, read from its response for the audit log. */
    auditCreatedId?: string;
  }
}

const VERBS: Record<string, string> = { POST: 'create', PUT: 'put', PATCH: 'update', DELETE: 'delete' };

/**
 * Writes every admin change (any method but GET/HEAD/OPTIONS, refused ones included) to the audit
 * log: who (the admin key or a dashboard session, and from where), what (`users.update`,
 * `upstreams.disable`, ...), which object, the status, and the request body with secrets removed.
 * One hook for every admin route, so a route added later is audited without asking.
 */
export function registerAuditHooks(app: FastifyInstance, services: Services): void {
  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (request.method === 'POST' && reply.statusCode < 300 && typeof payload === 'string' && payload.startsWith('{')) {
      const m = /"id"\s*:\s*"([^"]{1,200})"/.exec(payload.slice(0, 2000));
      if (m) request.auditCreatedId = m[1];
    }
    return payload;
  });
  app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    const verb = VERBS[request.method];
    if (!verb) return;
    const url = request.routeOptions.url ?? request.url.split('?')[0];
    // /admin/users/:id/balance -> target users, action users.balance; /admin/keys/:id -> keys.update.
    const parts = url.replace(/^\/admin\/?/, '').split('/').filter(Boolean);
    const targetType = parts[0] ?? 'admin';
    const last = parts.at(-1);
    const action = parts.length > 1 && last && !last.startsWith(':') ? `${targetType}.${last}` : `${targetType}.${verb}`;
    const params = (request.params ?? {}) as Record<string, string | undefined>;
    const targetId = params.id ?? params.name ?? request.auditCreatedId ?? null;
    const authed = request.headers.authorization ? 'admin (key)' : request.headers.cookie?.includes('sy_admin=') ? 'admin (session)' : 'anonymous';
    await services.audit.record({
      actor: reply.statusCode === 401 ? 'unauthenticated' : authed,
      actorIp: request.ip,
      action,
      targetType,
      targetId,
      status: reply.statusCode,
      // An unauthenticated caller's body is not kept (anyone could fill the log with it).
      detail: reply.statusCode === 401 || reply.statusCode === 403 || request.routeOptions.config?.public ? undefined : request.body,
    });
  });
}
