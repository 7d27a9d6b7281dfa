import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { GatewayError } from '../../core/errors.ts';
import type { Services } from '../../services.ts';
import { decodeCursor, encodeCursor, type GroupBy, type RequestLogFilter, RequestLogRepository, type StatusFilter, type UsageBucket } from '../../store/request-log.repository.ts';
import type { UsageRecordRow } from '../../store/tables.ts';
import { adminRoute, idParam, limitParam, timeParam } from './admin-route.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Most buckets one answer may hold (an hourly view of about 80 days, a daily one of 5 years). */
const MAX_BUCKETS = 2000;

const secs = (ms: number | null): number | null => (ms === null ? null : Math.floor(ms / 1000));

const bucketSchema = z.object({
  bucket: z.number().int().nullable().describe('Start of the bucket, unix seconds (null when not grouped by time).'),
  group: z.string().nullable().describe('The model, key id, upstream or endpoint (null when not grouped).'),
  requests: z.number().int(),
  errors: z.number().int().describe('Requests answered with status >= 400.'),
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  total_tokens: z.number().int(),
  cost_usd: z.number(),
  avg_latency_ms: z.number().nullable(),
  p95_latency_ms: z.number().nullable().describe('Upper bound of the latency bucket (100, 250, 500 ms, 1, 2.5, 5, 10, 30, 60 s) holding the 95th percentile; null above 60 s.'),
});

const totalsSchema = bucketSchema.omit({ bucket: true, group: true });

const usageReportSchema = z.object({
  object: z.literal('usage_report'),
  start: z.number().int(),
  end: z.number().int(),
  interval: z.enum(['hour', 'day']).nullable(),
  group_by: z.enum(['model', 'key', 'upstream', 'endpoint', 'none']),
  totals: totalsSchema,
  data: z.array(bucketSchema.extend({ key_name: z.string().nullable().optional() })),
});

const recordSchema = z.object({
  object: z.literal('request'),
  request_id: z.string(),
  created_at: z.number().describe('When it ended, unix seconds with milliseconds.'),
  key_id: z.string().nullable(),
  key_name: z.string().nullable(),
  endpoint: z.string(),
  model: z.string(),
  requested_model: z.string().nullable(),
  upstream: z.string().nullable(),
  upstream_model: z.string().nullable(),
  stream: z.boolean(),
  status: z.number().int(),
  error_code: z.string().nullable(),
  prompt_tokens: z.number(),
  cached_tokens: z.number(),
  completion_tokens: z.number(),
  reasoning_tokens: z.number(),
  total_tokens: z.number(),
  cost_usd: z.number(),
  estimated: z.boolean(),
  charged: z.boolean(),
  latency_ms: z.number(),
  ttft_ms: z.number().nullable(),
  attempts: z.number(),
  unit: z.string(),
  quantity: z.number(),
});

const statusParam = z
  .string()
  .regex(/^(\d{3}|error|ok)$/, 'expected an HTTP status (429), `error` (>= 400) or `ok` (< 400)')
  .transform((v): StatusFilter => (v === 'error' || v === 'ok' ? v : Number(v)))
  .describe('An HTTP status (429), `error` (any >= 400) or `ok` (< 400).');

const tzParam = z.coerce
  .number()
  .int()
  .min(-840)
  .max(840)
  .default(0)
  .describe('Minutes east of UTC where days (and hours) start, e.g. 480 for China (default 0, UTC).');

/** /admin/usage, /admin/requests and /admin/keys/{id}/usage: server-side aggregation and keyset pages over usage_records. */
export function usageRoutes(services: Services) {
  return async function register(app: FastifyInstance): Promise<void> {
    const log = new RequestLogRepository(services.store);
    const tag = 'Usage';

    /** Names of the keys in a page, in one query. */
    const keyNames = async (ids: Iterable<string | null>): Promise<Map<string, string>> => {
      const list = [...new Set([...ids].filter((id): id is string => id !== null))];
      if (list.length === 0) return new Map();
      const rows = await services.store.db.selectFrom('api_keys').select(['id', 'name']).where('id', 'in', list).execute();
      return new Map(rows.map((r) => [r.id, r.name]));
    };

    const recordView = (r: UsageRecordRow, names: Map<string, string>) => ({
      object: 'request' as const,
      request_id: r.request_id,
      created_at: Number(r.created_at) / 1000,
      key_id: r.key_id,
      key_name: r.key_id === null ? null : (names.get(r.key_id) ?? null),
      endpoint: r.endpoint,
      model: r.model,
      requested_model: r.requested_model,
      upstream: r.upstream,
      upstream_model: r.upstream_model,
      stream: r.stream === 1,
      status: r.status,
      error_code: r.error_code,
      prompt_tokens: Number(r.prompt_tokens),
      cached_tokens: Number(r.cached_tokens),
      completion_tokens: Number(r.completion_tokens),
      reasoning_tokens: Number(r.reasoning_tokens),
      total_tokens: Number(r.total_tokens),
      cost_usd: Number(r.cost_usd),
      estimated: r.estimated === 1,
      charged: r.charged === 1,
      latency_ms: r.latency_ms,
      ttft_ms: r.ttft_ms,
      attempts: r.attempts,
      unit: r.unit,
      quantity: Number(r.quantity),
    });

    /** A time range (by default the `defaultSpanMs` before now) with a bound on the buckets it makes. */
    const range = (q: { start?: number; end?: number }, intervalMs: number | undefined, defaultSpanMs: number): { start: number; end: number } => {
      const end = q.end ?? services.now();
      const start = q.start ?? end - defaultSpanMs;
      if (start >= end) throw new GatewayError('invalid_request_error', "Invalid 'start': it must be before 'end'.", { param: 'start', publicCode: 'invalid_value' });
      if (intervalMs !== undefined && (end - start) / intervalMs > MAX_BUCKETS) {
        throw new GatewayError('invalid_request_error', `Invalid 'start': at most ${MAX_BUCKETS} buckets per answer; use a shorter range or interval=day.`, {
          param: 'start',
          publicCode: 'invalid_value',
        });
      }
      return { start, end };
    };

    const report = async (filter: RequestLogFilter, intervalMs: number | undefined, offsetMs: number, groupBy: GroupBy) => {
      await services.recorder.flush();
      const [rows, totals] = await Promise.all([log.aggregate(filter, { intervalMs, offsetMs, groupBy }), log.aggregate(filter, { groupBy: 'none' })]);
      const names = groupBy === 'key' ? await keyNames(rows.map((r) => r.group)) : undefined;
      const strip = ({ bucket: _b, group: _g, ...rest }: UsageBucket) => rest;
      return {
        totals: totals[0] ? strip(totals[0]) : strip(emptyBucket()),
        data: rows.map((r) => ({ ...r, bucket: secs(r.bucket), ...(names ? { key_name: r.group === null ? null : (names.get(r.group) ?? null) } : {}) })),
      };
    };

    adminRoute(app, {
      method: 'GET',
      url: '/usage',
      tag,
      summary: 'Usage aggregates per hour or day, by model, key, upstream or endpoint',
      description:
        'Requests and errors count every request; tokens and cost count charged ones (as /v1/usage). Defaults: the last 24 hours by hour, or the last 30 days by day.',
      query: z.strictObject({
        start: timeParam.optional(),
        end: timeParam.optional(),
        interval: z.enum(['hour', 'day']).default('hour'),
        group_by: z.enum(['model', 'key', 'upstream', 'endpoint', 'none']).default('none'),
        key_id: idParam.optional(),
        model: z.string().min(1).optional(),
        upstream: z.string().min(1).optional(),
        tz_offset_minutes: tzParam,
      }),
      response: usageReportSchema,
      handler: async ({ query }) => {
        const intervalMs = query.interval === 'day' ? DAY_MS : HOUR_MS;
        const { start, end } = range(query, intervalMs, query.interval === 'day' ? 30 * DAY_MS : DAY_MS);
        const filter = { start, end, keyId: query.key_id, model: query.model, upstream: query.upstream };
        const out = await report(filter, intervalMs, query.tz_offset_minutes * 60_000, query.group_by);
        return { object: 'usage_report', start: secs(start), end: secs(end), interval: query.interval, group_by: query.group_by, ...out };
      },
    });

    adminRoute(app, {
      method: 'GET',
      url: '/keys/:id/usage',
      tag: 'Keys',
      summary: "One key's usage per day or hour, or per model",
      description: 'Defaults to the last 30 days. Works for revoked keys too (their records stay).',
      params: z.object({ id: idParam }),
      query: z.strictObject({
        start: timeParam.optional(),
        end: timeParam.optional(),
        group_by: z.enum(['day', 'hour', 'model']).default('day'),
        tz_offset_minutes: tzParam,
      }),
      response: usageReportSchema.extend({ key_id: z.string() }),
      handler: async ({ params, query }) => {
        const key = await services.store.db.selectFrom('api_keys').select('id').where('id', '=', params.id).executeTakeFirst();
        if (!key) throw new GatewayError('not_found', `No API key with id '${params.id}'.`, { param: 'id', publicCode: 'not_found' });
        const intervalMs = query.group_by === 'day' ? DAY_MS : query.group_by === 'hour' ? HOUR_MS : undefined;
        const { start, end } = range(query, intervalMs, 30 * DAY_MS);
        const out = await report({ start, end, keyId: params.id }, intervalMs, query.tz_offset_minutes * 60_000, query.group_by === 'model' ? 'model' : 'none');
        return {
          object: 'usage_report',
          key_id: params.id,
          start: secs(start),
          end: secs(end),
          interval: intervalMs === undefined ? null : query.group_by,
          group_by: query.group_by === 'model' ? 'model' : 'none',
          ...out,
        };
      },
    });

    adminRoute(app, {
      method: 'GET',
      url: '/requests',
      tag,
      summary: 'The request log, newest first, with filters; pages by a cursor',
      description: 'Pass the answer\'s `next_cursor` as `cursor` for the next page (stable while new requests arrive).',
      query: z.strictObject({
        start: timeParam.optional(),
        end: timeParam.optional(),
        key_id: idParam.optional(),
        model: z.string().min(1).optional(),
        upstream: z.string().min(1).optional(),
        status: statusParam.optional(),
        limit: limitParam(500, 50),
        cursor: z.string().min(1).max(400).optional(),
      }),
      response: z.object({ object: z.literal('list'), data: z.array(recordSchema), has_more: z.boolean(), next_cursor: z.string().nullable() }),
      handler: async ({ query }) => {
        const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
        if (query.cursor !== undefined && !cursor) {
          throw new GatewayError('invalid_request_error', "Invalid query parameter 'cursor': not a cursor this API gave out.", { param: 'cursor', publicCode: 'invalid_value' });
        }
        await services.recorder.flush();
        const filter = { start: query.start, end: query.end, keyId: query.key_id, model: query.model, upstream: query.upstream, status: query.status };
        const { rows, next } = await log.page(filter, query.limit, cursor);
        const names = await keyNames(rows.map((r) => r.key_id));
        return { object: 'list', data: rows.map((r) => recordView(r, names)), has_more: next !== undefined, next_cursor: next ? encodeCursor(next) : null };
      },
    });

    adminRoute(app, {
      method: 'GET',
      url: '/requests/:request_id',
      tag,
      summary: 'One request of the log (its x-request-id)',
      params: z.object({ request_id: z.string().min(1).max(128) }),
      response: recordSchema,
      handler: async ({ params }) => {
        let row = await log.find(params.request_id);
        if (!row) {
          await services.recorder.flush();
          row = await log.find(params.request_id);
        }
        if (!row) throw new GatewayError('not_found', `No request with id '${params.request_id}'.`, { param: 'request_id', publicCode: 'not_found' });
        return recordView(row, await keyNames([row.key_id]));
      },
    });
  };
}

function emptyBucket(): UsageBucket {
  return { bucket: null, group: null, requests: 0, errors: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost_usd: 0, avg_latency_ms: null, p95_latency_ms: null };
}
