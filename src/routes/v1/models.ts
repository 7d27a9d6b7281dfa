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

/** Anthropic's model object, for Anthropic clients (they send `anthropic-version`) listing /v1/models. */
function anthropicModelObject(m: ModelEntry, created: number): Record<string, unknown> {
  return { type: 'model', id: m.id, display_name: m.id, created_at: new Date(created * 1000).toISOString() };
}

const isAnthropicClient = (request: FastifyRequest): boolean => typeof request.headers['anthropic-version'] === 'string';

export function modelsRoutes(services: Services, created: number) {
  return {
    list: async (request: FastifyRequest) => {
      const models = visibleModels(services, request);
      if (isAnthropicClient(request)) {
        const data = models.map((m) => anthropicModelObject(m, created));
        return { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
      }
      return { object: 'list', data: models.map((m) => modelObject(m, created)) };
    },
    get: async (request: FastifyRequest) => {
      const id = (request.params as { '*': string })['*'];
      const found = visibleModels(services, request).find((m) => m.id === id);
      if (!found) {
        throw new GatewayError('model_not_found', `The model '${id}' does not exist`, { param: 'model' });
      }
      return isAnthropicClient(request) ? anthropicModelObject(found, created) : modelObject(found, created);
    },
  };
}
