import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services.ts';
import { countTokensHandler, messagesHandler } from '../anthropic/messages.ts';
import { generateContentHandler } from '../gemini/generate-content.ts';
import { speechHandler, transcriptionHandler } from './audio.ts';
import { apiKeyAuth } from './auth.ts';
import { chatCompletionsHandler } from './chat-completions.ts';
import { conversationRoutes } from './conversations.ts';
import { completionsHandler } from './completions.ts';
import { embeddingsHandler } from './embeddings.ts';
import { filesRoutes } from './files.ts';
import { imageGenerationsHandler, imageUploadHandler } from './images.ts';
import { moderationsHandler } from './moderations.ts';
import { createResponseHandler, storedResponseRoutes } from './responses.ts';
import { batchRoutes } from './batches.ts';
import { modelsRoutes } from './models.ts';
import { usageRoutes } from './usage.ts';
import { pricingHandler } from './pricing.ts';

/** The /v1 API: OpenAI routes, Anthropic Messages and Gemini's /v1/models/...; registered under /v1 and /v1-openai. */
export function v1Routes(services: Services) {
  const startedAt = Math.floor(services.now() / 1000);
  return async function register(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', apiKeyAuth(services));
    const openai = { config: { protocol: 'openai' as const } };
    const anthropic = { config: { protocol: 'anthropic' as const } };
    const gemini = { config: { protocol: 'gemini' as const } };
    app.post('/chat/completions', openai, chatCompletionsHandler(services));
    // Server-kept conversations; clear of OpenAI's own /v1/conversations (Responses-API conversations, another object).
    const conversations = conversationRoutes(services);
    app.post('/chat/conversation', openai, conversations.turn);
    app.get('/chat/conversations', openai, conversations.list);
    app.get('/chat/conversations/:id', openai, conversations.get);
    app.delete('/chat/conversations/:id', openai, conversations.delete);
    app.post('/completions', openai, completionsHandler(services));
    app.post('/embeddings', openai, embeddingsHandler(services));
    app.post('/images/generations', openai, imageGenerationsHandler(services));
    app.post('/images/edits', openai, imageUploadHandler(services, 'edits'));
    app.post('/images/variations', openai, imageUploadHandler(services, 'variations'));
    app.post('/audio/speech', openai, speechHandler(services));
    app.post('/audio/transcriptions', openai, transcriptionHandler(services, 'transcriptions'));
    app.post('/audio/translations', openai, transcriptionHandler(services, 'translations'));
    app.post('/moderations', openai, moderationsHandler(services));
    app.post('/responses', openai, createResponseHandler(services));
    const batches = batchRoutes(services);
    app.post('/batches', openai, batches.create);
    app.get('/batches', openai, batches.list);
    app.get('/batches/:id', openai, batches.retrieve);
    app.post('/batches/:id/cancel', openai, batches.cancel);
    const stored = storedResponseRoutes(services);
    app.get('/responses/:id', openai, stored.get);
    app.delete('/responses/:id', openai, stored.delete);
    app.get('/responses/:id/input_items', openai, stored.inputItems);
    const files = filesRoutes(services);
    app.post('/files', openai, files.create);
    app.get('/files', openai, files.list);
    app.get('/files/:id', openai, files.get);
    app.delete('/files/:id', openai, files.delete);
    app.get('/files/:id/content', openai, files.content);

    app.post('/messages', anthropic, messagesHandler(services));
    app.post('/messages/count_tokens', anthropic, countTokensHandler(services));
    // Newer Gemini clients call /v1/models/{model}:generateContent.
    app.post('/models/*', gemini, generateContentHandler(services));

    const models = modelsRoutes(services, startedAt);
    app.get('/models', openai, models.list);
    app.get('/models/*', openai, models.get);

    const usage = usageRoutes(services);
    app.get('/usage', openai, usage.usage);
    app.get('/pricing', { config: { protocol: 'openai' as const, public: true } }, pricingHandler(services));
    app.get('/dashboard/billing/subscription', openai, usage.subscription);
    app.get('/dashboard/billing/usage', openai, usage.billingUsage);
  };
}
