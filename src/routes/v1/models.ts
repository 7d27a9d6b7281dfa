import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.ts';
import type { ModelEntry } from '../../routing/model-registry.ts';
import type { Services } from '../../services.ts';

/** OpenAI's model object. `created` is when this gateway started, the same for every model it serves. */
function modelObject(m: ModelEntry, created: number): Record<string, unknown> {
  return { id: m.id, object: 'model', created, owned_by: m.upstreams[0] ?? 'switchyard' };
}

export function visibleModels(services: Services, request: FastifyRequest): ModelEntry[] {
  const allowed = request.apiKey?.models ?? null;
  const all = services.registry.list();
  return allowed === null ? all : all.filter((m) => allowed.has(m.id));
}

export function modelsRoutes(services: Services, created: number) {
  return {
    list: async (request: FastifyRequest) => ({
      object: 'list',
      data: visibleModels(services, request).map((m) => modelObject(m, created)),
    }),
    get: async (request: FastifyRequest) => {
      const id = (request.params as { '*': string })['*'];
      const found = visibleModels(services, request).find((m) => m.id === id);
      if (!found) {
        throw new GatewayError('model_not_found', `The model '${id}' does not exist`, { param: 'model' });
      }
      return modelObject(found, created);
    },
  };
}
