import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services.ts';
import { apiKeyAuth } from './auth.ts';
import { chatCompletionsHandler } from './chat-completions.ts';
import { modelsRoutes } from './models.ts';
import { usageRoutes } from './usage.ts';

/** The OpenAI-compatible API; registered under /v1 and /v1-openai. */
export function v1Routes(services: Services) {
  const startedAt = Math.floor(services.now() / 1000);
  return async function register(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', apiKeyAuth(services));
    const openai = { config: { protocol: 'openai' as const } };
    app.post('/chat/completions', openai, chatCompletionsHandler(services));

    const models = modelsRoutes(services, startedAt);
    app.get('/models', openai, models.list);
    app.get('/models/*', openai, models.get);

    const usage = usageRoutes(services);
    app.get('/usage', openai, usage.usage);
    app.get('/dashboard/billing/subscription', openai, usage.subscription);
    app.get('/dashboard/billing/usage', openai, usage.billingUsage);
  };
}
