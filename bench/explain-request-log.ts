/**
 * The admin API's request-log and aggregate queries on a usage table of ROWS rows (default one
 * million): seeds a throwaway database, then prints each query's plan and time. SQLite always;
 * PostgreSQL too when SWITCHYARD_TEST_PG_URL is set (a database is made and dropped).
 *
 *   node --import tsx bench/explain-request-log.ts            # 1,000,000 rows
 *   ROWS=200000 node --import tsx bench/explain-request-log.ts
 *
 * Nothing is kept: the data lives in a temporary directory / database removed at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import type { Store } from '../src/store/db.ts';
import { migrateToLatest } from '../src/store/migrate.ts';
import { RequestLogRepository } from '../src/store/request-log.repository.ts';
import type { Database } from '../src/store/tables.ts';

const ROWS = Number(process.env.ROWS ?? 1_000_000);
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 0, 31);
const KEYS = 200;
const MODELS = ['gpt-4o-mini', 'gpt-4o', 'claude-sonnet-4', 'gemini-2.5-flash', 'deepseek-chat', 'llama3:8b'];
const UPSTREAMS = ['openai', 'azure', 'anthropic', 'gemini', 'relay-a', 'relay-b'];

interface Captured {
  sql: string;
  parameters: readonly unknown[];
}

/** The queries each admin view runs, as the repository builds them. */
async function views(repo: RequestLogRepository): Promise<Array<[string, () => Promise<unknown>]>> {
  const monthAgo = NOW - 30 * DAY;
  const page = await repo.page({}, 50);
  const cursor = page.next!;
  return [
    ['log: newest 50, no filter', () => repo.page({}, 50)],
    ['log: next page (cursor)', () => repo.page({}, 50, cursor)],
    ['log: one key, last 30 days', () => repo.page({ keyId: 'key_7', start: monthAgo }, 50)],
    ['log: one model', () => repo.page({ model: 'claude-sonnet-4' }, 50)],
    ['log: one upstream', () => repo.page({ upstream: 'relay-b' }, 50)],
    ['log: errors only', () => repo.page({ status: 'error' }, 50)],
    ['log: status 429', () => repo.page({ status: 429 }, 50)],
    ['usage: last 24 h by hour and model', () => repo.aggregate({ start: NOW - DAY, end: NOW }, { intervalMs: 3_600_000, groupBy: 'model' })],
    ['usage: last 30 days by day and model', () => repo.aggregate({ start: monthAgo, end: NOW }, { intervalMs: DAY, groupBy: 'model' })],
    ['usage: last 30 days by day and key', () => repo.aggregate({ start: monthAgo, end: NOW }, { intervalMs: DAY, groupBy: 'key' })],
    ['key usage: one key, 30 days by day', () => repo.aggregate({ keyId: 'key_7', start: monthAgo, end: NOW }, { intervalMs: DAY, groupBy: 'none' })],
  ];
}

function capturingDb(dialect: SqliteDialect | PostgresDialect, sink: Captured[]): Kysely<Database> {
  return new Kysely<Database>({
    dialect,
    log: (event) => {
      if (event.level === 'query') sink.push({ sql: event.query.sql, parameters: event.query.parameters });
    },
  });
}

async function runSqlite(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-explain-'));
  const sqlite = new SQLite(join(dir, 'explain.db'));
  sqlite.pragma('journal_mode = WAL');
  const captured: Captured[] = [];
  const db = capturingDb(new SqliteDialect({ database: sqlite }), captured);
  const store: Store = { db, dialect: 'sqlite', sqlite, close: () => db.destroy() };
  try {
    await migrateToLatest(store);
    const insert = sqlite.prepare(
      `INSERT INTO usage_records (request_id, key_id, endpoint, model, upstream, stream, status, prompt_tokens, completion_tokens, total_tokens, cost_usd, charged, latency_ms, created_at)
       VALUES (?, ?, 'chat.completions', ?, ?, 0, ?, ?, ?, ?, ?, 1, ?, ?)`,
    );
    const t0 = performance.now();
    sqlite.transaction(() => {
      for (let i = 0; i < ROWS; i++) {
        const status = i % 97 === 0 ? 502 : i % 53 === 0 ? 429 : 200;
        insert.run(`req_${i.toString(36).padStart(8, '0')}`, `key_${i % KEYS}`, MODELS[i % MODELS.length], UPSTREAMS[(i * 7) % UPSTREAMS.length], status, 100, 50, 150, 0.0004, 200 + (i % 3000), NOW - Math.floor(((ROWS - i) / ROWS) * 90 * DAY));
      }
    })();
    sqlite.exec('ANALYZE');
    console.log(`SQLite: ${ROWS.toLocaleString()} rows seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    for (const [name, run] of await views(new RequestLogRepository(store))) {
      captured.length = 0;
      const s = performance.now();
      await run();
      const ms = performance.now() - s;
      const q = captured.at(-1)!;
      const plan = sqlite.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).all(...(q.parameters as unknown[])) as Array<{ detail: string }>;
      console.log(`## ${name}: ${ms.toFixed(1)} ms\n${plan.map((p) => `  ${p.detail}`).join('\n')}\n`);
    }
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runPostgres(url: string): Promise<void> {
  const name = `switchyard_explain_${process.pid}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const target = new URL(url);
  target.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: target.toString(), max: 2 });
  const captured: Captured[] = [];
  const db = capturingDb(new PostgresDialect({ pool }), captured);
  const store: Store = { db, dialect: 'postgres', close: () => db.destroy() };
  try {
    await migrateToLatest(store);
    const t0 = performance.now();
    const models = `(array[${MODELS.map((m) => `'${m}'`).join(',')}])`;
    const ups = `(array[${UPSTREAMS.map((m) => `'${m}'`).join(',')}])`;
    await pool.query(
      `INSERT INTO usage_records (request_id, key_id, endpoint, model, upstream, stream, status, prompt_tokens, completion_tokens, total_tokens, cost_usd, charged, latency_ms, created_at)
       SELECT 'req_' || lpad(to_hex(i), 8, '0'), 'key_' || (i % ${KEYS}), 'chat.completions', ${models}[i % ${MODELS.length} + 1], ${ups}[(i * 7) % ${UPSTREAMS.length} + 1], 0,
              CASE WHEN i % 97 = 0 THEN 502 WHEN i % 53 = 0 THEN 429 ELSE 200 END, 100, 50, 150, 0.0004, 1, 200 + i % 3000,
              ${NOW} - floor(((${ROWS} - i)::float8 / ${ROWS}) * 90 * ${DAY})::bigint
       FROM generate_series(0, ${ROWS - 1}) AS i`,
    );
    await pool.query('VACUUM ANALYZE usage_records');
    console.log(`PostgreSQL: ${ROWS.toLocaleString()} rows seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    for (const [label, run] of await views(new RequestLogRepository(store))) {
      captured.length = 0;
      const s = performance.now();
      await run();
      const ms = performance.now() - s;
      const q = captured.at(-1)!;
      const plan = await pool.query(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) ${q.sql}`, q.parameters as unknown[]);
      console.log(`## ${label}: ${ms.toFixed(1)} ms\n${plan.rows.map((r: Record<string, string>) => `  ${r['QUERY PLAN']}`).join('\n')}\n`);
    }
  } finally {
    await db.destroy();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

await runSqlite();
if (process.env.SWITCHYARD_TEST_PG_URL) await runPostgres(process.env.SWITCHYARD_TEST_PG_URL);
