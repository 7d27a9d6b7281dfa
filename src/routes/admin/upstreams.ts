import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { upstreamSchema } from '../../config/schema.ts';
import { GatewayError } from '../../core/errors.ts';
import { probeUpstream } from '../../routing/probe-upstream.ts';
import type { Services } from '../../services.ts';
import { adminRoute } from './admin-route.ts';

function upstreamNotFound(name: string): GatewayError {
  return new GatewayError('not_found', `No upstream named '${name}'.`, { param: 'name', publicCode: 'not_found' });
}

const nameParams = z.object({ name: z.string().min(1).max(200) });

/** What a PATCH may carry: any field of the config's upstream (validated in full once merged with the stored one). */
const upstreamPatchSchema = upstreamSchema.partial();

const recentSchema = z.object({
  requests: z.number().int(),
  errors: z.number().int(),
  error_rate: z.number(),
  latency_avg_ms: z.number().nullable(),
  latency_p50_ms: z.number().nullable(),
  latency_p95_ms: z.number().nullable(),
  total_requests: z.number().int(),
  total_errors: z.number().int(),
});

const upstreamViewSchema = z.object({
  name: z.string(),
  object: z.literal('upstream'),
  source: z.enum(['config', 'api']),
  type: z.string(),
  base_url: z.string(),
  models: z.array(z.string()).nullable(),
  model_map: z.record(z.string(), z.string()),
  priority: z.number(),
  weight: z.number(),
  enabled: z.boolean(),
  state: z.enum(['healthy', 'open', 'half_open', 'disabled', 'credentials_rejected']),
  consecutive_failures: z.number().int(),
  credentials: z.array(z.object({ id: z.string(), state: z.string(), reason: z.string().nullable(), rpm: z.number().nullable(), tpm: z.number().nullable() })),
  rpm: z.number().nullable(),
  tpm: z.number().nullable(),
  recent: recentSchema.describe('The last five minutes of calls (failover attempts included).'),
  last_error: z.object({ at: z.number(), code: z.string(), status: z.number() }).nullable(),
});

/**
 * /admin/upstreams: the YAML upstreams (marked `source: config`; only enable and
 * disable here) and those added at run time (stored, credentials encrypted).
 * Changes reach every instance within two seconds. Never shows a credential.
 */
export function upstreamRoutes(services: Services) {
  return async function register(app: FastifyInstance): Promise<void> {
    const set = services.upstreamSet;
    const tag = 'Upstreams';
    const found = <T>(name: string, u: T | undefined): T => {
      if (!u) throw upstreamNotFound(name);
      return u;
    };

    adminRoute(app, {
      method: 'GET',
      url: '/upstreams',
      tag,
      summary: 'Every upstream with its state, health, latency and error rate',
      response: z.object({ object: z.literal('list'), data: z.array(upstreamViewSchema) }),
      handler: () => ({ object: 'list', data: set.upstreams.map((u) => set.view(u)) }),
    });

    adminRoute(app, {
      method: 'GET',
      url: '/upstreams/:name',
      tag,
      summary: 'One upstream',
      params: nameParams,
      response: upstreamViewSchema,
      handler: ({ params }) => set.view(found(params.name, set.get(params.name))),
    });

    adminRoute(app, {
      method: 'POST',
      url: '/upstreams',
      tag,
      summary: 'Add an upstream (the same fields as in the config file); 409 if the name exists',
      body: upstreamSchema,
      status: 201,
      response: upstreamViewSchema,
      handler: async ({ request }) => set.view(await set.create(request.body)),
    });

    adminRoute(app, {
      method: 'PATCH',
      url: '/upstreams/:name',
      tag,
      summary: 'Change a stored upstream (credentials kept unless given); only `enabled` for one from the config file',
      params: nameParams,
      body: upstreamPatchSchema,
      // A stored upstream's fields are merged with it and validated in full; a config one's may only carry `enabled`.
      bodyCheckedByHandler: true,
      response: upstreamViewSchema,
      handler: async ({ params, request }) => set.view(found(params.name, await set.update(params.name, request.body))),
    });

    for (const enabled of [true, false]) {
      adminRoute(app, {
        method: 'POST',
        url: `/upstreams/:name/${enabled ? 'enable' : 'disable'}`,
        tag,
        summary: enabled ? 'Enable an upstream (also clears rejected credentials and open breakers)' : 'Disable an upstream',
        params: nameParams,
        response: upstreamViewSchema,
        handler: async ({ params }) => set.view(found(params.name, await set.setEnabled(params.name, enabled))),
      });
    }

    adminRoute(app, {
      method: 'POST',
      url: '/upstreams/:name/test',
      tag,
      summary: 'Send one small real request through the upstream and report status, latency and the error if any',
      description:
        'A one-token chat call (Midjourney upstreams: an empty task list), outside routing: it changes no breaker, stats or usage. Works on disabled upstreams too.',
      params: nameParams,
      body: z.strictObject({ model: z.string().min(1).optional().describe('Model to ask (default: the first the upstream lists).') }).optional(),
      response: z.object({
        object: z.literal('upstream_test'),
        upstream: z.string(),
        ok: z.boolean(),
        model: z.string().nullable(),
        credential: z.string(),
        status: z.number().int().nullable(),
        latency_ms: z.number(),
        output: z.string().nullable(),
        error: z.object({ code: z.string(), message: z.string() }).nullable(),
      }),
      handler: ({ params, body }) => probeUpstream(found(params.name, set.get(params.name)), body?.model, services.now()),
    });

    adminRoute(app, {
      method: 'DELETE',
      url: '/upstreams/:name',
      tag,
      summary: 'Remove a stored upstream (409 for one from the config file: disable it instead)',
      params: nameParams,
      response: z.object({ name: z.string(), object: z.literal('upstream'), deleted: z.literal(true) }),
      handler: async ({ params }) => {
        if (!(await set.delete(params.name))) throw upstreamNotFound(params.name);
        return { name: params.name, object: 'upstream', deleted: true };
      },
    });
  };
}
