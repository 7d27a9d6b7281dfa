import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { GatewayError } from '../../core/errors.ts';
import type { Services } from '../../services.ts';
import { listConversations, listFiles, listMjTasks } from '../../store/admin-listings.ts';
import type { ConversationMessage } from '../../store/conversation-store.ts';
import { encodeTask } from '../mj/encode-task.ts';
import { batchObject } from '../v1/batches.ts';
import { encodeFileObject, readable } from '../v1/files.ts';
import { adminRoute, idParam, limitParam, listPage } from './admin-route.ts';

const secs = (ms: number): number => Math.floor(ms / 1000);

const pageQuery = {
  key_id: idParam.optional().describe('Only this key\'s.'),
  after: idParam.optional().describe('`last_id` of the previous page.'),
  limit: limitParam(500, 100),
};

const listOf = (item: z.ZodType) =>
  z.object({ object: z.literal('list'), data: z.array(item), first_id: z.string().nullable(), last_id: z.string().nullable(), has_more: z.boolean() });


/** Batches, files, conversations and Midjourney tasks of every key (or one), newest first, for the dashboard. */
export function resourceRoutes(services: Services) {
  return async function register(app: FastifyInstance): Promise<void> {
    adminRoute(app, {
      method: 'GET',
      url: '/batches',
      tag: 'Batches',
      summary: "Every key's batches, newest first, with progress (request_counts)",
      query: z.strictObject(pageQuery),
      response: listOf(z.object({ id: z.string(), object: z.literal('batch'), status: z.string(), key_id: z.string() }).passthrough()),
      handler: async ({ query }) => {
        const { rows, hasMore } = await services.batches.list({ keyId: query.key_id, after: query.after, limit: query.limit });
        return listPage(rows.map((b) => ({ ...batchObject(b), id: b.id, key_id: b.key_id })), hasMore);
      },
    });

    adminRoute(app, {
      method: 'GET',
      url: '/files/:id/content',
      tag: 'Files',
      summary: "Downloads any key's file (batch input, output and error files) as an attachment",
      params: z.strictObject({ id: idParam }),
      handler: async ({ params, reply }) => {
        const row = await services.files.findAny(params.id);
        if (!row || (row.expires_at !== null && row.expires_at <= services.now())) throw new GatewayError('not_found', `No such File object: ${params.id}`, { param: 'id', publicCode: 'not_found' });
        const bytes = await readable(services.fileStorage.read(row.id));
        // The plain filename= must be printable ASCII (Node refuses others in a header); filename* keeps the real name.
        const name = row.filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
        return reply
          .header('content-type', 'application/octet-stream')
          .header('content-length', String(row.bytes))
          .header('content-disposition', `attachment; filename="${name}"; filename*=UTF-8''${encodeURIComponent(row.filename).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`)
          .send(bytes);
      },
    });

    adminRoute(app, {
      method: 'GET',
      url: '/files',
      tag: 'Files',
      summary: "Every key's files (uploads, batch output and error files), newest first; expired ones are left out",
      query: z.strictObject({ ...pageQuery, purpose: z.string().min(1).max(64).optional() }),
      response: listOf(
        z.object({
          id: z.string(),
          object: z.literal('file'),
          bytes: z.number(),
          created_at: z.number(),
          expires_at: z.number().nullable(),
          filename: z.string(),
          purpose: z.string(),
          status: z.string(),
          key_id: z.string(),
        }),
      ),
      handler: async ({ query }) => {
        const { rows, hasMore } = await listFiles(services.store, { keyId: query.key_id, purpose: query.purpose, after: query.after, limit: query.limit, order: 'desc', now: services.now() });
        return listPage(rows.map((f) => ({ ...encodeFileObject(f), key_id: f.key_id })), hasMore);
      },
    });

    adminRoute(app, {
      method: 'GET',
      url: '/conversations',
      tag: 'Conversations',
      summary: 'Server-kept conversations, newest first (no message text: counts only)',
      description: 'With `redis` configured, conversations live in Redis, listed per key: `key_id` is then required.',
      query: z.strictObject(pageQuery),
      response: listOf(
        z.object({
          id: z.string(),
          object: z.literal('chat.conversation'),
          key_id: z.string(),
          model: z.string(),
          message_count: z.number().int(),
          tokens: z.number().int().describe('The kept history, by the gateway\'s tokenizer.'),
          created_at: z.number(),
          updated_at: z.number(),
          expires_at: z.number(),
        }),
      ),
      handler: async ({ query }) => {
        const now = services.now();
        const view = (c: { id: string; keyId: string; model: string; messages: ConversationMessage[]; createdAt: number; updatedAt: number; expiresAt: number }) => ({
          id: c.id,
          object: 'chat.conversation' as const,
          key_id: c.keyId,
          model: c.model,
          message_count: c.messages.length,
          tokens: c.messages.reduce((n, m) => n + m.tokens, 0),
          created_at: secs(c.createdAt),
          updated_at: secs(c.updatedAt),
          expires_at: secs(c.expiresAt),
        });
        const store = services.conversations.store;
        if (store.backend === 'redis') {
          if (!query.key_id) {
            throw new GatewayError('invalid_request_error', "Missing query parameter 'key_id': conversations live in Redis here, listed per key.", {
              param: 'key_id',
              publicCode: 'missing_required_parameter',
            });
          }
          const { data, hasMore } = await store.list(query.key_id, { limit: query.limit, after: query.after }, now);
          return listPage(data.map(view), hasMore);
        }
        const { rows, hasMore } = await listConversations(services.store, { keyId: query.key_id, after: query.after, limit: query.limit, order: 'desc', now });
        return listPage(
          rows.map((r) =>
            view({ id: r.id, keyId: r.key_id, model: r.model, messages: JSON.parse(r.messages_json) as ConversationMessage[], createdAt: r.created_at, updatedAt: r.updated_at, expiresAt: r.expires_at }),
          ),
          hasMore,
        );
      },
    });

    adminRoute(app, {
      method: 'GET',
      url: '/mj/tasks',
      tag: 'Midjourney',
      summary: 'Midjourney tasks of every key, newest first',
      query: z.strictObject({ ...pageQuery, status: z.string().min(1).max(32).optional().describe('SUBMITTED, IN_PROGRESS, SUCCESS, FAILURE, ...') }),
      response: listOf(z.object({ id: z.string(), key_id: z.string(), upstream: z.string(), status: z.string(), action: z.string() }).passthrough()),
      handler: async ({ query }) => {
        const { rows, hasMore } = await listMjTasks(services.store, { keyId: query.key_id, status: query.status, after: query.after, limit: query.limit, order: 'desc' });
        return listPage(
          rows.map((t) => ({ ...encodeTask(t), key_id: t.key_id, upstream: t.upstream, mode: t.mode, created_at: secs(t.created_at), updated_at: secs(t.updated_at) })),
          hasMore,
        );
      },
    });
  };
}
