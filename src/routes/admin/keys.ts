import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { GatewayError } from '../../core/errors.ts';
import type { Services } from '../../services.ts';
import { searchKeys } from '../../store/admin-listings.ts';
import { adminRoute, idParam } from './admin-route.ts';
import { createSchema, parseKeyCreate, parseKeyUpdate, updateSchema } from './key-input.ts';

function keyNotFound(id: string): GatewayError {
  return new GatewayError('not_found', `No API key with id '${id}'.`, { param: 'id', publicCode: 'not_found' });
}

const keyViewSchema = z.object({
  id: z.string(),
  object: z.literal('api_key'),
  name: z.string(),
  key_prefix: z.string().describe('The secret masked (sk-abc...wxyz): never the secret or its hash.'),
  quota_tokens: z.number().nullable(),
  quota_usd: z.number().nullable(),
  used_tokens: z.number(),
  used_usd: z.number(),
  expires_at: z.number().nullable().describe('Unix seconds.'),
  models: z.array(z.string()).nullable(),
  rpm: z.number().nullable(),
  tpm: z.number().nullable(),
  max_concurrency: z.number().nullable(),
  allowed_ips: z.array(z.string()).nullable(),
  status: z.enum(['active', 'disabled', 'expired', 'exhausted']),
  created_at: z.number(),
  last_used_at: z.number().nullable(),
});

export const idParams = z.object({ id: idParam });

/** /admin/keys: create, search, read, edit and revoke API keys. Views never carry the secret or its hash. */
export function keyRoutes(services: Services) {
  return async function register(app: FastifyInstance): Promise<void> {
    const tag = 'Keys';

    adminRoute(app, {
      method: 'POST',
      url: '/keys',
      tag,
      summary: 'Create a key; the answer carries the secret (`key`), shown this once',
      body: createSchema,
      status: 201,
      response: keyViewSchema.extend({ key: z.string() }),
      handler: async ({ request }) => {
        // parseKeyCreate is the key's own input contract (it may carry more than the schema documents, such as the owner).
        const { view, secret } = await services.keys.create(parseKeyCreate(request.body));
        return { ...view, key: secret };
      },
    });

    adminRoute(app, {
      method: 'GET',
      url: '/keys',
      tag,
      summary: 'List or search keys',
      description:
        'Without `limit` every matching key comes in one answer (oldest first, as before pagination); with it, pages of `limit` keys: pass the answer\'s `last_id` as `after` for the next.',
      query: z.strictObject({
        search: z.string().min(1).max(200).optional().describe('Part of the name (any case), the exact id, or part of the masked key (sk-abc...).'),
        status: z.enum(['active', 'disabled', 'expired', 'exhausted']).optional(),
        limit: z.coerce.number().int().min(1).max(500).optional().describe('Page size, 1 to 500 (default: all keys).'),
        after: idParam.optional().describe('`last_id` of the previous page.'),
        order: z.enum(['asc', 'desc']).default('asc').describe('By creation time (default oldest first).'),
      }),
      response: z.object({ object: z.literal('list'), data: z.array(keyViewSchema), has_more: z.boolean(), first_id: z.string().nullable(), last_id: z.string().nullable() }),
      handler: async ({ query }) => {
        const { rows, hasMore } = await searchKeys(services.store, { ...query, limit: query.limit ?? 1_000_000_000, now: services.now() });
        return { object: 'list', data: rows.map((r) => services.keys.view(r)), has_more: hasMore, first_id: rows[0]?.id ?? null, last_id: rows.at(-1)?.id ?? null };
      },
    });

    adminRoute(app, {
      method: 'GET',
      url: '/keys/:id',
      tag,
      summary: 'One key',
      params: idParams,
      response: keyViewSchema,
      handler: async ({ params }) => (await services.keys.get(params.id)) ?? Promise.reject(keyNotFound(params.id)),
    });

    adminRoute(app, {
      method: 'PATCH',
      url: '/keys/:id',
      tag,
      summary: 'Edit a key: name, limits, quotas, expiry, allow-lists, disabled',
      params: idParams,
      body: updateSchema,
      response: keyViewSchema,
      handler: async ({ params, request }) => (await services.keys.update(params.id, parseKeyUpdate(request.body))) ?? Promise.reject(keyNotFound(params.id)),
    });

    adminRoute(app, {
      method: 'DELETE',
      url: '/keys/:id',
      tag,
      summary: 'Revoke a key (it answers 401 from now on, on every instance within a second)',
      params: idParams,
      response: z.object({ id: z.string(), object: z.literal('api_key'), deleted: z.literal(true) }),
      handler: async ({ params }) => {
        if (!(await services.keys.delete(params.id))) throw keyNotFound(params.id);
        return { id: params.id, object: 'api_key', deleted: true };
      },
    });
  };
}
