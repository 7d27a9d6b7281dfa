/**
 * Several gateway instances on one PostgreSQL and one Redis: limits exact across instances,
 * changes on one seen by the other within 2 s, and outages that lose nothing: Redis stopped
 * and restarted under load, the database unreachable for 10 s under load.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpenAISimulator, startOpenAISimulator } from '../helpers/openai-simulator.ts';
import { REDIS_URL, redisKeyPrefix, type RedisServerHandle, startRedisServer } from '../helpers/redis-server.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { PG_URL, postgresTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

const SECRET = 'scale-out-test-secret-key';
const outcome = (p: Promise<unknown>) => p.then(() => 200, (e: { status?: number }) => e.status ?? -1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function within<T>(ms: number, fn: () => Promise<T | undefined>): Promise<{ value: T; elapsed: number }> {
  const started = Date.now();
  for (;;) {
    const value = await fn();
    if (value !== undefined) return { value, elapsed: Date.now() - started };
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms`);
    await sleep(50);
  }
}

describe.skipIf(!PG_URL || !REDIS_URL)('two instances on one PostgreSQL and one Redis', () => {
  let sim: OpenAISimulator;
  let db: TestDatabase;
  let a: TestGateway;
  let b: TestGateway;
  const config = (simUrl: string) => ({
    redis: REDIS_URL,
    upstreams: [{ name: 'main', type: 'openai', base_url: simUrl, models: ['m', 'other'] }],
  });

  beforeAll(async () => {
    sim = await startOpenAISimulator({ models: ['m'] });
    sim.handler = () => ({ type: 'text', text: 'hi', promptTokens: 3, completionTokens: 2, firstByteDelayMs: 20 });
    db = await postgresTestDatabase();
    const services = { secretKey: SECRET, redisPrefix: redisKeyPrefix(), changePollMs: 500 };
    a = await startTestGateway(config(sim.url), { database: db.url, services });
    b = await startTestGateway(config(sim.url), { database: db.url, services });
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await sim?.close();
    await db?.drop();
  });

  const clients = (key: string) => [a, b].map((g) => new OpenAI({ baseURL: g.baseURL, apiKey: key, maxRetries: 0 }));
  const ask = (c: OpenAI, extra: Record<string, unknown> = {}) => c.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], ...extra } as never);

  it('a key with rpm 50 gets exactly 50 successes across both under a burst of 200', async () => {
    const { key } = await a.createKey({ name: 'rpm50', rpm: 50 });
    const [ca, cb] = clients(key);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => outcome(ask(i % 2 ? ca : cb))));
    expect(results.filter((s) => s === 200)).toHaveLength(50);
    expect(results.filter((s) => s === 429)).toHaveLength(150);
  });

  it('a token quota is never overspent by more than one reservation under 100 concurrent requests', async () => {
    const { key, id } = await a.createKey({ name: 'quota', quota_tokens: 200 });
    const [ca, cb] = clients(key);
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => outcome(ask(i % 2 ? ca : cb, { max_tokens: 10 }))));
    const ok = results.filter((s) => s === 200).length;
    expect(ok).toBeGreaterThan(0);
    expect(results.filter((s) => s !== 200).every((s) => s === 429)).toBe(true);
    await a.services.recorder.flush();
    await b.services.recorder.flush();
    const view = (await (await a.admin('GET', `/admin/keys/${id}`)).json()) as { used_tokens: number };
    expect(view.used_tokens).toBe(ok * 5);
    // One reservation: the counted prompt plus max_tokens 10, well under 30 tokens.
    expect(view.used_tokens).toBeLessThanOrEqual(200 + 30);
  });

  it('a key revoked on one instance is refused by the other within 2 s', async () => {
    const { key, id } = await a.createKey({ name: 'revoke-me' });
    const [, cb] = clients(key);
    expect(await outcome(ask(cb))).toBe(200);
    expect((await a.admin('DELETE', `/admin/keys/${id}`)).status).toBe(200);
    const { elapsed } = await within(2000, async () => ((await outcome(ask(cb))) === 401 ? true : undefined));
    expect(elapsed).toBeLessThan(2000);
  });

  it('an upstream disabled on one instance is skipped by the other within 2 s; one created on one is served by the other', async () => {
    const { key } = await a.createKey({ name: 'upstreams' });
    const [, cb] = clients(key);
    expect((await a.admin('POST', '/admin/upstreams/main/disable')).status).toBe(200);
    await within(2000, async () => ((await outcome(ask(cb))) === 503 ? true : undefined));
    expect((await a.admin('POST', '/admin/upstreams/main/enable')).status).toBe(200);
    await within(2000, async () => ((await outcome(ask(cb))) === 200 ? true : undefined));

    const created = await a.admin('POST', '/admin/upstreams', { name: 'runtime', type: 'openai', base_url: sim.url, api_key: 'sk-runtime-credential', models: ['runtime-model'] });
    expect(created.status).toBe(201);
    await within(2000, async () => ((await outcome(cb.chat.completions.create({ model: 'runtime-model', messages: [{ role: 'user', content: 'x' }] }))) === 200 ? true : undefined));
    expect(sim.requests.at(-1)?.headers.authorization).toBe('Bearer sk-runtime-credential');
  });
});

describe.skipIf(!PG_URL)('outages lose nothing', () => {
  let sim: OpenAISimulator;

  beforeAll(async () => {
    sim = await startOpenAISimulator({ models: ['m'] });
    sim.handler = () => ({ type: 'text', text: 'hi', promptTokens: 3, completionTokens: 2 });
  });
  afterAll(async () => {
    await sim?.close();
  });

  /** Sends requests one after another (8 at a time) until `stop()`; returns every outcome with its request id. */
  function load(c: OpenAI) {
    let running = true;
    const done: Array<{ status: number; id: string | null }> = [];
    const worker = async () => {
      while (running) {
        const r = await c.chat.completions
          .create({ model: 'm', messages: [{ role: 'user', content: 'x' }] })
          .withResponse()
          .then(
            ({ response }) => ({ status: 200, id: response.headers.get('x-request-id') }),
            (e: { status?: number }) => ({ status: e.status ?? -1, id: null }),
          );
        done.push(r);
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    return { done, stop: async () => ((running = false), await Promise.all(workers)) };
  }

  it.skipIf(!REDIS_URL)('Redis stopped and restarted under load: requests keep succeeding, limits come back shared', async () => {
    const redis: RedisServerHandle = await startRedisServer();
    const db = await postgresTestDatabase();
    const gw = await startTestGateway({ redis: redis.url, upstreams: [{ name: 'main', type: 'openai', base_url: sim.url, models: ['m'] }] }, { database: db.url, services: { secretKey: SECRET } });
    try {
      const { key } = await gw.createKey({ name: 'redis-fault', rpm: 100_000 });
      const c = new OpenAI({ baseURL: gw.baseURL, apiKey: key, maxRetries: 0 });
      const run = load(c);
      await sleep(500);
      expect(gw.services.limiter.backendName).toBe('redis');
      await redis.stop();
      await sleep(1500);
      expect(gw.services.limiter.backendName).toBe('memory');
      await redis.restart();
      await within(5000, async () => (gw.services.limiter.backendName === 'redis' && gw.services.redis?.status === 'ready' ? true : undefined));
      await sleep(500);
      await run.stop();
      expect(run.done.length).toBeGreaterThan(50);
      expect(run.done.filter((r) => r.status !== 200)).toEqual([]);
    } finally {
      await gw.close();
      await redis.stop();
      await db.drop();
    }
  });

  it('the database unreachable for 10 s under load: every request served and, afterwards, in the usage log', { timeout: 60_000 }, async () => {
    const db = await postgresTestDatabase();
    const target = new URL(db.url);
    const proxy: TcpProxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    // A small in-memory bound, so the outage also goes through the journal file.
    const gw = await startTestGateway(
      { usage: { flush_interval_ms: 100, max_buffered: 40 }, upstreams: [{ name: 'main', type: 'openai', base_url: sim.url, models: ['m'] }] },
      { database: proxy.url(db.url), services: { secretKey: SECRET } },
    );
    try {
      const { key, id } = await gw.createKey({ name: 'db-fault' });
      const c = new OpenAI({ baseURL: gw.baseURL, apiKey: key, maxRetries: 0 });
      // The key is known (cached) before the outage: that is what keeps it working.
      const first = await c.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }).withResponse();
      const run = load(c);
      run.done.push({ status: 200, id: first.response.headers.get('x-request-id') });
      await sleep(300);
      proxy.cut();
      await sleep(10_000);
      const duringOutage = run.done.length;
      proxy.restore();
      await sleep(500);
      await run.stop();
      expect(duringOutage).toBeGreaterThan(40);
      expect(run.done.filter((r) => r.status !== 200)).toEqual([]);
      await within(15_000, async () => (gw.services.recorder.backlog === 0 ? true : undefined));
      await gw.services.recorder.flush();
      const rows = await gw.store.db.selectFrom('usage_records').select(['request_id', 'total_tokens', 'charged']).where('key_id', '=', id).execute();
      const logged = new Set(rows.map((r) => r.request_id));
      expect(rows).toHaveLength(run.done.length);
      for (const r of run.done) expect(logged.has(r.id as string)).toBe(true);
      expect(rows.every((r) => Number(r.total_tokens) === 5 && r.charged === 1)).toBe(true);
      const view = (await (await gw.admin('GET', `/admin/keys/${id}`)).json()) as { used_tokens: number };
      expect(view.used_tokens).toBe(run.done.length * 5);

      // A key never seen before cannot be checked during an outage: 503 in the caller's format, not a 500.
      const { key: unseen } = await gw.createKey({ name: 'unseen' });
      proxy.cut();
      const err = await new OpenAI({ baseURL: gw.baseURL, apiKey: unseen, maxRetries: 0 }).chat.completions
        .create({ model: 'm', messages: [{ role: 'user', content: 'x' }] })
        .then(() => undefined, (e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
      proxy.restore();
      expect(err?.status).toBe(503);
      expect(err?.message).toMatch(/cannot be verified right now/);
    } finally {
      await gw.close();
      await proxy.close();
      await db.drop();
    }
  });
});
