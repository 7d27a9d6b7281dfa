import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.ts';
import type { KeyState } from '../../metering/keys.ts';
import { mjInvalid, mjTaskNotFound } from '../../routing/mj-relay.ts';
import { fetchMidjourneyImage } from '../../routing/mj-upstream.ts';
import type { Services } from '../../services.ts';
import { encodeTask } from './encode-task.ts';

/** Most ids one list-by-condition call may name. */
const MAX_IDS = 1000;

type IdRequest = FastifyRequest<{ Params: { id: string } }>;

function requireKey(request: FastifyRequest): KeyState {
  if (!request.apiKey) throw new GatewayError('invalid_api_key', 'Missing API key.');
  return request.apiKey;
}

/**
 * Reading tasks: what the poller last saw at the upstream, under the gateway's ids, for the
 * key that made them (another key's task does not exist for this one).
 */
export function mjTaskRoutes(services: Services) {
  const owned = async (request: IdRequest) => {
    const row = await services.mjTasks.findOwned(request.params.id, requireKey(request).id);
    if (!row) throw mjTaskNotFound(request.params.id);
    return row;
  };

  return {
    /** GET /mj/task/{id}/fetch */
    fetch: async (request: IdRequest) => encodeTask(await owned(request)),

    /** POST /mj/task/list-by-condition `{ids: [...]}`: the key's tasks among them; unknown ids are left out. */
    listByCondition: async (request: FastifyRequest) => {
      const key = requireKey(request);
      const body = request.body as { ids?: unknown } | undefined;
      const ids = body?.ids;
      if (ids === undefined || ids === null) return [];
      if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) throw mjInvalid('ids must be an array of task ids.', 'ids');
      if (ids.length > MAX_IDS) throw mjInvalid(`At most ${MAX_IDS} ids per call.`, 'ids');
      return (await services.mjTasks.findManyOwned([...new Set(ids)], key.id)).map(encodeTask);
    },

    /** GET /mj/image/{id}: the task's image, fetched from the upstream's image host and streamed. */
    image: async (request: IdRequest, reply: FastifyReply) => {
      const row = await owned(request);
      if (!row.image_url) throw new GatewayError('not_found', `Task ${row.id} has no image yet.`, { param: 'id', publicCode: 'image_not_ready' });
      const u = services.upstreamSet.get(row.upstream);
      if (!u) throw new GatewayError('upstream_unreachable', `The upstream that made task ${row.id} is not configured any more.`, { status: 503, publicCode: null });
      const abort = new AbortController();
      reply.raw.once('close', () => abort.abort());
      const res = await fetchMidjourneyImage(u, row.image_url, abort.signal);
      if (res.statusCode !== 200) {
        await res.body.dump().catch(() => undefined);
        throw new GatewayError('upstream_error', `The image host answered ${res.statusCode} for task ${row.id}'s image.`, { status: 502, upstreamStatus: res.statusCode });
      }
      const type = res.headers['content-type'];
      const length = res.headers['content-length'];
      reply.header('content-type', typeof type === 'string' ? type : 'image/png');
      if (typeof length === 'string') reply.header('content-length', length);
      // A finished task's image never changes; a preview of one in progress does.
      reply.header('cache-control', row.status === 'SUCCESS' ? 'private, max-age=86400' : 'no-store');
      return reply.send(res.body);
    },
  };
}
