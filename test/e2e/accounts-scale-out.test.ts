/**
 * Accounts across two instances on one PostgreSQL and one Redis: a redemption code sent 20 times
 * at once to both credits once; a disabled user's keys are refused on the other instance within
 * 2 s; a user's balance holds across both under a concurrent burst; a portal session made on one
 * instance works on the other.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpenAISimulator, startOpenAISimulator } from '../helpers/openai-simulator.ts';
import { PortalClient } from '../helpers/portal-client.ts';
import { REDIS_URL, redisKeyPrefix } from '../helpers/redis-server.ts';
import { PG_URL, postgresTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!PG_URL || !REDIS_URL)('accounts on two instances (PostgreSQL + Redis)', () => {
  let sim: OpenAISimulator;
  let db: TestDatabase;
  let a: TestGateway;
  let b: TestGateway;

  beforeAll(async () => {
    sim = await startOpenAISimulator({ models: ['m'] });
    sim.handler = () => ({ type: 'text', text: 'hi', promptTokens: 10, completionTokens: 5, firstByteDelayMs: 30 });
    db = await postgresTestDatabase();
    const services = { secretKey: 'accounts-scale-out', redisPrefix: redisKeyPrefix(), changePollMs: 500 };
    const config = {
      redis: REDIS_URL,
      upstreams: [{ name: 'main', type: 'openai', base_url: sim.url, models: ['m'] }],
      models: { m: { input_price: 1000, output_price: 2000 } },
      accounts: { signup: 'open' },
    };
    a = await startTestGateway(config, { database: db.url, services });
    b = await startTestGateway(config, { database: db.url, services });
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await sim?.close();
    await db?.drop();
  });

  const ask = (g: TestGateway, key: string) =>
    new OpenAI({ baseURL: g.baseURL, apiKey: key, maxRetries: 0 }).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], max_tokens: 5 });

  it('the same redemption code sent 20 times at once across both instances credits once', async () => {
    const pa = new PortalClient(a.url);
    expect((await pa.signUp('twin@example.com', 'password-1')).status).toBe(201);
    // The session cookie made on A is honoured by B (sessions live in the database).
    const pb = new PortalClient(b.url);
    pb.cookie = pa.cookie;
    expect((await pb.call('GET', '/portal/me')).json).toMatchObject({ email: 'twin@example.com' });
    const code = ((await (await a.admin('POST', '/admin/redemption-codes', { amount_usd: 10 })).json()) as { data: Array<{ code: string }> }).data[0].code;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? pa : pb).call('POST', '/portal/redeem', { code })));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(19);
    const me = (await pb.call('GET', '/portal/me')).json;
    expect(me.balance_usd).toBe(10);
    expect(await a.services.users.ledgerSum(me.id as string)).toBe(10);
    const rows = await a.store.db.selectFrom('ledger_entries').selectAll().where('user_id', '=', me.id as string).execute();
    expect(rows.map((r) => r.kind)).toEqual(['redemption']);
  });

  it("a disabled user's keys are refused on the other instance within 2 s", async () => {
    const u = (await (await a.admin('POST', '/admin/users', { email: 'off@example.com', balance_usd: 5 })).json()) as { id: string };
    const { key } = await a.createKey({ user_id: u.id });
    await ask(b, key); // B has the key and its user cached now.
    await a.admin('PATCH', `/admin/users/${u.id}`, { status: 'disabled' });
    const started = Date.now();
    for (;;) {
      const status = await ask(b, key).then(() => 200, (e: { status: number }) => e.status);
      if (status === 401) break;
      expect(Date.now() - started).toBeLessThan(2000);
      await sleep(50);
    }
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("a user's balance holds across both instances under 50 concurrent requests (overspend at most one reservation)", async () => {
    const u = (await (await a.admin('POST', '/admin/users', { email: 'shared@example.com', balance_usd: 0.1 })).json()) as { id: string };
    const [ka, kb] = await Promise.all([a.createKey({ user_id: u.id }), b.createKey({ user_id: u.id })]);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => ask(i % 2 ? a : b, i % 2 ? ka.key : kb.key).then(() => 200, (e: { status: number }) => e.status)));
    const ok = results.filter((s) => s === 200).length;
    expect(results.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    await a.services.recorder.flush();
    await b.services.recorder.flush();
    const row = await a.store.db.selectFrom('users').selectAll().where('id', '=', u.id).executeTakeFirstOrThrow();
    expect(Number(row.spent_usd)).toBeCloseTo(ok * 0.02, 9);
    expect(Number(row.spent_usd)).toBeLessThanOrEqual(0.1 + 0.05);
    expect(ok).toBeGreaterThanOrEqual(5);
    expect(await a.services.users.ledgerSum(u.id)).toBeCloseTo(Number(row.credited_usd) - Number(row.spent_usd), 9);
  });
});
