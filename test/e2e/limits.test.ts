/**
 * Key, upstream and credential limits on one instance (SQLite, counters in memory):
 * exact rpm under a burst, tpm and quotas reserved up front and settled to real usage,
 * concurrency slots, IP allow-lists behind trusted proxies, OpenAI's rate-limit headers,
 * and the 429/403 shapes of each client format.
 */
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type OpenAISimulator, startOpenAISimulator } from '../helpers/openai-simulator.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

let sim: OpenAISimulator;
let backup: OpenAISimulator;
let gw: TestGateway;
/** Believes X-Forwarded-For from 127.0.0.1. */
let proxied: TestGateway;

const clientFor = (key: string, g: TestGateway = gw) => new OpenAI({ baseURL: g.baseURL, apiKey: key, maxRetries: 0 });
const ask = (c: OpenAI, extra: Record<string, unknown> = {}) =>
  c.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hello' }], ...extra } as never).withResponse();
const outcome = (p: Promise<unknown>) => p.then(() => 200, (e: { status?: number }) => e.status ?? -1);
const apiError = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as InstanceType<typeof OpenAI.APIError>);

beforeAll(async () => {
  sim = await startOpenAISimulator({ models: ['m'] });
  backup = await startOpenAISimulator({ models: ['m'] });
  const config = {
    upstreams: [
      { name: 'main', type: 'openai', base_url: sim.url, models: ['m'] },
      // At most 3 requests a minute here: the gateway moves on to the next tier before the provider would answer 429.
      { name: 'capped', type: 'openai', base_url: sim.url, models: ['capped'], rpm: 3 },
      { name: 'overflow', type: 'openai', base_url: backup.url, models: ['capped'], priority: 1 },
      // Two accounts with 2 requests a minute each.
      { name: 'accounts', type: 'openai', base_url: sim.url, models: ['accounts'], api_keys: [{ key: 'sk-acct-one-000000', rpm: 2 }, { key: 'sk-acct-two-000000', rpm: 2 }] },
    ],
    models: { m: { input_price: 1000, output_price: 1000 } },
  };
  gw = await startTestGateway(config);
  proxied = await startTestGateway({ ...config, trusted_proxies: ['127.0.0.1/32', '::1'] });
});

afterAll(async () => {
  await gw?.close();
  await proxied?.close();
  await sim?.close();
  await backup?.close();
});

beforeEach(() => {
  sim.requests.length = 0;
  backup.requests.length = 0;
  sim.handler = () => ({ type: 'text', text: 'fine', promptTokens: 3, completionTokens: 2 });
});

describe('requests per minute', () => {
  it('admits exactly rpm of a concurrent burst; the rest get 429 rate_limit_exceeded with retry-after', async () => {
    const { key } = await gw.createKey({ name: 'rpm', rpm: 10 });
    const c = clientFor(key);
    const results = await Promise.all(Array.from({ length: 30 }, () => ask(c).then((r) => r.response, (e: unknown) => e as InstanceType<typeof OpenAI.APIError>)));
    const ok = results.filter((r): r is Response => r instanceof Response);
    const refused = results.filter((r): r is InstanceType<typeof OpenAI.APIError> => !(r instanceof Response));
    expect(ok).toHaveLength(10);
    expect(refused).toHaveLength(20);
    for (const e of refused) {
      expect(e.status).toBe(429);
      expect(e.code).toBe('rate_limit_exceeded');
      expect(Number(e.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(e.headers?.get('x-ratelimit-limit-requests')).toBe('10');
      expect(e.headers?.get('x-ratelimit-remaining-requests')).toBe('0');
    }
    const remaining = ok.map((r) => Number(r.headers.get('x-ratelimit-remaining-requests'))).sort((a, b) => a - b);
    expect(remaining).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const r of ok) {
      expect(r.headers.get('x-ratelimit-limit-requests')).toBe('10');
      expect(r.headers.get('x-ratelimit-reset-requests')).toMatch(/^(\d+ms|\d+(\.\d+)?s|\d+m\d+s)$/);
    }
    expect(sim.requests).toHaveLength(10);
  });

  it('answers 429 in the Anthropic and Gemini shapes too', async () => {
    const { key } = await gw.createKey({ name: 'rpm-formats', rpm: 1 });
    await ask(clientFor(key));
    const anthropic = new Anthropic({ baseURL: gw.url, apiKey: key, maxRetries: 0 });
    const aErr = await anthropic.messages.create({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).then(() => undefined, (e: unknown) => e as InstanceType<typeof Anthropic.APIError>);
    expect(aErr?.status).toBe(429);
    expect((aErr?.error as { error?: { type?: string } })?.error?.type).toBe('rate_limit_error');
    const gemini = new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: gw.url } });
    const gErr = await gemini.models.generateContent({ model: 'm', contents: 'x' }).then(() => undefined, (e: unknown) => e as { status?: number; message?: string });
    expect(gErr?.status).toBe(429);
    expect(gErr?.message).toContain('RESOURCE_EXHAUSTED');
  });
});

describe('tokens per minute', () => {
  it('reserves prompt + max_tokens up front and settles to real usage', async () => {
    const { key } = await gw.createKey({ name: 'tpm', tpm: 100 });
    const c = clientFor(key);
    sim.handler = () => ({ type: 'text', text: 'fine', promptTokens: 3, completionTokens: 2, firstByteDelayMs: 300 });
    // Each reserves ~40+ tokens while in flight: two fit under 100, the third does not.
    const burst = await Promise.all([0, 1, 2].map(() => outcome(ask(c, { max_tokens: 40 }))));
    expect(burst.sort()).toEqual([200, 200, 429]);
    const err = await apiError(ask(c, { max_tokens: 200 }));
    expect(err?.status).toBe(429);
    expect(err?.message).toMatch(/tokens per min/);
    expect(err?.headers?.get('x-ratelimit-limit-tokens')).toBe('100');
    // Settled to 5 tokens each: the window now holds 10 of 100, so a request reserving ~45 fits again at once.
    const { response } = await ask(c, { max_tokens: 40 });
    expect(response.headers.get('x-ratelimit-limit-tokens')).toBe('100');
    expect(Number(response.headers.get('x-ratelimit-remaining-tokens'))).toBeGreaterThan(30);
  });

  it('uses limits.default_max_tokens when the request names no ceiling', async () => {
    const { key } = await gw.createKey({ name: 'tpm-default', tpm: 1000 });
    // Default 4096 > 1000: an empty window still lets one such request through, the next waits for settlement.
    sim.handler = () => ({ type: 'text', text: 'fine', promptTokens: 3, completionTokens: 2, firstByteDelayMs: 200 });
    const burst = await Promise.all([0, 1].map(() => outcome(ask(clientFor(key)))));
    expect(burst.sort()).toEqual([200, 429]);
  });
});

describe('concurrency', () => {
  it('max_concurrency: requests beyond the slots get 429 until one finishes', async () => {
    const { key } = await gw.createKey({ name: 'conc', max_concurrency: 2 });
    const c = clientFor(key);
    sim.handler = () => ({ type: 'text', text: 'slow', firstByteDelayMs: 300 });
    const burst = await Promise.all(Array.from({ length: 5 }, () => outcome(ask(c))));
    expect(burst.filter((s) => s === 200)).toHaveLength(2);
    expect(burst.filter((s) => s === 429)).toHaveLength(3);
    expect(await outcome(ask(c))).toBe(200);
  });

  it('frees the slot when a stream ends or the client goes away', async () => {
    const { key } = await gw.createKey({ name: 'conc-stream', max_concurrency: 1 });
    const c = clientFor(key);
    sim.handler = () => ({ type: 'text', text: 'a b c d e f', chunkDelayMs: 100 });
    const ac = new AbortController();
    const stream = await c.chat.completions.create({ model: 'm', stream: true, messages: [{ role: 'user', content: 'x' }] }, { signal: ac.signal });
    expect(await outcome(ask(c))).toBe(429);
    for await (const _ of stream) {
      ac.abort();
      break;
    }
    await new Promise((r) => setTimeout(r, 300));
    sim.handler = () => ({ type: 'text', text: 'again' });
    expect(await outcome(ask(c))).toBe(200);
  });
});

describe('quotas', () => {
  it('a token quota answers 429 insufficient_quota once spent', async () => {
    const { key } = await gw.createKey({ name: 'quota', quota_tokens: 8 });
    const c = clientFor(key);
    expect(await outcome(ask(c, { max_tokens: 2 }))).toBe(200);
    expect(await outcome(ask(c, { max_tokens: 2 }))).toBe(200);
    const err = await apiError(ask(c, { max_tokens: 2 }));
    expect(err?.status).toBe(429);
    expect(err?.code).toBe('insufficient_quota');
    expect(err?.type).toBe('insufficient_quota');
  });

  it('a dollar quota reserves the cost of prompt + max_tokens at the model price', async () => {
    // 1000 USD per million tokens both ways: 5 tokens = $0.005; the quota fits about one.
    const { key } = await gw.createKey({ name: 'quota-usd', quota_usd: 0.006 });
    const c = clientFor(key);
    sim.handler = () => ({ type: 'text', text: 'fine', promptTokens: 3, completionTokens: 2, firstByteDelayMs: 200 });
    const burst = await Promise.all([0, 1, 2].map(() => outcome(ask(c, { max_tokens: 2 }))));
    expect(burst.filter((s) => s === 200).length).toBeLessThanOrEqual(2);
    expect(burst).toContain(429);
  });
});

describe('upstream and credential limits', () => {
  it("an upstream's rpm spreads load to the next upstream before the provider would refuse", async () => {
    const { key } = await gw.createKey({ name: 'spread' });
    const c = clientFor(key);
    for (let i = 0; i < 5; i++) await c.chat.completions.create({ model: 'capped', messages: [{ role: 'user', content: 'x' }] });
    expect(sim.requests).toHaveLength(3);
    expect(backup.requests).toHaveLength(2);
  });

  it("each credential keeps its own rpm; when all are used up the caller gets 429 for the upstream", async () => {
    const { key } = await gw.createKey({ name: 'accounts' });
    const c = clientFor(key);
    for (let i = 0; i < 4; i++) await c.chat.completions.create({ model: 'accounts', messages: [{ role: 'user', content: 'x' }] });
    const auth = sim.requests.map((r) => r.headers.authorization).sort();
    expect(auth).toEqual(['Bearer sk-acct-one-000000', 'Bearer sk-acct-one-000000', 'Bearer sk-acct-two-000000', 'Bearer sk-acct-two-000000']);
    const err = await apiError(c.chat.completions.create({ model: 'accounts', messages: [{ role: 'user', content: 'x' }] }));
    expect(err?.status).toBe(429);
    expect(err?.message).toMatch(/upstream accounts/);
    expect(sim.requests).toHaveLength(4);
  });
});

describe('IP allow-lists', () => {
  it('refuses an address outside the list with 403 and admits one inside', async () => {
    const outside = await gw.createKey({ name: 'ip-out', allowed_ips: ['10.0.0.0/8', '2001:db8::/32'] });
    const err = await apiError(ask(clientFor(outside.key)));
    expect(err?.status).toBe(403);
    expect(err?.code).toBe('ip_not_allowed');
    expect(sim.requests).toHaveLength(0);
    const inside = await gw.createKey({ name: 'ip-in', allowed_ips: ['127.0.0.0/8'] });
    expect(await outcome(ask(clientFor(inside.key)))).toBe(200);
  });

  it('honours X-Forwarded-For only from trusted proxies', async () => {
    const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
    const call = async (g: TestGateway, key: string, xff: string) =>
      (await fetch(`${g.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-forwarded-for': xff }, body })).status;
    const k1 = await proxied.createKey({ name: 'xff', allowed_ips: ['10.0.0.0/8'] });
    expect(await call(proxied, k1.key, '10.1.2.3')).toBe(200);
    // The right-most untrusted address counts: a client cannot spoof by prepending.
    expect(await call(proxied, k1.key, '10.9.9.9, 192.0.2.7')).toBe(403);
    // A gateway with no trusted proxies ignores the header and sees 127.0.0.1.
    const k2 = await gw.createKey({ name: 'xff-untrusted', allowed_ips: ['10.0.0.0/8'] });
    expect(await call(gw, k2.key, '10.1.2.3')).toBe(403);
  });

  it('rejects a malformed allow-list when the key is made', async () => {
    const res = await gw.admin('POST', '/admin/keys', { name: 'bad-ip', allowed_ips: ['10.0.0.0/33'] });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('10.0.0.0/33');
  });
});
