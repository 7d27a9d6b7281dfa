import { type ExpressionBuilder, type SelectQueryBuilder, sql } from 'kysely';
import type { Store } from './db.ts';
import type { Database, UsageRecordRow } from './tables.ts';
import { roundUsd } from './usage-records.repository.ts';

/**
 * The admin's views of usage_records: the request log (keyset pages, newest first) and
 * aggregates per time bucket. Each query is shaped to one index of migration 008 (see
 * docs/admin-api.md for which serves which view and the query plans at a million rows).
 */

/** `error`: any status >= 400 (served by the partial index of failed requests); `ok`: below 400. */
export type StatusFilter = number | 'error' | 'ok';

export interface RequestLogFilter {
  /** Inclusive, unix ms. */
  start?: number;
  /** Exclusive, unix ms. */
  end?: number;
  keyId?: string;
  model?: string;
  upstream?: string;
  status?: StatusFilter;
}

/** Where a page ended: the last row's (created_at, request_id). */
export interface LogCursor {
  createdAt: number;
  requestId: string;
}

export type GroupBy = 'model' | 'key' | 'upstream' | 'endpoint' | 'none';

export interface UsageBucket {
  /** Bucket start, unix ms (null when not grouped by time). */
  bucket: number | null;
  group: string | null;
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cost_usd: number;
  avg_latency_ms: number | null;
  /** Upper bound of the latency bucket holding the 95th percentile (null above the largest bound). */
  p95_latency_ms: number | null;
}

/** Latency bounds (ms) counted per bucket: the p95 is read from these, not sorted per row. */
const LATENCY_BOUNDS = [100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000] as const;

const GROUP_COLUMN = { model: 'model', key: 'key_id', upstream: 'upstream', endpoint: 'endpoint' } as const;

export function encodeCursor(c: LogCursor): string {
  return Buffer.from(`${c.createdAt}:${c.requestId}`, 'utf8').toString('base64url');
}

export function decodeCursor(text: string): LogCursor | undefined {
  const raw = Buffer.from(text, 'base64url').toString('utf8');
  const at = raw.indexOf(':');
  const createdAt = Number(raw.slice(0, at));
  if (at <= 0 || !Number.isSafeInteger(createdAt) || raw.length === at + 1) return undefined;
  return { createdAt, requestId: raw.slice(at + 1) };
}

export class RequestLogRepository {
  constructor(private readonly store: Store) {}

  private filtered(f: RequestLogFilter): SelectQueryBuilder<Database, 'usage_records', object> {
    let q = this.store.db.selectFrom('usage_records');
    if (f.keyId !== undefined) q = q.where('key_id', '=', f.keyId);
    if (f.model !== undefined) q = q.where('model', '=', f.model);
    if (f.upstream !== undefined) q = q.where('upstream', '=', f.upstream);
    if (f.status === 'error') q = q.where('status', '>=', 400);
    else if (f.status === 'ok') q = q.where('status', '<', 400);
    else if (typeof f.status === 'number') {
      q = q.where('status', '=', f.status);
      // Spelled out so the planners see the partial index of failed requests applies.
      if (f.status >= 400) q = q.where('status', '>=', 400);
    }
    if (f.start !== undefined) q = q.where('created_at', '>=', f.start);
    if (f.end !== undefined) q = q.where('created_at', '<', f.end);
    return q;
  }

  /** One page of the log, newest first; one row more than `limit` says whether more follow. */
  async page(f: RequestLogFilter, limit: number, cursor?: LogCursor): Promise<{ rows: UsageRecordRow[]; next: LogCursor | undefined }> {
    let q = this.filtered(f).selectAll();
    if (cursor) {
      q = q.where((eb: ExpressionBuilder<Database, 'usage_records'>) => eb(eb.refTuple('created_at', 'request_id'), '<', eb.tuple(cursor.createdAt, cursor.requestId)));
    }
    const rows = await q.orderBy('created_at', 'desc').orderBy('request_id', 'desc').limit(limit + 1).execute();
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return { rows: page, next: rows.length > limit && last ? { createdAt: Number(last.created_at), requestId: last.request_id } : undefined };
  }

  find(requestId: string): Promise<UsageRecordRow | undefined> {
    return this.store.db.selectFrom('usage_records').selectAll().where('request_id', '=', requestId).executeTakeFirst();
  }

  /**
   * Sums per time bucket (`intervalMs`, aligned to UTC shifted by `offsetMs`) and group. Tokens
   * and cost count charged records only, as /v1/usage does; requests and errors count all.
   */
  async aggregate(f: RequestLogFilter, opts: { intervalMs?: number; offsetMs?: number; groupBy: GroupBy }): Promise<UsageBucket[]> {
    const bucket =
      opts.intervalMs === undefined
        ? sql<number | null>`null`
        : sql<number>`((created_at + ${sql.lit(opts.offsetMs ?? 0)}) / ${sql.lit(opts.intervalMs)}) * ${sql.lit(opts.intervalMs)} - ${sql.lit(opts.offsetMs ?? 0)}`;
    const group = opts.groupBy === 'none' ? sql<string | null>`null` : sql<string | null>`${sql.ref(GROUP_COLUMN[opts.groupBy])}`;
    const charged = (col: string) => sql<number>`coalesce(sum(case when charged = 1 then ${sql.ref(col)} else 0 end), 0)`;
    let q = this.filtered(f).select([
      bucket.as('bucket'),
      group.as('grp'),
      sql<number>`count(*)`.as('requests'),
      sql<number>`coalesce(sum(case when status >= 400 then 1 else 0 end), 0)`.as('errors'),
      charged('prompt_tokens').as('prompt_tokens'),
      charged('completion_tokens').as('completion_tokens'),
      charged('total_tokens').as('total_tokens'),
      charged('cost_usd').as('cost_usd'),
      sql<number | null>`avg(latency_ms)`.as('avg_latency_ms'),
      ...LATENCY_BOUNDS.map((b, i) => sql<number>`sum(case when latency_ms <= ${sql.lit(b)} then 1 else 0 end)`.as(`le${i}`)),
    ]);
    // Positions, not expressions: PostgreSQL needs GROUP BY to match the SELECT's expressions exactly.
    if (opts.intervalMs !== undefined && opts.groupBy !== 'none') q = q.groupBy([sql`1`, sql`2`]);
    else if (opts.intervalMs !== undefined) q = q.groupBy(sql`1`);
    else if (opts.groupBy !== 'none') q = q.groupBy(sql`2`);
    const rows = (await q.orderBy(sql`1`).orderBy(sql`2`).execute()) as Array<Record<string, unknown>>;
    return rows
      .map((r) => {
        const requests = Number(r.requests);
        let p95: number | null = null;
        for (let i = 0; i < LATENCY_BOUNDS.length; i++) {
          if (Number(r[`le${i}`]) >= 0.95 * requests) {
            p95 = LATENCY_BOUNDS[i];
            break;
          }
        }
        return {
          bucket: r.bucket === null ? null : Number(r.bucket),
          group: (r.grp as string | null) ?? null,
          requests,
          errors: Number(r.errors),
          prompt_tokens: Number(r.prompt_tokens),
          completion_tokens: Number(r.completion_tokens),
          total_tokens: Number(r.total_tokens),
          cost_usd: roundUsd(Number(r.cost_usd)),
          avg_latency_ms: r.avg_latency_ms === null ? null : Math.round(Number(r.avg_latency_ms)),
          p95_latency_ms: p95,
        };
      })
      .filter((r) => r.requests > 0);
  }
}
