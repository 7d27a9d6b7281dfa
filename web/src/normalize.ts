/**
 * Tolerant readers for the admin API's answers: the dashboard takes the fields it knows by
 * their documented names, accepts the near variants a route may use, and ignores the rest.
 */
import { toMs } from './format.ts';

export type Obj = Record<string, unknown>;

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export function num(o: Obj, ...names: string[]): number | null {
  for (const n of names) {
    const v = o[n];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (typeof v === 'string' && v !== '' && Number.isFinite(Number(v))) return Number(v);
  }
  return null;
}

export function str(o: Obj, ...names: string[]): string | null {
  for (const n of names) {
    const v = o[n];
    if (typeof v === 'string') return v;
    if (typeof v === 'number') return String(v);
  }
  return null;
}

/** `{object:"list", data:[...]}`, a bare array, or `{items|results:[...]}`. */
export function listOf(body: unknown): Obj[] {
  if (Array.isArray(body)) return body.filter(isObj);
  if (!isObj(body)) return [];
  for (const k of ['data', 'items', 'results', 'rows']) {
    const v = body[k];
    if (Array.isArray(v)) return v.filter(isObj);
  }
  return [];
}

/** The cursor for the next page of a list answer, if there is one. */
export function nextCursor(body: unknown, rows: Obj[], idField = 'id'): string | null {
  if (!isObj(body)) return null;
  const c = str(body, 'next_cursor', 'next', 'cursor', 'next_page');
  if (c) return c;
  if (body.has_more === true) return str(body, 'last_id') ?? (rows.length ? str(rows[rows.length - 1], idField) : null);
  return null;
}

export interface Bucket {
  /** Bucket start, ms. */
  t: number;
  group: string | null;
  requests: number;
  tokens: number;
  inputTokens: number;
  outputTokens: number;
  cost: number;
  errors: number;
  /** Mean latency in ms, or null when the bucket has no latency figure. */
  latency: number | null;
  /** 95th percentile latency (an upper bound), ms, or null. */
  p95: number | null;
}

const TIME_FIELDS = ['start', 'bucket', 'bucket_start', 'period_start', 'start_time', 'time', 'ts', 't', 'date', 'day', 'hour'];

function bucketRow(row: Obj, t: number | null, groupBy: string | undefined): Bucket | null {
  let time = t;
  for (const f of TIME_FIELDS) {
    if (time !== null) break;
    time = toMs(row[f]);
  }
  if (time === null) return null;
  const input = num(row, 'prompt_tokens', 'input_tokens') ?? 0;
  const output = num(row, 'completion_tokens', 'output_tokens') ?? 0;
  const tokens = num(row, 'total_tokens', 'tokens') ?? input + output;
  const requests = num(row, 'requests', 'request_count', 'num_requests', 'num_model_requests', 'count') ?? 0;
  let errors = num(row, 'errors', 'error_count', 'failed', 'failures');
  if (errors === null) {
    const ok = num(row, 'succeeded', 'success_count', 'ok');
    errors = ok === null ? 0 : Math.max(0, requests - ok);
  }
  let group: string | null = null;
  if (groupBy) {
    const g = row.group;
    if (isObj(g)) group = str(g, groupBy) ?? Object.values(g).map(String).join(' · ');
    else group = str(row, 'group', groupBy, 'key', 'name');
  }
  return {
    t: time,
    group,
    requests,
    tokens,
    inputTokens: input,
    outputTokens: output,
    cost: num(row, 'cost_usd', 'cost', 'usd', 'spend_usd') ?? 0,
    errors,
    latency: num(row, 'avg_latency_ms', 'latency_avg_ms', 'latency_ms_avg', 'mean_latency_ms', 'latency_ms', 'latency_p50_ms', 'p50_latency_ms'),
    p95: num(row, 'p95_latency_ms', 'latency_p95_ms'),
  };
}

/** Usage buckets from /admin/usage or /admin/keys/{id}/usage, flat or nested (`{start, results:[...]}`). */
export function readBuckets(body: unknown, groupBy?: string): Bucket[] {
  const out: Bucket[] = [];
  let rows = listOf(body);
  if (!rows.length && isObj(body)) {
    for (const k of ['buckets', 'series', 'by_day', 'by_hour', 'days']) {
      if (Array.isArray(body[k])) {
        rows = (body[k] as unknown[]).filter(isObj);
        break;
      }
    }
  }
  for (const row of rows) {
    const nested = Array.isArray(row.results) ? row.results.filter(isObj) : Array.isArray(row.groups) ? row.groups.filter(isObj) : null;
    if (nested) {
      let t: number | null = null;
      for (const f of TIME_FIELDS) if (t === null) t = toMs(row[f]);
      for (const r of nested) {
        const b = bucketRow(r, t, groupBy);
        if (b) out.push(b);
      }
    } else {
      const b = bucketRow(row, null, groupBy);
      if (b) out.push(b);
    }
  }
  return out.sort((a, b) => a.t - b.t);
}

export interface SeriesPoint {
  t: number;
  requests: number;
  tokens: number;
  cost: number;
  errors: number;
  latency: number | null;
  /** The highest p95 of the bucket's groups. */
  p95: number | null;
}

/** The start of the local hour or day holding `t` (the server cuts buckets there when given our tz_offset_minutes). */
export function alignLocal(t: number, interval: 'hour' | 'day'): number {
  const d = new Date(t);
  if (interval === 'hour') d.setMinutes(0, 0, 0);
  else d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** The next local hour or day after an aligned `t` (by the calendar, so a DST day is still one day). */
export function stepLocal(t: number, interval: 'hour' | 'day'): number {
  const d = new Date(t);
  if (interval === 'hour') d.setHours(d.getHours() + 1);
  else d.setDate(d.getDate() + 1);
  return d.getTime();
}

/** The browser's offset from UTC in minutes east, as the admin API's tz_offset_minutes takes it. */
export function tzOffsetMinutes(at = Date.now()): number {
  return -new Date(at).getTimezoneOffset();
}

/** Buckets summed over groups, one point per bucket of the range (empty buckets as zeros). */
export function toSeries(buckets: Bucket[], startMs: number, endMs: number, interval: 'hour' | 'day'): SeriesPoint[] {
  const byT = new Map<number, SeriesPoint & { latWeight: number; latSum: number }>();
  const slot = (t: number) => {
    let p = byT.get(t);
    if (!p) {
      p = { t, requests: 0, tokens: 0, cost: 0, errors: 0, latency: null, p95: null, latWeight: 0, latSum: 0 };
      byT.set(t, p);
    }
    return p;
  };
  for (let t = alignLocal(startMs, interval); t < endMs; t = stepLocal(t, interval)) slot(t);
  for (const b of buckets) {
    const p = slot(alignLocal(b.t, interval));
    p.requests += b.requests;
    p.tokens += b.tokens;
    p.cost += b.cost;
    p.errors += b.errors;
    if (b.latency !== null) {
      const w = Math.max(1, b.requests);
      p.latSum += b.latency * w;
      p.latWeight += w;
    }
    if (b.p95 !== null) p.p95 = Math.max(p.p95 ?? 0, b.p95);
  }
  return [...byT.values()]
    .sort((a, b) => a.t - b.t)
    .map(({ latWeight, latSum, ...p }) => ({ ...p, latency: latWeight ? latSum / latWeight : null }));
}
