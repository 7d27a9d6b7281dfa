import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { submitMidjourney } from '../../routing/mj-relay.ts';
import type { Services } from '../../services.ts';
import { MJ_MODES, MJ_SUBMITS, type MjMode, type MjSubmit } from '../../wire/midjourney.ts';
import { mjAuth } from './mj-auth.ts';
import { mjSubmitErrorHandler } from './mj-error.ts';
import { mjTaskRoutes } from './tasks.ts';

/** The Midjourney-proxy API under /mj, and under /{mode}/mj for each speed mode. */
export function midjourneyRoutes(services: Services) {
  return async function register(app: FastifyInstance): Promise<void> {
    await app.register(mjScope(services, undefined), { prefix: '/mj' });
    for (const mode of MJ_MODES) await app.register(mjScope(services, mode), { prefix: `/${mode}/mj` });
  };
}

function submitHandler(services: Services, kind: MjSubmit, mode: MjMode | undefined) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const answer = await submitMidjourney(services, request, reply, kind, mode);
    return reply.code(answer.status).send(answer.body);
  };
}

function mjScope(services: Services, mode: MjMode | undefined) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', mjAuth(services));
    const openai = { config: { protocol: 'openai' as const } };
    // Submits answer errors as the Midjourney-proxy does; reads answer OpenAI-style errors.
    const submit = { ...openai, errorHandler: mjSubmitErrorHandler(services.config.limits.max_body_mb) };
    for (const kind of MJ_SUBMITS) app.post(`/submit/${kind}`, submit, submitHandler(services, kind, mode));
    const tasks = mjTaskRoutes(services);
    app.get('/task/:id/fetch', openai, tasks.fetch);
    app.post('/task/list-by-condition', openai, tasks.listByCondition);
    app.get('/image/:id', openai, tasks.image);
  };
}
