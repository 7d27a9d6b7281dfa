import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { adminRoute, type AdminRouteRegistry, optional, type RegisteredAdminRoute } from './admin-route.ts';

const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

type JsonSchema = Record<string, unknown>;

/** JSON Schema 2020-12 (OpenAPI 3.1's dialect) of what a client sends or gets. */
function toSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  delete out.$schema;
  return out;
}

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): JsonSchema[] {
  if (!schema) return [];
  const s = toSchema(schema, 'input');
  const props = (s.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((s.required as string[] | undefined) ?? []);
  return Object.entries(props).map(([name, prop]) => {
    const { description, ...rest } = prop;
    return {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: rest,
    };
  });
}

function operationId(r: RegisteredAdminRoute): string {
  const words = r.path
    .replace(/^\/admin/, '')
    .split(/[/.]/)
    .filter(Boolean)
    .map((w) => (w.startsWith('{') ? `by_${w.slice(1, -1)}` : w))
    .flatMap((w) => w.split(/[-_]/));
  return [r.method.toLowerCase(), ...words].map((w, i) => (i === 0 ? w : w.charAt(0).toUpperCase() + w.slice(1))).join('');
}

const errorRef = (description: string): JsonSchema => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });

/** The OpenAPI 3.1 document of every route in the registry, from the zod schemas that validate them. */
export function buildOpenApi(registry: AdminRouteRegistry, version: string): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const r of registry.routes) {
    const responses: Record<string, JsonSchema> = {
      [String(r.status)]: {
        description: 'Success',
        ...(r.response ? { content: { 'application/json': { schema: toSchema(r.response, 'output') } } } : {}),
      },
    };
    if (r.params || r.query || r.body) responses['400'] = errorRef('A parameter or the body is invalid (`error.param` names it).');
    responses['401'] = errorRef(r.public ? 'The admin key is wrong.' : 'No valid admin key or session.');
    if (r.params) responses['404'] = errorRef('Not found.');
    const op: JsonSchema = {
      operationId: operationId(r),
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      tags: [r.tag],
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      ...(r.body ? { requestBody: { required: !optional(r.body), content: { 'application/json': { schema: toSchema(r.body, 'input') } } } } : {}),
      responses,
      ...(r.public ? { security: [] } : {}),
    };
    (paths[r.path] ??= {})[r.method.toLowerCase()] = op;
  }
  for (const r of registry.undeclared) {
    (paths[r.path] ??= {})[r.method.toLowerCase()] ??= {
      operationId: operationId({ method: r.method, path: r.path } as RegisteredAdminRoute),
      summary: `${r.method} ${r.path}`,
      tags: ['Undocumented'],
      'x-undocumented': true,
      parameters: [...r.path.matchAll(/\{([^}]+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } })),
      responses: { '200': { description: 'Success' }, '401': errorRef('No valid admin key or session.') },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Switchyard admin API',
      version,
      description: 'Everything the dashboard does. Authenticate with `Authorization: Bearer <admin key>` or the `sy_admin` session cookie from `POST /admin/session`.',
    },
    servers: [{ url: '/' }],
    tags: [...new Set(registry.routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        adminKey: { type: 'http', scheme: 'bearer', description: 'The admin key.' },
        adminSession: { type: 'apiKey', in: 'cookie', name: 'sy_admin', description: 'A session from POST /admin/session.' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['message', 'type'],
              properties: { message: { type: 'string' }, type: { type: 'string' }, param: { type: ['string', 'null'] }, code: { type: ['string', 'null'] } },
            },
          },
        },
      },
    },
    security: [{ adminKey: [] }, { adminSession: [] }],
  };
}

/** GET /admin/openapi.json: built once, at the first request, when every route has registered. */
export function openApiRoute(app: FastifyInstance, registry: AdminRouteRegistry): void {
  let doc: JsonSchema | undefined;
  adminRoute(app, {
    method: 'GET',
    url: '/openapi.json',
    tag: 'Meta',
    summary: 'This document (OpenAPI 3.1)',
    handler: () => (doc ??= buildOpenApi(registry, PACKAGE_VERSION)),
  });
}
