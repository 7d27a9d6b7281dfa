/**
 * The Midjourney-proxy task API relayed to `midjourney` upstreams, over real HTTP: submit,
 * background polling, follow-up actions on the upstream that made the task, the image proxy,
 * billing at submit with a refund when a task fails, and isolation between keys.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MidjourneySimulator, startMidjourneySimulator } from '../helpers/midjourney-simulator.ts';
import { REDIS_URL, redisKeyPrefix } from '../helpers/redis-server.ts';
import { PG_URL, postgresTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

const SECRET_A = 'mj-secret-a-0123456789';
const SECRET_B = 'mj-secret-b-0123456789';
const PRICES = {
  mj_imagine: { price: 0.05 },
  mj_action: { price: 0.02 },
  mj_blend: { price: 0.04 },
  mj_describe: { price: 0.01 },
  mj_modal: { price: 0.03 },
  mj_shorten: { price: 0.005 },
};

let simA: MidjourneySimulator;
let simB: MidjourneySimulator;
let gw: TestGateway;
let alice: { key: string; id: string };
let bob: { key: string; id: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Json = any;

async function call(g: TestGateway, method: string, path: string, opts: { key?: string; secret?: string; body?: unknown } = {}): Promise<{ status: number; body: Json; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  if (opts.secret) headers['mj-api-secret'] = opts.secret;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${g.url}${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const text = await res.text();
  let body: Json = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON
  }
  return { status: res.status, body, headers: res.headers };
}

/** Submits as Midjourney-proxy clients do: the key in mj-api-secret. */
const submit = (kind: string, key: string, body: unknown, g = gw, prefix = '/mj') => call(g, 'POST', `${prefix}/submit/${kind}`, { secret: key, body });
const fetchTask = (id: string, key: string, g = gw) => call(g, 'GET', `/mj/task/${id}/fetch`, { key });

async function waitTask(id: string, key: string, statuses: string[], g = gw, timeoutMs = 10_000): Promise<{ task: Json; seen: Json[] }> {
  const until = Date.now() + timeoutMs;
  const seen: Json[] = [];
  for (;;) {
    const { status, body } = await fetchTask(id, key, g);
    expect(status).toBe(200);
    seen.push(body);
    if (statuses.includes(body.status)) return { task: body, seen };
    if (Date.now() > until) throw new Error(`task ${id} still ${body.status}`);
    await sleep(20);
  }
}

async function until<T>(fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(30);
  }
}

const usage = async (key: string) => (await call(gw, 'GET', '/v1/usage', { key })).body;
const usedUsd = async (id: string, g = gw) => ((await (await g.admin('GET', `/admin/keys/${id}`)).json()) as { used_usd: number }).used_usd;
const submitsTo = (sim: MidjourneySimulator, kind?: string) => sim.requests.filter((r) => r.path.startsWith(kind ? `/mj/submit/${kind}` : '/mj/submit/'));
const upstreamIdOf = async (g: TestGateway, id: string) => (await g.store.db.selectFrom('mj_tasks').select(['upstream', 'upstream_task_id']).where('id', '=', id).executeTakeFirstOrThrow());

beforeAll(async () => {
  simA = await startMidjourneySimulator({ secret: SECRET_A });
  simB = await startMidjourneySimulator({ secret: SECRET_B });
  gw = await startTestGateway({
    upstreams: [
      { name: 'mj-a', type: 'midjourney', base_url: simA.url, api_key: SECRET_A, priority: 0 },
      // Only used when mj-a refuses a new task (its queue is full).
      { name: 'mj-b', type: 'midjourney', base_url: `${simB.url}/mj`, api_key: SECRET_B, priority: 1 },
    ],
    models: PRICES,
    midjourney: { poll_interval_ms: 40, poll_batch: 5 },
  });
  alice = await gw.createKey({ name: 'alice' });
  bob = await gw.createKey({ name: 'bob' });
});

afterAll(async () => {
  await gw?.close();
  await simA?.close();
  await simB?.close();
});

describe('imagine, then upsample', () => {
  it('relays imagine under a gateway id, polls it to SUCCESS, and sends the upsample to the same upstream', async () => {
    const { key, id: keyId } = await gw.createKey({ name: 'round-trip' });
    const sub = await submit('imagine', key, { prompt: 'a red square', state: 'my-state', notifyHook: 'http://127.0.0.1:9/hook', accountFilter: { instanceId: 'x' } });
    expect(sub.status).toBe(200);
    expect(sub.body).toMatchObject({ code: 1, description: '提交成功', result: expect.stringMatching(/^\d{19}$/) });
    expect(JSON.stringify(sub.body.properties)).not.toContain('discordInstanceId');
    const id = sub.body.result as string;

    // What the upstream got: its own secret, no hook or account filter of the client's.
    const sent = submitsTo(simA, 'imagine').at(-1)!;
    expect(sent.headers['mj-api-secret']).toBe(SECRET_A);
    expect(sent.headers.authorization).toBeUndefined();
    expect(sent.body).toEqual({ prompt: 'a red square', state: 'my-state' });
    const mapped = await upstreamIdOf(gw, id);
    expect(mapped.upstream).toBe('mj-a');
    expect(simA.tasks.has(mapped.upstream_task_id)).toBe(true);
    expect(mapped.upstream_task_id).not.toBe(id);

    const { task } = await waitTask(id, key, ['SUCCESS']);
    expect(task).toMatchObject({
      id,
      action: 'IMAGINE',
      status: 'SUCCESS',
      progress: '100%',
      prompt: 'a red square',
      description: '/imagine a red square',
      state: 'my-state',
      failReason: null,
      imageUrl: expect.stringContaining(`/attachments/${mapped.upstream_task_id}/`),
      properties: { finalPrompt: 'a red square' },
    });
    expect(task.submitTime).toBeGreaterThan(0);
    expect(task.finishTime).toBeGreaterThanOrEqual(task.startTime);
    expect(task.buttons).toHaveLength(9);
    expect(task.buttons[0]).toEqual({ customId: expect.stringMatching(/^MJ::JOB::upsample::1::[0-9a-f-]{36}$/), emoji: '', label: 'U1', type: 2, style: 2 });
    expect(JSON.stringify(task)).not.toContain('discordInstanceId');

    // U1, with the key as a Bearer token this time.
    const up = await call(gw, 'POST', '/mj/submit/action', { key, body: { taskId: id, customId: task.buttons[0].customId } });
    expect(up.status).toBe(200);
    expect(up.body).toMatchObject({ code: 1, result: expect.stringMatching(/^\d{19}$/) });
    const upId = up.body.result as string;
    expect(upId).not.toBe(id);
    expect(submitsTo(simA, 'action').at(-1)!.body).toEqual({ taskId: mapped.upstream_task_id, customId: task.buttons[0].customId });
    expect(submitsTo(simB)).toHaveLength(0);

    const done = (await waitTask(upId, key, ['SUCCESS'])).task;
    expect(done).toMatchObject({ action: 'UPSCALE', status: 'SUCCESS', prompt: 'a red square' });
    expect(done.buttons.map((b: Json) => b.label)).toContain('Vary (Region)');

    // The image through the gateway, byte for byte the upstream's PNG.
    const upMapped = await upstreamIdOf(gw, upId);
    const img = await fetch(`${gw.url}/mj/image/${upId}`, { headers: { 'mj-api-secret': key } });
    expect(img.status).toBe(200);
    expect(img.headers.get('content-type')).toBe('image/png');
    const bytes = Buffer.from(await img.arrayBuffer());
    expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(bytes).toEqual(simA.imageFor(upMapped.upstream_task_id));

    // Billed per submit, at the models table's prices, like any other request.
    const u = await usage(key);
    expect(u.totals).toMatchObject({ requests: 2, cost_usd: 0.07 });
    expect(u.by_model).toEqual(expect.arrayContaining([expect.objectContaining({ model: 'mj_imagine', cost_usd: 0.05 }), expect.objectContaining({ model: 'mj_action', cost_usd: 0.02 })]));
    expect(u.by_endpoint).toEqual([
      expect.objectContaining({ endpoint: 'mj.action', unit: 'tasks', quantity: 1, cost_usd: 0.02 }),
      expect.objectContaining({ endpoint: 'mj.imagine', unit: 'tasks', quantity: 1, cost_usd: 0.05 }),
    ]);
    expect(await usedUsd(keyId)).toBeCloseTo(0.07, 9);
    const rec = await gw.store.db.selectFrom('usage_records').selectAll().where('key_id', '=', keyId).where('endpoint', '=', 'mj.imagine').executeTakeFirstOrThrow();
    expect(rec).toMatchObject({ model: 'mj_imagine', upstream: 'mj-a', status: 200, charged: 1, unit: 'tasks', quantity: 1, request_id: sub.headers.get('x-request-id') });
  });

  it('shows the progress of a task that runs', async () => {
    const { key } = await gw.createKey({ name: 'progress' });
    const id = (await submit('imagine', key, { prompt: 'a stuck kite' })).body.result as string;
    const first = (await fetchTask(id, key)).body;
    expect(first).toMatchObject({ id, prompt: 'a stuck kite', buttons: [], finishTime: null, failReason: null });
    expect(['NOT_START', 'SUBMITTED', 'IN_PROGRESS']).toContain(first.status);
    const { task, seen } = await waitTask(id, key, ['IN_PROGRESS']);
    expect(seen.every((t) => ['SUBMITTED', 'NOT_START', 'IN_PROGRESS'].includes(t.status))).toBe(true);
    expect(task.progress).toMatch(/^(25|50|75)%$/);
    await until(async () => ((await fetchTask(id, key)).body.progress === '75%' ? true : undefined));
    const later = (await fetchTask(id, key)).body;
    // A preview while it runs, as the proxy gives one; no buttons until it is done.
    expect(later).toMatchObject({ status: 'IN_PROGRESS', imageUrl: expect.stringContaining('/preview.webp'), buttons: [], finishTime: null });
    expect(later.startTime).toBeGreaterThan(0);
  });

  it('a button that opens a modal is free; the modal continues the same task and is charged', async () => {
    const { key } = await gw.createKey({ name: 'modal' });
    const grid = (await submit('imagine', key, { prompt: 'a blue circle' })).body.result as string;
    const u1 = (await waitTask(grid, key, ['SUCCESS'])).task.buttons[0].customId as string;
    const up = (await submit('action', key, { taskId: grid, customId: u1 })).body.result as string;
    const zoom = (await waitTask(up, key, ['SUCCESS'])).task.buttons.find((b: Json) => b.label === 'Custom Zoom').customId as string;
    const wait = await submit('action', key, { taskId: up, customId: zoom });
    expect(wait.body).toMatchObject({ code: 21, description: 'Waiting for window confirm', result: expect.any(String) });
    const zoomId = wait.body.result as string;
    expect((await waitTask(zoomId, key, ['MODAL'])).task.action).toBe('ZOOM');
    const modal = await submit('modal', key, { taskId: zoomId, prompt: 'a blue circle --zoom 1.5' });
    expect(modal.body).toMatchObject({ code: 1, result: zoomId });
    expect(submitsTo(simA, 'modal').at(-1)!.body.taskId).toBe((await upstreamIdOf(gw, zoomId)).upstream_task_id);
    expect((await waitTask(zoomId, key, ['SUCCESS'])).task.prompt).toBe('a blue circle --zoom 1.5');
    const u = await usage(key);
    // imagine 0.05 + upscale 0.02 + custom zoom 0 + modal 0.03
    expect(u.totals.cost_usd).toBeCloseTo(0.1, 9);
    expect(u.by_endpoint.find((e: Json) => e.endpoint === 'mj.action')).toMatchObject({ requests: 2, quantity: 1, cost_usd: 0.02 });
    expect(u.by_endpoint.find((e: Json) => e.endpoint === 'mj.modal')).toMatchObject({ requests: 1, quantity: 1, cost_usd: 0.03 });
  });

  it('blend, describe and shorten run the same way', async () => {
    const { key } = await gw.createKey({ name: 'others' });
    const img = `data:image/png;base64,${simA.imageFor('x').toString('base64')}`;
    const blend = await submit('blend', key, { base64Array: [img, img], dimensions: 'SQUARE' });
    const describe = await submit('describe', key, { base64: img });
    const shorten = await submit('shorten', key, { prompt: 'a very long prompt about a red square on a table' });
    for (const r of [blend, describe, shorten]) expect(r.body.code).toBe(1);
    expect((await waitTask(blend.body.result, key, ['SUCCESS'])).task).toMatchObject({ action: 'BLEND', buttons: expect.arrayContaining([expect.objectContaining({ label: 'U1' })]) });
    expect((await waitTask(describe.body.result, key, ['SUCCESS'])).task.properties.finalPrompt).toMatch(/^1️⃣/);
    expect((await waitTask(shorten.body.result, key, ['SUCCESS'])).task).toMatchObject({ action: 'SHORTEN', properties: { finalPrompt: expect.stringContaining('1️⃣') } });
    expect((await usage(key)).totals.cost_usd).toBeCloseTo(0.055, 9);
  });
});

describe('failure and refund', () => {
  it('charges at submit and refunds when the task fails: /v1/usage and used_usd come back exactly', async () => {
    const { key, id: keyId } = await gw.createKey({ name: 'refund', quota_usd: 0.05 });
    const sub = await submit('imagine', key, { prompt: 'please explode now' });
    expect(sub.body.code).toBe(1);
    // The quota holds exactly one task: a second submit waits for the first one's refund.
    expect(await usedUsd(keyId)).toBeCloseTo(0.05, 9);
    const over = await submit('imagine', key, { prompt: 'another' });
    expect(over.status).toBe(429);
    expect(over.body).toMatchObject({ code: 4, description: expect.stringMatching(/quota/), result: null });

    const { task } = await waitTask(sub.body.result, key, ['FAILURE']);
    expect(task).toMatchObject({ status: 'FAILURE', failReason: expect.stringContaining('refused'), imageUrl: null });
    await until(async () => ((await usedUsd(keyId)) === 0 ? true : undefined));
    const u = await usage(key);
    expect(u.totals).toMatchObject({ requests: 1, cost_usd: 0 });
    expect(u.by_endpoint).toEqual([expect.objectContaining({ endpoint: 'mj.imagine', requests: 1, quantity: 0, cost_usd: 0 })]);
    const rec = await gw.store.db.selectFrom('usage_records').selectAll().where('request_id', '=', sub.headers.get('x-request-id')!).executeTakeFirstOrThrow();
    expect(rec).toMatchObject({ charged: 0, error_code: 'mj_task_failed', status: 200, cost_usd: 0.05 });
    expect(await gw.store.db.selectFrom('mj_tasks').select(['active', 'refund_due']).where('id', '=', sub.body.result).executeTakeFirstOrThrow()).toEqual({ active: 0, refund_due: 0 });

    // The refunded quota is usable again; ticking more never refunds twice.
    await gw.services.mjPoller.tick();
    expect(await usedUsd(keyId)).toBeCloseTo(0, 12);
    expect((await submit('imagine', key, { prompt: 'fine this time' })).body.code).toBe(1);
  });

  it('refusals are relayed as the upstream gave them and never charged; a full queue hands the task to the next upstream', async () => {
    const { key, id: keyId } = await gw.createKey({ name: 'refusals' });
    const banned = await submit('imagine', key, { prompt: 'something forbidden' });
    expect(banned.status).toBe(200);
    expect(banned.body).toEqual({ code: 24, description: '可能包含敏感词', properties: { promptEn: 'something forbidden', bannedWord: 'forbidden' }, result: null });

    simA.enqueue({ type: 'queue_full' });
    const moved = await submit('imagine', key, { prompt: 'a green triangle' });
    expect(moved.body.code).toBe(1);
    expect((await upstreamIdOf(gw, moved.body.result)).upstream).toBe('mj-b');
    expect(submitsTo(simB, 'imagine').at(-1)!.headers['mj-api-secret']).toBe(SECRET_B);
    const task = (await waitTask(moved.body.result, key, ['SUCCESS'])).task;
    // Its follow-up goes to mj-b, the upstream that has it.
    const before = submitsTo(simA, 'action').length;
    expect((await submit('action', key, { taskId: moved.body.result, customId: task.buttons[1].customId })).body.code).toBe(1);
    expect(submitsTo(simA, 'action')).toHaveLength(before);
    expect(submitsTo(simB, 'action')).toHaveLength(1);

    // Both upstreams full: the last refusal is the answer.
    simA.enqueue({ type: 'queue_full' });
    simB.enqueue({ type: 'queue_full' });
    const full = await submit('imagine', key, { prompt: 'x' });
    expect(full.body).toMatchObject({ code: 23, result: null });

    const u = await usage(key);
    expect(u.totals).toMatchObject({ requests: 4, cost_usd: 0.07 });
    expect(await usedUsd(keyId)).toBeCloseTo(0.07, 9);
    const failed = await gw.store.db.selectFrom('usage_records').select(['error_code', 'charged']).where('key_id', '=', keyId).where('charged', '=', 0).execute();
    expect(failed.map((r) => r.error_code).sort()).toEqual(['mj_code_23', 'mj_code_24']);
  });

  it('an unreachable upstream is a 502 in the Midjourney shape, not charged', async () => {
    const dead = await startTestGateway({ upstreams: [{ name: 'gone', type: 'midjourney', base_url: 'http://127.0.0.1:9' }], models: PRICES });
    try {
      const { key } = await dead.createKey();
      const r = await submit('imagine', key, { prompt: 'x' }, dead);
      expect(r.status).toBe(502);
      expect(r.body).toMatchObject({ code: 9, description: expect.stringMatching(/unreachable/), result: null });
      await dead.services.recorder.flush();
      expect(await dead.store.db.selectFrom('usage_records').select(['charged', 'status']).execute()).toEqual([{ charged: 0, status: 502 }]);
    } finally {
      await dead.close();
    }
  });
});

describe('background polling', () => {
  it('polls unfinished tasks in batches without any client asking', async () => {
    const { key } = await gw.createKey({ name: 'batch-poll' });
    simA.requests.length = 0;
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await submit('imagine', key, { prompt: `cat ${i}` })).body.result);
    // Nobody fetches: the poller alone brings them to SUCCESS.
    const done = await until(async () => {
      const rows = await gw.store.db.selectFrom('mj_tasks').select(['status', 'active']).where('id', 'in', ids).execute();
      return rows.every((r) => r.status === 'SUCCESS' && r.active === 0) ? rows : undefined;
    });
    expect(done).toHaveLength(7);
    const polls = simA.requests.filter((r) => r.path === '/mj/task/list-by-condition');
    expect(polls.length).toBeGreaterThan(0);
    expect(Math.max(...polls.map((p) => p.body.ids.length))).toBeLessThanOrEqual(5);
    expect(polls.some((p) => p.body.ids.length > 1)).toBe(true);
    expect(polls.every((p) => p.headers['mj-api-secret'] === SECRET_A)).toBe(true);
    // The upstream was asked by its own ids; finished tasks are polled no more.
    const upstreamIds = await Promise.all(ids.map(async (id) => (await upstreamIdOf(gw, id)).upstream_task_id));
    expect(upstreamIds.every((u) => polls.some((p) => p.body.ids.includes(u)))).toBe(true);
    const count = simA.requests.length;
    await sleep(200);
    expect(simA.requests.slice(count).filter((r) => r.path === '/mj/task/list-by-condition' && r.body.ids.some((x: string) => upstreamIds.includes(x)))).toHaveLength(0);
  });

  it('fails a task stuck beyond task_timeout_minutes, and refunds it', async () => {
    const g = await startTestGateway({
      upstreams: [{ name: 'mj-a', type: 'midjourney', base_url: simA.url, api_key: SECRET_A }],
      models: PRICES,
      midjourney: { poll_interval_ms: 30, task_timeout_minutes: 0.01 },
    });
    try {
      const { key, id: keyId } = await g.createKey();
      const sub = await submit('imagine', key, { prompt: 'stuck forever' }, g);
      const { task, seen } = await waitTask(sub.body.result, key, ['FAILURE'], g);
      expect(seen.some((t) => t.status === 'IN_PROGRESS')).toBe(true);
      expect(task.failReason).toMatch(/timed out/);
      await until(async () => ((await usedUsd(keyId, g)) === 0 ? true : undefined));
    } finally {
      await g.close();
    }
  });
});

describe('list-by-condition and isolation between keys', () => {
  let aliceTasks: string[];
  let bobTask: string;

  beforeAll(async () => {
    aliceTasks = [(await submit('imagine', alice.key, { prompt: 'alice one' })).body.result, (await submit('imagine', alice.key, { prompt: 'alice two' })).body.result];
    bobTask = (await submit('imagine', bob.key, { prompt: 'bob one' })).body.result;
    await waitTask(aliceTasks[0], alice.key, ['SUCCESS']);
    await waitTask(bobTask, bob.key, ['SUCCESS']);
  });

  it('answers the caller’s tasks among the ids, in the order asked', async () => {
    const r = await call(gw, 'POST', '/mj/task/list-by-condition', { secret: alice.key, body: { ids: [aliceTasks[1], bobTask, '123', aliceTasks[0], aliceTasks[1]] } });
    expect(r.status).toBe(200);
    expect(r.body.map((t: Json) => t.id)).toEqual([aliceTasks[1], aliceTasks[0]]);
    expect(r.body[0]).toMatchObject({ prompt: 'alice two', action: 'IMAGINE' });
    expect((await call(gw, 'POST', '/mj/task/list-by-condition', { key: alice.key, body: {} })).body).toEqual([]);
    const bad = await call(gw, 'POST', '/mj/task/list-by-condition', { key: alice.key, body: { ids: 'nope' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ type: 'invalid_request_error', param: 'ids' });
  });

  it('another key’s task does not exist: fetch, image, list and actions', async () => {
    const f = await fetchTask(aliceTasks[0], bob.key);
    expect(f.status).toBe(404);
    expect(f.body.error).toMatchObject({ type: 'invalid_request_error', code: 'task_not_found' });
    expect((await call(gw, 'GET', `/mj/image/${aliceTasks[0]}`, { key: bob.key })).status).toBe(404);
    expect((await call(gw, 'POST', '/mj/task/list-by-condition', { key: bob.key, body: { ids: aliceTasks } })).body).toEqual([]);
    const before = submitsTo(simA, 'action').length;
    const customId = (await fetchTask(aliceTasks[0], alice.key)).body.buttons[0].customId;
    const act = await submit('action', bob.key, { taskId: aliceTasks[0], customId });
    expect(act.status).toBe(404);
    expect(act.body).toMatchObject({ code: 3, result: null });
    expect(submitsTo(simA, 'action')).toHaveLength(before);
    expect((await submit('modal', bob.key, { taskId: aliceTasks[0], prompt: 'x' })).status).toBe(404);
  });

  it('a bad customId is a 400 and reaches no upstream', async () => {
    const before = submitsTo(simA).length;
    const task = (await fetchTask(aliceTasks[0], alice.key)).body;
    for (const body of [
      { taskId: aliceTasks[0], customId: 'upsample 1' },
      { taskId: aliceTasks[0], customId: 'MJ::JOB::upsample::1::not-this-tasks-hash' },
      { taskId: aliceTasks[0] },
      { customId: task.buttons[0].customId },
    ]) {
      const r = await submit('action', alice.key, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body).toMatchObject({ code: 4, description: expect.any(String), result: null });
    }
    expect(submitsTo(simA)).toHaveLength(before);
  });

  it('rejects missing and wrong keys; other validation in the Midjourney shape', async () => {
    const none = await call(gw, 'POST', '/mj/submit/imagine', { body: { prompt: 'x' } });
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ code: 4, description: expect.stringMatching(/API key/) });
    expect((await submit('imagine', 'sk-wrong', { prompt: 'x' })).status).toBe(401);
    const fetchNone = await call(gw, 'GET', `/mj/task/${aliceTasks[0]}/fetch`);
    expect(fetchNone.status).toBe(401);
    expect(fetchNone.body.error.code).toBe('invalid_api_key');
    expect((await call(gw, 'GET', `/mj/image/${aliceTasks[0]}`)).status).toBe(401);
    const empty = await submit('imagine', alice.key, { prompt: '  ' });
    expect(empty.status).toBe(400);
    expect(empty.body).toMatchObject({ code: 4, description: 'prompt is required.' });
    expect((await submit('blend', alice.key, { base64Array: ['one'] })).status).toBe(400);
    const badJson = await fetch(`${gw.url}/mj/submit/imagine`, { method: 'POST', headers: { 'mj-api-secret': alice.key, 'content-type': 'application/json' }, body: '{nope' });
    expect(badJson.status).toBe(400);
    expect(await badJson.json()).toMatchObject({ code: 4, result: null });
    const limited = await gw.createKey({ name: 'chat-only', models: ['gpt-4o-mini'] });
    const denied = await submit('imagine', limited.key, { prompt: 'x' });
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe(4);
  });
});

describe('modes, routing and admin', () => {
  it('/{mode}/mj/... passes the mode to Midjourney as the prompt parameter', async () => {
    const r = await submit('imagine', alice.key, { prompt: 'a fox' }, gw, '/mj-relax/mj');
    expect(r.body.code).toBe(1);
    expect(submitsTo(simA, 'imagine').at(-1)!.body.prompt).toBe('a fox --relax');
    expect((await submit('imagine', alice.key, { prompt: 'a fox --fast' }, gw, '/mj-turbo/mj')).body.code).toBe(1);
    expect(submitsTo(simA, 'imagine').at(-1)!.body.prompt).toBe('a fox --fast');
    const viaMode = await call(gw, 'GET', `/mj-fast/mj/task/${r.body.result}/fetch`, { key: alice.key });
    expect(viaMode.body.id).toBe(r.body.result);
    expect((await gw.store.db.selectFrom('mj_tasks').select('mode').where('id', '=', r.body.result).executeTakeFirstOrThrow()).mode).toBe('mj-relax');
    expect((await call(gw, 'POST', '/mj-slow/mj/submit/imagine', { key: alice.key, body: { prompt: 'x' } })).status).toBe(404);
  });

  it('chat routes never reach a midjourney upstream; admin lists it', async () => {
    const r = await call(gw, 'POST', '/v1/chat/completions', { key: alice.key, body: { model: 'mj-a:anything', messages: [{ role: 'user', content: 'x' }] } });
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('model_not_found');
    const byType = await call(gw, 'POST', '/v1/chat/completions', { key: alice.key, body: { model: 'midjourney:x', messages: [{ role: 'user', content: 'x' }] } });
    expect(byType.status).toBe(404);
    expect((await call(gw, 'GET', '/v1/models', { key: alice.key })).body.data).toEqual([]);
    const list = (await (await gw.admin('GET', '/admin/upstreams')).json()) as { data: Json[] };
    expect(list.data.map((u) => [u.name, u.type, u.state])).toEqual([
      ['mj-a', 'midjourney', 'healthy'],
      ['mj-b', 'midjourney', 'healthy'],
    ]);
    expect(simA.requests.some((q) => q.path.includes('chat'))).toBe(false);
  });
});

describe.skipIf(!PG_URL)('two instances on one PostgreSQL', () => {
  let db: TestDatabase;
  let sim: MidjourneySimulator;
  let a: TestGateway;
  let b: TestGateway;

  beforeAll(async () => {
    // A poll slower than the interval: while one instance waits on its batch, the other claims the next.
    sim = await startMidjourneySimulator({ secret: SECRET_A, listDelayMs: 40 });
    db = await postgresTestDatabase();
    const config = (instance: string) => ({
      upstreams: [{ name: 'mj', type: 'midjourney', base_url: sim.url, api_key: SECRET_A, headers: { 'x-instance': instance } }],
      models: PRICES,
      midjourney: { poll_interval_ms: 25, poll_batch: 3 },
    });
    a = await startTestGateway(config('a'), { database: db.url, services: { secretKey: 'mj-scale-out-secret' } });
    b = await startTestGateway(config('b'), { database: db.url, services: { secretKey: 'mj-scale-out-secret' } });
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await sim?.close();
    await db?.drop();
  });

  it('each task is polled by one instance at a time, and both share the work', async () => {
    const { key, id: keyId } = await a.createKey({ name: 'shared' });
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await submit('imagine', key, { prompt: i % 4 === 0 ? `explode ${i}` : `dog ${i}` }, i % 2 ? a : b)).body.result);
    await until(async () => {
      const rows = await a.store.db.selectFrom('mj_tasks').select(['active']).where('id', 'in', ids).execute();
      return rows.every((r) => r.active === 0) ? true : undefined;
    }, 20_000);
    const polls = sim.requests.filter((r) => r.path === '/mj/task/list-by-condition');
    const instances = new Set(polls.map((p) => p.headers['x-instance']));
    expect(instances).toEqual(new Set(['a', 'b']));
    // No id is in two polls that overlapped in time.
    for (let i = 0; i < polls.length; i++) {
      for (let j = i + 1; j < polls.length; j++) {
        const [p, q] = [polls[i], polls[j]];
        const overlap = p.startedAt < (q.endedAt ?? Infinity) && q.startedAt < (p.endedAt ?? Infinity);
        if (overlap) expect(p.body.ids.filter((x: string) => q.body.ids.includes(x))).toEqual([]);
      }
    }
    // Three failed (explode): refunded once each, whichever instance saw it.
    expect((await fetchTask(ids[0], key, b)).body.status).toBe('FAILURE');
    await until(async () => (Math.abs((await usedUsd(keyId, a)) - 9 * 0.05) < 1e-9 ? true : undefined));
    const u = (await call(b, 'GET', '/v1/usage', { key })).body;
    expect(u.totals).toMatchObject({ requests: 12 });
    expect(u.totals.cost_usd).toBeCloseTo(0.45, 9);
  });
});

describe.skipIf(!REDIS_URL)('quotas kept in Redis', () => {
  it('a refund gives the quota back in the shared running total too', async () => {
    const g = await startTestGateway(
      { redis: REDIS_URL, upstreams: [{ name: 'mj-a', type: 'midjourney', base_url: simA.url, api_key: SECRET_A }], models: PRICES, midjourney: { poll_interval_ms: 30 } },
      { services: { redisPrefix: redisKeyPrefix() } },
    );
    try {
      const { key, id: keyId } = await g.createKey({ quota_usd: 0.05 });
      const first = await submit('imagine', key, { prompt: 'explode please' }, g);
      expect(first.body.code).toBe(1);
      expect((await submit('imagine', key, { prompt: 'x' }, g)).status).toBe(429);
      await waitTask(first.body.result, key, ['FAILURE'], g);
      await until(async () => ((await usedUsd(keyId, g)) === 0 ? true : undefined));
      expect(g.services.limiter.backendName).toBe('redis');
      expect((await submit('imagine', key, { prompt: 'again' }, g)).body.code).toBe(1);
      expect((await submit('imagine', key, { prompt: 'and again' }, g)).status).toBe(429);
    } finally {
      await g.close();
    }
  });
});
