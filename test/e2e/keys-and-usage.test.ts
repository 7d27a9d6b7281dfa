import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpenAISimulator, type OpenAISimulator } from '../helpers/openai-simulator.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

let sim: OpenAISimulator;
let gw: TestGateway;

const ask = (c: OpenAI, model = 'gpt-4o-mini') => c.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] });
const clientFor = (key: string) => new OpenAI({ baseURL: gw.baseURL, apiKey: key, maxRetries: 0 });
const status = (p: Promise<unknown>) => p.then(() => 200, (e: { status?: number }) => e.status ?? -1);

beforeAll(async () => {
  sim = await startOpenAISimulator();
  // Every call costs 10 prompt + 5 completion tokens.
  sim.handler = () => ({ type: 'text', text: 'a b c d e', promptTokens: 10, completionTokens: 5 });
  gw = await startTestGateway({
    upstreams: [{ name: 'main', type: 'openai', base_url: sim.url, models: ['gpt-4o-mini', 'gpt-4o'] }],
    models: { 'gpt-4o-mini': { input_price: 1000, output_price: 2000 } },
  });
});

afterAll(async () => {
  await gw?.close();
  await sim?.close();
});

describe('admin key API', () => {
  it('creates, reads, lists, updates and revokes keys; the secret is shown once and stored hashed', async () => {
    const expires = '2099-01-01T00:00:00Z';
    const res = await gw.admin('POST', '/admin/keys', { name: 'alice', quota_tokens: 1000, quota_usd: 2.5, expires_at: expires, models: ['gpt-4o-mini'], rpm: 100 });
    expect(res.status).toBe(201);
    const created = (await res.json()) as Record<string, unknown>;
    expect(created).toMatchObject({ name: 'alice', quota_tokens: 1000, quota_usd: 2.5, models: ['gpt-4o-mini'], rpm: 100, expires_at: Date.parse(expires) / 1000 });
    const secret = created.key as string;
    expect(secret).toMatch(/^sk-/);
    const row = await gw.store.db.selectFrom('api_keys').selectAll().where('id', '=', created.id as string).executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(secret);

    const got = (await (await gw.admin('GET', `/admin/keys/${created.id}`)).json()) as Record<string, unknown>;
    expect(got.key).toBeUndefined();
    expect(got.name).toBe('alice');
    const list = (await (await gw.admin('GET', '/admin/keys')).json()) as { data: Array<Record<string, unknown>> };
    expect(list.data.map((k) => k.id)).toContain(created.id);
    expect(JSON.stringify(list)).not.toContain(secret);

    const patched = await gw.admin('PATCH', `/admin/keys/${created.id}`, { name: 'alice2', models: null, expires_at: 4102444800 });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ name: 'alice2', models: null, expires_at: 4102444800 });

    expect((await ask(clientFor(secret), 'gpt-4o')).choices[0].message.content).toBeTruthy();
    expect((await gw.admin('DELETE', `/admin/keys/${created.id}`)).status).toBe(200);
    expect((await gw.admin('GET', `/admin/keys/${created.id}`)).status).toBe(404);
    expect(await status(ask(clientFor(secret)))).toBe(401);
  });

  it('rejects a wrong admin key and bad input', async () => {
    const wrong = await fetch(`${gw.url}/admin/keys`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { error: { message: string } }).error.message).toMatch(/admin key/i);
    expect((await fetch(`${gw.url}/admin/keys`)).status).toBe(401);
    // A user key is not an admin key.
    const { key } = await gw.createKey();
    expect((await fetch(`${gw.url}/admin/keys`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(401);
    for (const body of [{}, { name: '' }, { name: 'x', quota_tokens: -1 }, { name: 'x', expires_at: 'tomorrow-ish' }, { name: 'x', models: 'gpt-4o' }, { name: 'x', bogus: 1 }]) {
      const r = await gw.admin('POST', '/admin/keys', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(((await r.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    }
    expect((await gw.admin('PATCH', '/admin/keys/key_missing', { name: 'y' })).status).toBe(404);
    expect((await gw.admin('DELETE', '/admin/keys/key_missing')).status).toBe(404);
  });

  it('401 for expired keys; 403 for a model outside the allow-list; 429 over rpm', async () => {
    const expired = await gw.createKey({ expires_at: Math.floor(Date.now() / 1000) - 10 });
    const e = (await ask(clientFor(expired.key)).catch((x: unknown) => x)) as InstanceType<typeof OpenAI.APIError>;
    expect(e.status).toBe(401);
    expect(e.message).toMatch(/expired/);

    const limited = await gw.createKey({ models: ['gpt-4o-mini'] });
    const c = clientFor(limited.key);
    expect((await ask(c)).choices.length).toBe(1);
    const denied = (await ask(c, 'gpt-4o').catch((x: unknown) => x)) as InstanceType<typeof OpenAI.APIError>;
    expect(denied).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(denied.code).toBe('model_not_allowed');
    expect((await c.models.list()).data.map((m) => m.id)).toEqual(['gpt-4o-mini']);
    expect(await status(c.models.retrieve('gpt-4o'))).toBe(404);
    expect((await c.models.retrieve('gpt-4o-mini')).id).toBe('gpt-4o-mini');

    const slow = await gw.createKey({ rpm: 2 });
    const sc = clientFor(slow.key);
    expect([await status(ask(sc)), await status(ask(sc)), await status(ask(sc))]).toEqual([200, 200, 429]);
    const r = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${slow.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(r.status).toBe(429);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('rate_limit_exceeded');
  });
});

describe('quotas', () => {
  it('admits while quota is left, charges real usage, then answers 429 insufficient_quota', async () => {
    const { key, id } = await gw.createKey({ quota_tokens: 40 });
    const c = clientFor(key);
    expect([await status(ask(c)), await status(ask(c)), await status(ask(c))]).toEqual([200, 200, 200]);
    const over = (await ask(c).catch((x: unknown) => x)) as InstanceType<typeof OpenAI.APIError>;
    expect(over.status).toBe(429);
    expect(over.code).toBe('insufficient_quota');
    const view = (await (await gw.admin('GET', `/admin/keys/${id}`)).json()) as { used_tokens: number; status: string };
    expect(view.used_tokens).toBe(45);
    expect(view.status).toBe('exhausted');
  });

  it('under concurrency overspends by at most one reservation (prompt + max_tokens, reserved up front)', async () => {
    const { key, id } = await gw.createKey({ quota_tokens: 50 });
    const c = clientFor(key);
    // The upstream counts the prompt as the gateway's tokenizer does (one word, a few tokens of chat framing): real usage stays within each reservation.
    sim.handler = () => ({ type: 'text', text: 'a b c d e', promptTokens: 2, completionTokens: 5, firstByteDelayMs: 200 });
    try {
      const askSmall = () => c.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
      const first = await Promise.all(Array.from({ length: 10 }, () => status(askSmall())));
      const ok = first.filter((s) => s === 200).length;
      // Each reservation is the counted prompt plus max_tokens (about 10 tokens): a few fit under 50, not all ten.
      expect(ok).toBeGreaterThanOrEqual(3);
      expect(ok).toBeLessThan(10);
      expect(first.filter((s) => s === 429)).toHaveLength(10 - ok);
      await gw.services.recorder.flush();
      const view = (await (await gw.admin('GET', `/admin/keys/${id}`)).json()) as { used_tokens: number };
      expect(view.used_tokens).toBe(ok * 7);
      expect(view.used_tokens).toBeLessThanOrEqual(50 + 15);
    } finally {
      sim.handler = () => ({ type: 'text', text: 'a b c d e', promptTokens: 10, completionTokens: 5 });
    }
  });

  it('enforces a dollar quota at the configured prices', async () => {
    // 10 * 1000 + 5 * 2000 = 20000 USD per million tokens -> $0.02 a call.
    const { key } = await gw.createKey({ quota_usd: 0.03 });
    const c = clientFor(key);
    expect([await status(ask(c)), await status(ask(c)), await status(ask(c))]).toEqual([200, 200, 429]);
  });
});

describe('usage queries', () => {
  it('reports totals and per-model usage for the calling key only, within a second', async () => {
    const { key } = await gw.createKey();
    const other = await gw.createKey();
    const c = clientFor(key);
    const before = Math.floor(Date.now() / 1000) - 1;
    await ask(c);
    await ask(c);
    await ask(c, 'gpt-4o');
    await ask(clientFor(other.key));
    const res = await fetch(`${gw.baseURL}/usage`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    const usage = (await res.json()) as { object: string; totals: Record<string, number>; by_model: Array<Record<string, unknown>> };
    expect(usage.object).toBe('usage');
    expect(usage.totals).toEqual({ requests: 3, prompt_tokens: 30, completion_tokens: 15, total_tokens: 45, cost_usd: 0.04 });
    expect(usage.by_model).toEqual([
      { model: 'gpt-4o', requests: 1, prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, cost_usd: 0 },
      { model: 'gpt-4o-mini', requests: 2, prompt_tokens: 20, completion_tokens: 10, total_tokens: 30, cost_usd: 0.04 },
    ]);
    const windowed = (await (await fetch(`${gw.baseURL}/usage?start=${before}&end=${new Date(Date.now() + 60_000).toISOString()}`, { headers: { authorization: `Bearer ${key}` } })).json()) as { totals: { requests: number } };
    expect(windowed.totals.requests).toBe(3);
    const future = (await (await fetch(`${gw.baseURL}/usage?start=${before + 3600}`, { headers: { authorization: `Bearer ${key}` } })).json()) as { totals: { requests: number } };
    expect(future.totals.requests).toBe(0);
    const bad = await fetch(`${gw.baseURL}/usage?start=yesterday`, { headers: { authorization: `Bearer ${key}` } });
    expect(bad.status).toBe(400);
  });

  it('answers the legacy billing endpoints relay clients read', async () => {
    const { key } = await gw.createKey({ quota_usd: 5, expires_at: 4102444800 });
    await ask(clientFor(key));
    const h = { authorization: `Bearer ${key}` };
    const sub = (await (await fetch(`${gw.baseURL}/dashboard/billing/subscription`, { headers: h })).json()) as Record<string, unknown>;
    expect(sub).toMatchObject({ object: 'billing_subscription', hard_limit_usd: 5, soft_limit_usd: 5, system_hard_limit_usd: 5, access_until: 4102444800, has_payment_method: true });
    const today = new Date().toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const usage = (await (await fetch(`${gw.baseURL}/dashboard/billing/usage?start_date=${today}&end_date=${tomorrow}`, { headers: h })).json()) as { object: string; total_usage: number; daily_costs: Array<{ line_items: Array<{ name: string; cost: number }> }> };
    expect(usage.object).toBe('list');
    // $0.02 = 2 cents.
    expect(usage.total_usage).toBeCloseTo(2, 9);
    expect(usage.daily_costs[0].line_items).toEqual([{ name: 'gpt-4o-mini', cost: 2 }]);
    const unlimited = await gw.createKey();
    const sub2 = (await (await fetch(`${gw.url}/v1-openai/dashboard/billing/subscription`, { headers: { authorization: `Bearer ${unlimited.key}` } })).json()) as Record<string, unknown>;
    expect(sub2.hard_limit_usd).toBe(100000000);
    expect(sub2.access_until).toBe(0);
  });
});
