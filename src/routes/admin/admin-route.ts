import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { GatewayError } from '../../core/errors.ts';
import { parseJsonBody } from '../../core/parse-json-body.ts';

export type AdminMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** What a handler gets: params, query and body as their schemas output them (undefined where none is declared). */
export interface AdminInput<P extends z.ZodType | undefined, Q extends z.ZodType | undefined, B extends z.ZodType | undefined> {
  params: P extends z.ZodType ? z.output<P> : undefined;
  query: Q extends z.ZodType ? z.output<Q> : undefined;
  body: B extends z.ZodType ? z.output<B> : undefined;
  request: FastifyRequest;
  reply: FastifyReply;
}

export interface AdminRouteSpec<P extends z.ZodType | undefined, Q extends z.ZodType | undefined, B extends z.ZodType | undefined> {
  method: AdminMethod;
  /** Fastify path relative to the plugin's prefix, `:name` for parameters (`/keys/:id`). */
  url: string;
  summary: string;
  description?: string;
  /** OpenAPI tag: the dashboard's section (Keys, Upstreams, Usage, ...). */
  tag: string;
  params?: P;
  query?: Q;
  body?: B;
  /**
   * The handler validates the body itself (its rules depend on the stored object, as a PATCH of an
   * upstream from the config file): `body` then only documents it and arrives unparsed in `request.body`.
   */
  bodyCheckedByHandler?: boolean;
  /** Status of a success (default 200). */
  status?: number;
  /** The success body, for the document only (responses are not validated at run time). */
  response?: z.ZodType;
  /** No admin key or session needed (signing in). */
  public?: boolean;
  handler(input: AdminInput<P, Q, B>): unknown;
}

/** One admin route as the OpenAPI document lists it. */
export interface RegisteredAdminRoute {
  method: AdminMethod;
  /** Full path in OpenAPI form: `/admin/keys/{id}`. */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  status: number;
  response?: z.ZodType;
  public: boolean;
}

/** The admin routes registered on one app; GET /admin/openapi.json is built from it. */
export class AdminRouteRegistry {
  readonly routes: RegisteredAdminRoute[] = [];
  /** Routes under /admin added without adminRoute(): the document still lists them (bare), so it names every route. */
  readonly undeclared: Array<{ method: string; path: string }> = [];
}

const REGISTRY = Symbol('switchyard.adminRoutes');
/** Handlers made by adminRoute(), to tell its routes from others in the onRoute hook. */
const declaredHandlers = new WeakSet<object>();

/** Called once by the /admin plugin, before its routes: every route below it is recorded in this registry. */
export function provideAdminRegistry(app: FastifyInstance, registry: AdminRouteRegistry): void {
  app.decorate(REGISTRY, registry);
  app.addHook('onRoute', (route) => {
    if (declaredHandlers.has(route.handler)) return;
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
      if (method === 'HEAD' || method === 'OPTIONS') continue;
      registry.undeclared.push({ method, path: route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}') });
    }
  });
}

function registryOf(app: FastifyInstance): AdminRouteRegistry {
  // Decorations of a plugin are inherited by the plugins it registers (Fastify's encapsulation).
  const registry = (app as unknown as Record<symbol, AdminRouteRegistry | undefined>)[REGISTRY];
  if (!registry) throw new Error('adminRoute() is for plugins registered under the /admin plugin (routes/admin/index.ts)');
  return registry;
}

/**
 * Declares one admin route: its params, query and body are validated with the zod schemas given
 * (a 400 naming the field, in the admin API's error shape) and the route is listed, with those
 * same schemas, in GET /admin/openapi.json. Every /admin route goes through here:
 *
 * ```ts
 * adminRoute(app, {
 *   method: 'GET', url: '/users/:id', tag: 'Users', summary: 'One user',
 *   params: z.object({ id: z.string() }),
 *   query: z.strictObject({ expand: z.enum(['keys']).optional() }),
 *   handler: async ({ params, query }) => services.users.get(params.id, query.expand),
 * });
 * ```
 *
 * Query values arrive as strings: use `z.coerce.number()` (or the helpers below) for numbers.
 * Return the body (or use `reply` for headers and status); throw GatewayError for failures.
 */
export function adminRoute<P extends z.ZodType | undefined = undefined, Q extends z.ZodType | undefined = undefined, B extends z.ZodType | undefined = undefined>(
  app: FastifyInstance,
  spec: AdminRouteSpec<P, Q, B>,
): void {
  registryOf(app).routes.push({
    method: spec.method,
    path: `${app.prefix}${spec.url}`.replace(/:([A-Za-z0-9_]+)/g, '{$1}'),
    summary: spec.summary,
    description: spec.description,
    tag: spec.tag,
    params: spec.params,
    query: spec.query,
    body: spec.body,
    status: spec.status ?? 200,
    response: spec.response,
    public: spec.public === true,
  });
  const status = spec.status ?? 200;
  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const input = {
      params: spec.params ? parseParts(spec.params, request.params, 'path parameter') : undefined,
      query: spec.query ? parseParts(spec.query, request.query, 'query parameter') : undefined,
      body: spec.body && !spec.bodyCheckedByHandler && !(request.body === undefined && optional(spec.body)) ? parseJsonBody(spec.body, request.body) : undefined,
      request,
      reply,
    } as AdminInput<P, Q, B>;
    const out = await spec.handler(input);
    if (status !== 200 && !reply.sent) reply.code(status);
    return out;
  };
  declaredHandlers.add(handler);
  app.route({ method: spec.method, url: spec.url, config: { protocol: 'admin', public: spec.public === true }, handler });
}

/** A body schema that accepts no body at all (`.optional()`). */
export function optional(schema: z.ZodType): boolean {
  return schema.safeParse(undefined).success;
}

/** Path and query values: the first problem is a 400 naming the parameter. */
function parseParts<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const name = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : issue.path.map(String).join('.');
  const message = issue.code === 'unrecognized_keys' ? `Unknown ${what} '${name}'.` : `Invalid ${what} '${name}': ${issue.message}.`;
  throw new GatewayError('invalid_request_error', message, { param: name || null, publicCode: 'invalid_value' });
}

/** A page size: `limit` from the query, 1..max. */
export function limitParam(max: number, fallback: number) {
  return z.coerce.number().int().min(1).max(max).default(fallback).describe(`Page size, 1 to ${max} (default ${fallback}).`);
}

/** Unix seconds or ISO 8601 in a query, to unix ms. */
export const timeParam = z
  .string()
  .describe('Unix seconds or ISO 8601 (a bare date is UTC midnight).')
  .transform((v, ctx) => {
    if (/^-?\d+(\.\d+)?$/.test(v.trim())) return Math.round(Number(v) * 1000);
    const ms = Date.parse(v);
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: 'expected unix seconds or an ISO 8601 time' });
      return z.NEVER;
    }
    return ms;
  });

/** A page of a list in the OpenAI list shape: `{object: "list", data, first_id, last_id, has_more}`. */
export function listPage<T extends { id: string }>(data: T[], hasMore: boolean) {
  return { object: 'list' as const, data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: hasMore };
}

/** A page from a query that read one row more than `limit` (that row says whether more follow). */
export function pageOf<T extends { id: string }>(rows: T[], limit: number) {
  return listPage(rows.slice(0, limit), rows.length > limit);
}

/** The row an `after`/`before` cursor names, or a 400 naming the parameter. */
export async function cursorRow<T>(find: Promise<T | undefined>, id: string, param: string): Promise<T> {
  const row = await find;
  if (!row) throw new GatewayError('invalid_request_error', `Unknown cursor '${id}'.`, { param, publicCode: 'invalid_value' });
  return row;
}

/** An id-like path parameter. */
export const idParam = z.string().min(1).max(200);
