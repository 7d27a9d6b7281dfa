/**
 * The usage recorder charges keys and users for the records it actually inserts, so a flush
 * retried after a commit whose answer was lost (the connection dropped right after COMMIT)
 * writes each record once and charges it once, on SQLite and PostgreSQL.
 */
import type { Kysely } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageRecorder } from '../../src/metering/usage-recorder.ts';
import { openStore, type Store } from '../../src/store/db.ts';
import { migrateToLatest } from '../../src/store/migrate.ts';
import type { Database, NewUsageRecord } from '../../src/store/tables.ts';
import { DATABASE_KINDS, openTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

function record(id: string, over: Partial<NewUsageRecord> = {}): NewUsageRecord {
  return {
    request_id: id,
    key_id: 'key_r',
    endpoint: 'chat.completions',
    model: 'm',
    upstream: 'main',
    upstream_model: 'm',
    stream: 0,
    status: 200,
    error_code: null,
    prompt_tokens: 10,
    cached_tokens: 0,
    completion_tokens: 5,
    reasoning_tokens: 0,
    total_tokens: 15,
    cost_usd: 0.25,
    estimated: 0,
    charged: 1,
    latency_ms: 1,
    ttft_ms: null,
    created_at: Date.now(),
    user_id: 'user_r',
    ...over,
  };
}

/** The store, except that the next `lose` transactions commit and then fail as if the answer to COMMIT never arrived. */
function losingAcks(store: Store): { store: Store; lose: (n: number) => void } {
  let losing = 0;
  const db = new Proxy(store.db, {
    get(target, prop, receiver) {
      if (prop !== 'transaction') return Reflect.get(target, prop, receiver) as unknown;
      return () => ({
        execute: async <T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> => {
          const out = await target.transaction().execute(fn);
          if (losing > 0) {
            losing--;
            throw new Error('Connection terminated unexpectedly');
          }
          return out;
        },
      });
    },
  });
  return { store: { ...store, db }, lose: (n) => (losing = n) };
}

describe.each(DATABASE_KINDS)('usage recorder on %s', (kind) => {
  let tdb: TestDatabase;
  let store: Store;

  beforeAll(async () => {
    tdb = await openTestDatabase(kind);
    store = openStore(tdb.url);
    await migrateToLatest(store);
    const at = Date.now();
    await store.db
      .insertInto('api_keys')
      .values({ id: 'key_r', name: 'r', key_hash: 'h-r', key_prefix: 'sk-r', quota_tokens: null, quota_usd: null, expires_at: null, models: null, rpm: null, tpm: null, max_concurrency: null, allowed_ips: null, deleted_at: null, created_at: at, updated_at: at, last_used_at: null, user_id: 'user_r' })
      .execute();
    await store.db.insertInto('users').values({ id: 'user_r', email: 'r@example.com', display_name: 'r', password_hash: null, group_name: 'default', status: 'active', created_at: at, updated_at: at, last_sign_in_at: null, deleted_at: null }).execute();
  });

  afterAll(async () => {
    await store?.close();
    await tdb?.drop();
  });

  it('a flush retried after a lost COMMIT answer writes and charges each record once', async () => {
    const faulty = losingAcks(store);
    const recorder = new UsageRecorder(faulty.store, pino({ level: 'silent' }), { intervalMs: 60_000, batchSize: 10_000 });
    for (let i = 0; i < 4; i++) recorder.record(record(`${kind}-r${i}`), { keyId: 'key_r', userId: 'user_r', tokens: 15, usd: 0.25 });
    expect(recorder.pendingFor('key_r')).toEqual({ tokens: 60, usd: 1 });
    faulty.lose(1);
    await expect(recorder.flush()).rejects.toThrow(/terminated/);
    // Still pending as far as this process knows; the retry finds the rows there already.
    expect(recorder.pendingFor('key_r').tokens).toBe(60);
    await recorder.flush();
    expect(recorder.pendingFor('key_r')).toEqual({ tokens: 0, usd: 0 });
    expect(recorder.pendingUserSpend('user_r')).toBe(0);

    const key = await store.db.selectFrom('api_keys').selectAll().where('id', '=', 'key_r').executeTakeFirstOrThrow();
    expect(Number(key.used_tokens)).toBe(60);
    expect(Number(key.used_usd)).toBeCloseTo(1, 12);
    const user = await store.db.selectFrom('users').selectAll().where('id', '=', 'user_r').executeTakeFirstOrThrow();
    expect(Number(user.spent_usd)).toBeCloseTo(1, 12);
    const ledger = await store.db.selectFrom('ledger_entries').selectAll().where('user_id', '=', 'user_r').execute();
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatchObject({ kind: 'charge' });
    expect(Number(ledger[0].amount_usd)).toBeCloseTo(-1, 12);
    expect(Number(ledger[0].requests)).toBe(4);
    const rows = await store.db.selectFrom('usage_records').select('request_id').where('key_id', '=', 'key_r').execute();
    expect(rows).toHaveLength(4);
    await recorder.stop();
  });
});
