import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.ts';
import type { Services } from '../../services.ts';
import { apiKeyAuth } from '../v1/auth.ts';
import { visibleModels } from '../v1/models.ts';
import { generateContentHandler, geminiModelObject } from './generate-content.ts';

/** The Gemini API under /v1beta (newer clients also use /v1/models/..., registered with the v1 routes). */
export function geminiRoutes(services: Services) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', apiKeyAuth(services));
    const gemini = { config: { protocol: 'gemini' as const } };
    const window = (id: string): number | undefined => services.config.models[id]?.context_window;
    app.get('/models', gemini, async (request: FastifyRequest) => ({
      models: visibleModels(services, request).map((m) => geminiModelObject(m.id, window(m.id))),
    }));
    app.get('/models/*', gemini, async (request: FastifyRequest) => {
      const id = (request.params as { '*': string })['*'];
      const found = visibleModels(services, request).find((m) => m.id === id);
      if (!found) throw new GatewayError('model_not_found', `models/${id} is not found for API version v1beta, or is not supported for generateContent.`, { param: 'model' });
      return geminiModelObject(found.id, window(found.id));
    });
    app.post('/models/*', gemini, generateContentHandler(services));
  };
}
