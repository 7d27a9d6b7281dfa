/**
 * Observability end to end: GET /metrics scraped and parsed after real traffic from the official
 * OpenAI client (its counters matching the usage log), the admin protection and the separate
 * `metrics.listen` listener, the x-switchyard-overhead-ms header on relayed answers, and the
 * `log_requests` access line.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpenAISimulator, startOpenAISimulator } from '../helpers/openai-simulator.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';
import { capturingLogger } from '../helpers/capturing-logger.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text format, sample lines only. */
function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

const sum = (samples: Sample[], name: string, match: Record<string, string> = {}): number =>
  samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);

let sim: OpenAISimulator;
let gw: TestGateway;
let client: OpenAI;

async function scrape(g: TestGateway = gw): Promise<{ text: string; samples: Sample[] }> {
  const res = await fetch(`${g.url}/metrics`, { headers: { authorization: `Bearer ${g.adminKey}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { text, samples: parseMetrics(text) };
}

beforeAll(async () => {
  sim = await startOpenAISimulator();
  sim.handler = () => ({ type: 'text', text: 'one two three', promptTokens: 11, completionTokens: 3 });
  gw = await startTestGateway({
    retry: { attempts: 1, backoff_ms: 0 },
    upstreams: [
      { name: 'main', type: 'openai', base_url: sim.url, models: ['gpt-4o-mini', 'gpt-4o'] },
      { name: 'down', type: 'openai', base_url: 'http://127.0.0.1:9/v1', models: ['down-model'] },
    ],
    models: { 'gpt-4o-mini': { input_price: 1, output_price: 4 }, 'gpt-4o': { input_price: 2.5, output_price: 10 } },
  });
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: (await gw.createKey({ name: 'metrics' })).key, maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  await sim?.close();
});

describe('GET /metrics', () => {
  it('counts requests, tokens and cost as the usage log records them; latency, TTFT, errors and rejections', async () => {
    for (let i = 0; i < 3; i++) await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    for (let i = 0; i < 2; i++) {
      const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } });
      for await (const _ of stream) void _;
    }
    await expect(client.chat.completions.create({ model: 'down-model', messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status: 502 });
    const limited = new OpenAI({ baseURL: gw.baseURL, apiKey: (await gw.createKey({ name: 'one-rpm', rpm: 1 })).key, maxRetries: 0 });
    await limited.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    await expect(limited.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status: 429 });
    await gw.services.recorder.flush();

    const records = await gw.store.db.selectFrom('usage_records').selectAll().execute();
    expect(records).toHaveLength(7);
    const { text, samples } = await scrape();
    expect(sum(samples, 'switchyard_requests_total')).toBe(records.length);
    for (const r of records) {
      expect(sum(samples, 'switchyard_requests_total', { endpoint: r.endpoint, model: r.model, upstream: r.upstream ?? '', status: String(r.status) }), `${r.model} ${r.status}`).toBe(
        records.filter((x) => x.model === r.model && x.status === r.status && x.upstream === r.upstream).length,
      );
    }
    const charged = records.filter((r) => r.charged === 1);
    for (const model of ['gpt-4o-mini', 'gpt-4o']) {
      const of = charged.filter((r) => r.model === model);
      expect(sum(samples, 'switchyard_tokens_total', { model, type: 'prompt' })).toBe(of.reduce((n, r) => n + Number(r.prompt_tokens), 0));
      expect(sum(samples, 'switchyard_tokens_total', { model, type: 'completion' })).toBe(of.reduce((n, r) => n + Number(r.completion_tokens), 0));
      expect(sum(samples, 'switchyard_cost_usd_total', { model })).toBeCloseTo(of.reduce((n, r) => n + Number(r.cost_usd), 0), 12);
    }
    expect(sum(samples, 'switchyard_tokens_total', { model: 'gpt-4o-mini', type: 'prompt' })).toBe(44);
    expect(sum(samples, 'switchyard_request_duration_seconds_count')).toBe(records.length);
    expect(sum(samples, 'switchyard_time_to_first_token_seconds_count', { model: 'gpt-4o' })).toBe(2);
    expect(sum(samples, 'switchyard_time_to_first_token_seconds_count', { model: 'gpt-4o-mini' })).toBe(0);
    expect(sum(samples, 'switchyard_upstream_errors_total', { upstream: 'down', code: 'upstream_unreachable', status: '502' })).toBe(1);
    expect(sum(samples, 'switchyard_rate_limit_rejections_total', { reason: 'rate_limit_exceeded' })).toBe(1);
    expect(sum(samples, 'switchyard_upstream_breaker_state', { upstream: 'main' })).toBe(0);
    expect(sum(samples, 'switchyard_upstream_up', { upstream: 'main' })).toBe(1);
    expect(sum(samples, 'switchyard_upstream_calls', { upstream: 'main' })).toBe(6);
    expect(sum(samples, 'switchyard_upstream_call_errors', { upstream: 'down' })).toBe(1);
    expect(sum(samples, 'switchyard_streams_in_flight')).toBe(0);
    expect(samples.find((s) => s.name === 'switchyard_usage_write_backlog')?.value).toBe(0);
    expect(text).toContain('# TYPE switchyard_batch_requests gauge');
    expect(text).toContain('switchyard_process_resident_memory_bytes');
  });

  it('counts a stream in flight while it runs', async () => {
    sim.enqueue({ type: 'text', text: 'a b c d e f', chunkDelayMs: 150 });
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'slow' }], stream: true });
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    expect(sum((await scrape()).samples, 'switchyard_streams_in_flight')).toBe(1);
    for (let r = await it.next(); !r.done; r = await it.next()) void r;
    expect(sum((await scrape()).samples, 'switchyard_streams_in_flight')).toBe(0);
  });

  it('needs the admin key (or an admin session)', async () => {
    expect((await fetch(`${gw.url}/metrics`)).status).toBe(401);
    const wrong = await fetch(`${gw.url}/metrics`, { headers: { authorization: 'Bearer sk-wrong' } });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { error: { message: string } }).error.message).toMatch(/admin key/i);
    const session = await fetch(`${gw.url}/admin/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ admin_key: gw.adminKey }) });
    const cookie = session.headers.get('set-cookie')!.split(';')[0];
    expect((await fetch(`${gw.url}/metrics`, { headers: { cookie } })).status).toBe(200);
  });

  it('metrics.listen serves /metrics on its own port without the key; metrics.enabled: false turns it off', async () => {
    const other = await startTestGateway({ metrics: { listen: '127.0.0.1:0' } });
    const off = await startTestGateway({ metrics: { enabled: false } });
    try {
      const url = other.services.metricsServer?.url;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await fetch(`${url}/metrics`);
      expect(res.status).toBe(200);
      expect(parseMetrics(await res.text()).some((s) => s.name === 'switchyard_usage_write_backlog')).toBe(true);
      expect((await fetch(`${url}/admin/keys`)).status).toBe(404);
      expect((await fetch(`${url}/metrics`, { method: 'POST' })).status).toBe(404);
      const gone = await fetch(`${off.url}/metrics`, { headers: { authorization: `Bearer ${off.adminKey}` } });
      expect(gone.status).toBe(404);
      expect(off.services.metrics).toBeUndefined();
    } finally {
      await other.close();
      await off.close();
    }
  });
});

describe('x-switchyard-overhead-ms', () => {
  const overhead = (h: Headers): number => {
    const v = h.get('x-switchyard-overhead-ms');
    expect(v).toMatch(/^\d+\.\d{2}$/);
    return Number(v);
  };

  it('is the time in the gateway without the upstream: small beside a slow upstream, for answers and streams', async () => {
    sim.enqueue({ type: 'text', text: 'slow answer', firstByteDelayMs: 300 });
    const t0 = performance.now();
    const { response } = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    const total = performance.now() - t0;
    expect(total).toBeGreaterThan(300);
    const ms = overhead(response.headers);
    expect(ms).toBeGreaterThanOrEqual(0);
    expect(ms).toBeLessThan(150);

    sim.enqueue({ type: 'text', text: 'slow stream', firstByteDelayMs: 300 });
    const streamed = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true }).withResponse();
    const sms = overhead(streamed.response.headers);
    expect(sms).toBeLessThan(150);
    for await (const _ of streamed.data) void _;
  });

  it('leaves out the waits of failed attempts and the backoff before the next', async () => {
    const retrying = await startTestGateway({
      retry: { attempts: 2, backoff_ms: 200 },
      upstreams: [{ name: 'main', type: 'openai', base_url: sim.url, models: ['gpt-4o-mini'] }],
    });
    try {
      sim.enqueue({ type: 'error', status: 500 }, { type: 'text', text: 'second time lucky' });
      const c = new OpenAI({ baseURL: retrying.baseURL, apiKey: (await retrying.createKey()).key, maxRetries: 0 });
      const t0 = performance.now();
      const { response } = await c.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
      expect(performance.now() - t0).toBeGreaterThan(100);
      expect(response.headers.get('x-switchyard-attempts')).toBe('2');
      expect(overhead(response.headers)).toBeLessThan(100);
    } finally {
      await retrying.close();
    }
  });
});

describe('log_requests', () => {
  it('writes one structured access line per request, without secrets or prompt text', async () => {
    const { log, lines } = capturingLogger();
    const gw = await startTestGateway({ log_requests: true, upstreams: [{ name: 'main', type: 'openai', base_url: sim.url, models: ['gpt-4o-mini'] }] }, { log });
    const { url, adminKey } = gw;
    try {
      const { key, id } = await gw.createKey({ name: 'logged' });
      const c = new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0 });
      await c.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'a very secret prompt' }] });
      const stream = await c.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'another secret prompt' }], stream: true });
      for await (const _ of stream) void _;
      await fetch(`${url}/v1/models?key=${key}`);
      await new Promise((r) => setTimeout(r, 50));
      const access = lines.filter((l) => l.msg === 'request');
      expect(access.map((l) => [l.method, l.path, l.status])).toEqual([
        ['POST', '/admin/keys', 201],
        ['POST', '/v1/chat/completions', 200],
        ['POST', '/v1/chat/completions', 200],
        // The key in the query (as Gemini clients send it) stays out of the line.
        ['GET', '/v1/models', 200],
      ]);
      expect(access[1]).toMatchObject({ route: '/v1/chat/completions', keyId: id, model: 'gpt-4o-mini', upstream: 'main', stream: false, attempts: 1, promptTokens: expect.any(Number), ms: expect.any(Number) });
      expect(access[2]).toMatchObject({ stream: true, model: 'gpt-4o-mini' });
      const all = JSON.stringify(lines);
      for (const secret of [key, adminKey, 'secret prompt']) expect(all).not.toContain(secret);
    } finally {
      await gw.close();
    }
  });
});
