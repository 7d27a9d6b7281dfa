import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { reverseCharges } from '../../src/metering/charge-reversal.ts';
import { KeyService } from '../../src/metering/keys.ts';
import { Limiter } from '../../src/metering/limiter.ts';
import { UsageRecorder } from '../../src/metering/usage-recorder.ts';
import { openStore, type Store } from '../../src/store/db.ts';
import { migrateToLatest } from '../../src/store/migrate.ts';
import { MjTasksRepository } from '../../src/store/mj-tasks.repository.ts';
import type { MjTaskRow, NewUsageRecord } from '../../src/store/tables.ts';
import { DATABASE_KINDS, openTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

function task(id: string, over: Partial<MjTaskRow> = {}): MjTaskRow {
  return {
    id,
    key_id: 'key_mj',
    upstream: 'mj',
    upstream_task_id: `up-${id}`,
    submit: 'imagine',
    mode: null,
    action: 'IMAGINE',
    status: 'SUBMITTED',
    task_json: null,
    image_url: null,
    charges_json: JSON.stringify([`req-${id}`]),
    active: 1,
    refund_due: 0,
    created_at: 1_000,
    updated_at: 1_000,
    submitted_at: 1_000,
    next_poll_at: 1_000,
    lease_owner: null,
    lease_until: null,
    ...over,
  };
}

function charge(id: string, keyId: string, cost: number): NewUsageRecord {
  return {
    request_id: id, key_id: keyId, endpoint: 'mj.imagine', model: 'mj_imagine', upstream: 'mj', upstream_model: null, stream: 0, status: 200, error_code: null,
    prompt_tokens: 0, cached_tokens: 0, completion_tokens: 0, reasoning_tokens: 0, total_tokens: 0, cost_usd: cost, estimated: 0, charged: 1,
    latency_ms: 5, ttft_ms: null, created_at: 2_000, attempts: 1, requested_model: null, unit: 'tasks', quantity: 1,
  };
}

describe.each(DATABASE_KINDS)('Midjourney tasks on %s', (kind) => {
  let tdb: TestDatabase;
  let store: Store;
  let repo: MjTasksRepository;

  beforeAll(async () => {
    tdb = await openTestDatabase(kind);
    store = openStore(tdb.url);
    await migrateToLatest(store);
    repo = new MjTasksRepository(store);
  });

  afterAll(async () => {
    await store?.close();
    await tdb?.drop();
  });

  it('finds a task only for the key that owns it', async () => {
    await repo.insert(task('own-1'));
    expect((await repo.findOwned('own-1', 'key_mj'))?.upstream_task_id).toBe('up-own-1');
    expect(await repo.findOwned('own-1', 'key_other')).toBeUndefined();
    expect((await repo.findManyOwned(['missing', 'own-1'], 'key_mj')).map((r) => r.id)).toEqual(['own-1']);
    expect(await repo.findManyOwned(['own-1'], 'key_other')).toEqual([]);
    expect((await repo.findByUpstreamId('key_mj', 'mj', 'up-own-1'))?.id).toBe('own-1');
    expect(await repo.findByUpstreamId('key_other', 'mj', 'up-own-1')).toBeUndefined();
  });

  it('claims each due task for one owner at a time; a lapsed lease is taken over', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `claim-${i}`);
    for (const id of ids) await repo.insert(task(id, { next_poll_at: 5_000 }));
    await repo.insert(task('claim-later', { next_poll_at: 9_000 }));
    await repo.insert(task('claim-done', { next_poll_at: 5_000, active: 0, status: 'SUCCESS' }));
    const now = 6_000;
    const [a, b] = await Promise.all([repo.claim('inst-a', now, 1_000, 6), repo.claim('inst-b', now, 1_000, 6)]);
    const mine = (rows: MjTaskRow[]) => rows.map((r) => r.id).filter((id) => id.startsWith('claim-'));
    const all = [...mine(a), ...mine(b)];
    expect(new Set(all).size).toBe(all.length);
    expect(new Set(all)).toEqual(new Set(ids));
    expect(all).not.toContain('claim-later');
    expect(all).not.toContain('claim-done');
    expect(a.every((r) => r.lease_owner === 'inst-a' && r.lease_until === 7_000)).toBe(true);
    // Held: nobody else gets them until the lease runs out.
    expect(mine(await repo.claim('inst-c', 6_500, 1_000, 20))).toEqual([]);
    const taken = await repo.claim('inst-c', 7_001, 1_000, 20);
    expect(new Set(mine(taken))).toEqual(new Set(ids));
    // The old owner's save is refused; the new owner's goes through and frees the task.
    expect(await repo.savePolled('claim-0', 'inst-a', { status: 'IN_PROGRESS', next_poll_at: 8_000 })).toBe(false);
    expect(await repo.savePolled('claim-0', 'inst-c', { status: 'IN_PROGRESS', next_poll_at: 8_000 })).toBe(true);
    expect(await repo.findOwned('claim-0', 'key_mj')).toMatchObject({ status: 'IN_PROGRESS', lease_owner: null, lease_until: null, next_poll_at: 8_000 });
    expect(mine(await repo.claim('inst-a', 7_500, 1_000, 20))).toEqual([]);
    expect(mine(await repo.claim('inst-a', 8_000, 1_000, 20))).toEqual(['claim-0']);
  });

  it('adds a charge to a task it continues, and clears a refund only for the charges it covered', async () => {
    await repo.insert(task('charge-1', { status: 'FAILURE', active: 1, refund_due: 1 }));
    await repo.refunded('charge-1', ['req-other']);
    expect((await repo.findOwned('charge-1', 'key_mj'))?.refund_due).toBe(1);
    await repo.refunded('charge-1', ['req-charge-1']);
    expect(await repo.findOwned('charge-1', 'key_mj')).toMatchObject({ refund_due: 0, active: 0 });
    const row = await repo.addCharge('charge-1', 'req-modal', { status: 'SUBMITTED', next_poll_at: 3_000 });
    expect(row).toMatchObject({ status: 'SUBMITTED', active: 1, refund_due: 0 });
    expect(JSON.parse((await repo.findOwned('charge-1', 'key_mj'))!.charges_json)).toEqual(['req-charge-1', 'req-modal']);
  });

  it('reverses charges once, whoever runs it, and waits for records not written yet', async () => {
    const log = createLogger('silent');
    const recorder = new UsageRecorder(store, log, { intervalMs: 1_000_000, batchSize: 1_000 });
    const keys = new KeyService(recorder.keysRepository, recorder);
    const { view } = await keys.create({ name: 'mj-refund' });
    const deps = { store, recorder, keys, limiter: new Limiter(log) };
    recorder.record(charge('rev-1', view.id, 0.05), { keyId: view.id, tokens: 0, usd: 0.05 });
    recorder.record(charge('rev-2', view.id, 0.02), { keyId: view.id, tokens: 0, usd: 0.02 });
    // The buffered records are written first, then taken back.
    const first = await reverseCharges(deps, view.id, ['rev-1', 'rev-2', 'rev-later'], 'mj_task_failed');
    expect(first).toEqual({ complete: false, usd: 0.07, tokens: 0 });
    expect((await keys.get(view.id))?.used_usd).toBeCloseTo(0, 12);
    const again = await reverseCharges(deps, view.id, ['rev-1', 'rev-2'], 'mj_task_failed');
    expect(again).toEqual({ complete: true, usd: 0, tokens: 0 });
    expect((await keys.get(view.id))?.used_usd).toBeCloseTo(0, 12);
    // Another key's record is never taken back for this one.
    recorder.record(charge('rev-other', 'key_someone', 0.05), { keyId: 'key_someone', tokens: 0, usd: 0.05 });
    expect(await reverseCharges(deps, view.id, ['rev-other'], 'mj_task_failed')).toEqual({ complete: true, usd: 0, tokens: 0 });
    const rows = await store.db.selectFrom('usage_records').select(['request_id', 'charged', 'error_code']).where('request_id', 'like', 'rev-%').orderBy('request_id').execute();
    expect(rows).toEqual([
      { request_id: 'rev-1', charged: 0, error_code: 'mj_task_failed' },
      { request_id: 'rev-2', charged: 0, error_code: 'mj_task_failed' },
      { request_id: 'rev-other', charged: 1, error_code: null },
    ]);
    await recorder.stop();
  });
});
