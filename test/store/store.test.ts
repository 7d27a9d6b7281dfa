import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/db.ts';
import { migrateToLatest } from '../../src/store/migrate.ts';
import { ApiKeysRepository } from '../../src/store/api-keys.repository.ts';
import { SettingsRepository } from '../../src/store/settings.repository.ts';
import { UsageRecordsRepository } from '../../src/store/usage-records.repository.ts';
import type { NewUsageRecord } from '../../src/store/tables.ts';
import { DATABASE_KINDS, openTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

function record(id: string, over: Partial<NewUsageRecord> = {}): NewUsageRecord {
  return {
    request_id: id,
    key_id: 'key_a',
    endpoint: 'chat.completions',
    model: 'gpt-4o-mini',
    upstream: 'main',
    upstream_model: 'gpt-4o-mini',
    stream: 0,
    status: 200,
    error_code: null,
    prompt_tokens: 10,
    cached_tokens: 0,
    completion_tokens: 5,
    reasoning_tokens: 0,
    total_tokens: 15,
    cost_usd: 0.001,
    estimated: 0,
    charged: 1,
    latency_ms: 12,
    ttft_ms: 3,
    created_at: Date.UTC(2026, 0, 2, 10),
    ...over,
  };
}

describe.each(DATABASE_KINDS)('store on %s', (kind) => {
  let tdb: TestDatabase;
  let store: Store;

  beforeAll(async () => {
    tdb = await openTestDatabase(kind);
    store = openStore(tdb.url);
    expect(await migrateToLatest(store)).toEqual(['001-initial', '002-limits-and-upstreams', '003-units-and-responses', '004-files-and-batches', '005-conversations', '006-midjourney-tasks', '007-accounts', '008-request-log-indexes']);
    // Migrating again is a no-op.
    expect(await migrateToLatest(store)).toEqual([]);
  });

  afterAll(async () => {
    await store?.close();
    await tdb?.drop();
  });

  it('stores keys by hash, soft-deletes them and adds usage atomically', async () => {
    const keys = new ApiKeysRepository(store);
    const now = Date.now();
    await keys.insert({
      id: 'key_a', name: 'a', key_hash: 'h'.repeat(64), key_prefix: 'sk-a...zzzz', quota_tokens: 1000, quota_usd: null,
      expires_at: null, models: '["gpt-4o-mini"]', rpm: null, deleted_at: null, created_at: now, updated_at: now, last_used_at: null,
    });
    await Promise.all([keys.addUsage('key_a', 10, 0.5, now), keys.addUsage('key_a', 5, 0.25, now)]);
    const row = await keys.findByHash('h'.repeat(64));
    expect(row).toMatchObject({ id: 'key_a', used_tokens: 15, used_usd: 0.75, quota_tokens: 1000 });
    expect(typeof row?.created_at).toBe('number');
    expect(await keys.softDelete('key_a', now + 1)).toBe(true);
    expect(await keys.findById('key_a')).toBeUndefined();
    expect((await keys.findByHash('h'.repeat(64)))?.deleted_at).toBe(now + 1);
    expect(await keys.softDelete('key_a', now + 2)).toBe(false);
  });

  it('sums usage per key, model and day, counting only charged records', async () => {
    const usage = new UsageRecordsRepository(store);
    await usage.insertNew([
      record('r1'),
      record('r2', { model: 'gpt-4o', prompt_tokens: 100, completion_tokens: 50, total_tokens: 150, cost_usd: 0.01 }),
      record('r3', { created_at: Date.UTC(2026, 0, 3, 1) }),
      record('r4', { charged: 0, status: 502, cost_usd: 0.5 }),
      record('r5', { key_id: 'key_b' }),
    ]);
    // Re-inserting a request id is ignored (a retried flush never double-counts).
    await usage.insertNew([record('r1')]);
    expect(await usage.totals({ keyId: 'key_a' })).toEqual({
      requests: 4, prompt_tokens: 120, completion_tokens: 60, total_tokens: 180, cost_usd: 0.012,
    });
    expect(await usage.totals({ keyId: 'key_a', start: Date.UTC(2026, 0, 3) })).toMatchObject({ requests: 1, total_tokens: 15 });
    const byModel = await usage.byModel({ keyId: 'key_a' });
    expect(byModel.map((m) => [m.model, m.requests, m.total_tokens])).toEqual([
      ['gpt-4o', 1, 150],
      ['gpt-4o-mini', 3, 30],
    ]);
    const days = await usage.dailyCosts({ keyId: 'key_a' });
    expect(days.map((d) => [new Date(d.day * 86_400_000).toISOString().slice(0, 10), d.model])).toEqual([
      ['2026-01-02', 'gpt-4o'],
      ['2026-01-02', 'gpt-4o-mini'],
      ['2026-01-03', 'gpt-4o-mini'],
    ]);
  });

  it('keeps the first writer of a setting', async () => {
    const settings = new SettingsRepository(store);
    expect(await settings.setIfAbsent('admin_key_hash', 'one')).toBe(true);
    expect(await settings.setIfAbsent('admin_key_hash', 'two')).toBe(false);
    expect(await settings.get('admin_key_hash')).toBe('one');
  });
});
