/**
 * Routing end to end: retries with backoff, failover across priority tiers and weights,
 * timeouts (first byte, idle), circuit breakers, several credentials, model fallbacks and
 * stream keep-alives, against OpenAI upstream simulators that fail on demand.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AnthropicSimulator, startAnthropicSimulator } from '../helpers/anthropic-simulator.ts';
import { type OpenAISimulator, startOpenAISimulator } from '../helpers/openai-simulator.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

const GOOD = 'sk-upstream-good-0123456789';
const BAD = 'sk-upstream-revoked-9876543210';

let gw: TestGateway;
let client: OpenAI;
const sims: Record<string, OpenAISimulator> = {};
let claude: AnthropicSimulator;
const NAMES = ['solo', 'slow', 'tierA', 'tierB', 'tierC', 'brk', 'brkBackup', 'creds', 'big', 'small', 'keep'] as const;

const ask = (model: string) => client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] }).withResponse();
const fail = (model: string) => ask(model).then(() => undefined, (e: unknown) => e as InstanceType<typeof OpenAI.APIError>);

async function usageRecord(requestId: string) {
  await gw.services.recorder.flush();
  return gw.services.recorder.repository.findByRequestId(requestId);
}

async function upstreamView(name: string): Promise<{ state: string; credentials: Array<{ id: string; state: string }>; recent: { requests: number } }> {
  return (await (await gw.admin('GET', `/admin/upstreams/${name}`)).json()) as never;
}

beforeAll(async () => {
  for (const n of NAMES) sims[n] = await startOpenAISimulator(n === 'creds' ? { apiKey: GOOD } : {});
  claude = await startAnthropicSimulator();
  const u = (name: string, extra: Record<string, unknown>) => ({ name, type: 'openai', base_url: sims[name].url, api_key: GOOD, ...extra });
  gw = await startTestGateway({
    retry: { attempts: 3, backoff_ms: 20, max_retry_after_ms: 2000 },
    upstreams: [
      u('solo', { models: ['solo'] }),
      u('slow', { models: ['slow'], first_byte_timeout: 0.3, idle_timeout: 0.3 }),
      u('tierA', { models: ['tiered'], priority: 0, weight: 3 }),
      u('tierB', { models: ['tiered'], priority: 0, weight: 1 }),
      u('tierC', { models: ['tiered'], priority: 1 }),
      u('brk', { models: ['brk'], breaker: { failures: 2, cooldown_ms: 400 }, retry: { attempts: 1 } }),
      u('brkBackup', { models: ['brk'], priority: 1 }),
      { name: 'creds', type: 'openai', base_url: sims.creds.url, api_keys: [BAD, GOOD], models: ['creds'] },
      { name: 'revoked', type: 'openai', base_url: sims.creds.url, api_key: BAD, models: ['revoked'] },
      u('big', { models: ['big'] }),
      u('small', { models: ['small'] }),
      u('keep', { models: ['keep'], stream_keepalive: 0.1 }),
      { name: 'claude', type: 'anthropic', base_url: claude.url, api_key: GOOD, models: ['claude-x'], breaker: { failures: 1, cooldown_ms: 200 } },
    ],
    fallbacks: { big: ['small'] },
  });
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: (await gw.createKey({ name: 'routing' })).key, maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  for (const s of Object.values(sims)) await s.close();
  await claude?.close();
});

beforeEach(() => {
  for (const s of Object.values(sims)) {
    s.requests.length = 0;
    s.handler = () => ({ type: 'text', text: 'ok' });
  }
});

describe('retries before the first byte', () => {
  it('retries a 5xx on the same upstream with backoff; the attempts are in the header and the usage record', async () => {
    sims.solo.enqueue({ type: 'error', status: 500, message: 'boom' }, { type: 'error', status: 502, message: 'bad gateway' });
    const { data, response } = await ask('solo');
    expect(data.choices[0].message.content).toBe('ok');
    expect(response.headers.get('x-switchyard-attempts')).toBe('3');
    expect(sims.solo.requests).toHaveLength(3);
    // Backoff 20 ms then 40 ms, each with jitter down to half.
    expect(sims.solo.requests[2].startedAt - sims.solo.requests[0].startedAt).toBeGreaterThanOrEqual(25);
    expect(await usageRecord(response.headers.get('x-request-id') as string)).toMatchObject({ attempts: 3, status: 200, upstream: 'solo' });
  });

  it("honours a 429's retry-after up to the cap, and passes a longer one on to the client", async () => {
    sims.solo.enqueue({ type: 'error', status: 429, message: 'slow down', headers: { 'retry-after': '1' } });
    const started = Date.now();
    const { response } = await ask('solo');
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(response.headers.get('x-switchyard-attempts')).toBe('2');

    sims.solo.enqueue({ type: 'error', status: 429, message: 'come back in a minute', headers: { 'retry-after': '60' } });
    const t0 = Date.now();
    const err = await fail('solo');
    expect(Date.now() - t0).toBeLessThan(900);
    expect(err?.status).toBe(429);
    expect(err?.message).toContain('come back in a minute');
    expect(err?.headers?.get('retry-after')).toBe('60');
    expect(sims.solo.requests).toHaveLength(3);
  });

  it('never retries a 4xx the request itself caused', async () => {
    for (const status of [400, 404, 413, 422]) {
      sims.solo.requests.length = 0;
      sims.solo.enqueue({ type: 'error', status, message: `refused ${status}` });
      const err = await fail('solo');
      expect(err?.status).toBe(status);
      expect(sims.solo.requests).toHaveLength(1);
    }
  });

  it('retries a connection reset and a 200 whose first stream event is an error', async () => {
    sims.solo.enqueue({ type: 'drop', afterChunks: 0 });
    expect((await ask('solo')).response.headers.get('x-switchyard-attempts')).toBe('2');
    sims.solo.enqueue({ type: 'stream_error_first', message: 'overloaded' });
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'solo', stream: true, messages: [{ role: 'user', content: 'x' }] })
      .withResponse();
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    expect(text).toBe('ok');
    expect(response.headers.get('x-switchyard-attempts')).toBe('2');
  });

  it('gives up after the attempts with the last error', async () => {
    sims.solo.handler = () => ({ type: 'error', status: 503, message: 'down for maintenance' });
    const err = await fail('solo');
    expect(err?.status).toBe(503);
    expect(err?.message).toContain('down for maintenance');
    expect(sims.solo.requests).toHaveLength(3);
  });
});

describe('timeouts', () => {
  it('first_byte_timeout: a hanging upstream is abandoned and retried', async () => {
    sims.slow.enqueue({ type: 'hang' });
    const started = Date.now();
    const { data, response } = await ask('slow');
    expect(data.choices[0].message.content).toBe('ok');
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(response.headers.get('x-switchyard-attempts')).toBe('2');
    await sims.slow.waitForRequests(2);
    expect(sims.slow.requests[0].aborted).toBe(true);
  });

  it('504 once every attempt timed out', async () => {
    sims.slow.handler = () => ({ type: 'hang' });
    const err = await fail('slow');
    expect(err?.status).toBe(504);
    expect(err?.message).toMatch(/did not answer within 0.3 s/);
  });

  it('idle_timeout: a stream that stalls ends with an error event and is metered for what it delivered', async () => {
    sims.slow.enqueue({ type: 'stall', afterChunks: 2 });
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'slow', stream: true, messages: [{ role: 'user', content: 'x' }] })
      .withResponse();
    let got = '';
    const err = await (async () => {
      for await (const c of stream) got += c.choices[0]?.delta?.content ?? '';
    })().catch((e: unknown) => e as Error);
    expect(got.length).toBeGreaterThan(0);
    expect(String(err)).toMatch(/stalled: no data for 0.3 s/);
    const rec = await usageRecord(response.headers.get('x-request-id') as string);
    expect(rec).toMatchObject({ status: 504, charged: 1, estimated: 1 });
    expect(rec?.completion_tokens).toBeGreaterThan(0);
  });
});

describe('priority tiers and weights', () => {
  it('spreads by weight within the first tier and never touches the next while it is healthy', async () => {
    for (let i = 0; i < 120; i++) await ask('tiered');
    const a = sims.tierA.requests.length;
    const b = sims.tierB.requests.length;
    expect(a + b).toBe(120);
    expect(sims.tierC.requests).toHaveLength(0);
    // Weight 3 : 1 -> 90 : 30 expected.
    expect(a).toBeGreaterThan(70);
    expect(b).toBeGreaterThan(12);
  });

  it('moves to the next tier only when the whole first tier failed for the request', async () => {
    sims.tierA.handler = () => ({ type: 'error', status: 500, message: 'a down' });
    sims.tierB.handler = () => ({ type: 'error', status: 500, message: 'b down' });
    const { data, response } = await ask('tiered');
    expect(data.choices[0].message.content).toBe('ok');
    expect(sims.tierA.requests).toHaveLength(1);
    expect(sims.tierB.requests).toHaveLength(1);
    expect(sims.tierC.requests).toHaveLength(1);
    expect(response.headers.get('x-switchyard-attempts')).toBe('3');
  });
});

describe('circuit breaker', () => {
  it('opens after consecutive failures, skips the upstream, half-opens with one probe and closes on success', async () => {
    sims.brk.handler = () => ({ type: 'error', status: 500, message: 'sick' });
    await ask('brk');
    await ask('brk');
    expect(sims.brk.requests).toHaveLength(2);
    expect((await upstreamView('brk')).state).toBe('open');
    // Open: straight to the backup, the sick upstream is not called.
    const { response } = await ask('brk');
    expect(response.headers.get('x-switchyard-attempts')).toBe('1');
    expect(sims.brk.requests).toHaveLength(2);
    expect(sims.brkBackup.requests).toHaveLength(3);

    await new Promise((r) => setTimeout(r, 450));
    sims.brk.handler = () => ({ type: 'text', text: 'recovered', firstByteDelayMs: 150 });
    // Two requests at once while half-open: only one probe reaches the upstream.
    const [r1, r2] = await Promise.all([ask('brk'), ask('brk')]);
    expect(sims.brk.requests).toHaveLength(3);
    expect([r1.data.choices[0].message.content, r2.data.choices[0].message.content].sort()).toEqual(['ok', 'recovered']);
    expect((await upstreamView('brk')).state).toBe('healthy');
  });

  it("bad client input found while converting does not use up a half-open breaker's probe", async () => {
    claude.enqueue({ type: 'error', status: 500, message: 'overloaded' });
    expect((await fail('claude-x'))?.status).toBe(500);
    expect((await upstreamView('claude')).state).toBe('open');
    await new Promise((r) => setTimeout(r, 250));
    const bad = await client.chat.completions
      .create({ model: 'claude-x', messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] }] })
      .then(() => undefined, (e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
    expect(bad?.status).toBe(400);
    // The next valid request is the probe, and closes the breaker.
    const { data } = await ask('claude-x');
    expect(data.choices[0].message.content).toBeTruthy();
    expect((await upstreamView('claude')).state).toBe('healthy');
  });
});

describe('several credentials', () => {
  it('a credential the upstream rejects (401) is taken out; the others carry on until an admin enables it', async () => {
    for (let i = 0; i < 4; i++) expect((await ask('creds')).data.choices[0].message.content).toBe('ok');
    const used = sims.creds.requests.map((r) => r.headers.authorization);
    // The revoked key was tried once, then only the good one.
    expect(used.filter((a) => a === `Bearer ${BAD}`)).toHaveLength(1);
    expect(used.filter((a) => a === `Bearer ${GOOD}`)).toHaveLength(4);
    const view = await upstreamView('creds');
    expect(view.credentials).toEqual([
      expect.objectContaining({ id: 'creds#1', state: 'disabled' }),
      expect.objectContaining({ id: 'creds#2', state: 'closed' }),
    ]);
    expect(JSON.stringify(view)).not.toContain(GOOD);
    expect(JSON.stringify(view)).not.toContain(BAD);

    expect((await gw.admin('POST', '/admin/upstreams/creds/enable')).status).toBe(200);
    expect((await upstreamView('creds')).credentials[0].state).toBe('closed');
  });

  it('an upstream whose only credential is rejected answers 502 and is out until re-enabled', async () => {
    const err = await fail('revoked');
    expect(err?.status).toBe(502);
    expect(err?.message).toMatch(/rejected the gateway's credentials \(401\)/);
    expect(err?.message).not.toContain(BAD);
    expect((await upstreamView('revoked')).state).toBe('credentials_rejected');
    sims.creds.requests.length = 0;
    const again = await fail('revoked');
    expect(again?.status).toBe(503);
    expect(sims.creds.requests).toHaveLength(0);
  });
});

describe('model fallbacks', () => {
  it('tries the fallback model when every upstream of the first failed; the answer and the record name the model that answered', async () => {
    sims.big.handler = () => ({ type: 'error', status: 500, message: 'big is down' });
    const { data, response } = await ask('big');
    expect(data.model).toBe('small');
    expect(sims.big.requests).toHaveLength(3);
    expect(sims.small.requests).toHaveLength(1);
    expect(sims.small.requests[0].body.model).toBe('small');
    expect(response.headers.get('x-switchyard-attempts')).toBe('4');
    expect(await usageRecord(response.headers.get('x-request-id') as string)).toMatchObject({ model: 'small', requested_model: 'big', attempts: 4 });
  });

  it('a key not allowed the fallback model does not get it', async () => {
    const limited = new OpenAI({ baseURL: gw.baseURL, apiKey: (await gw.createKey({ name: 'big-only', models: ['big'] })).key, maxRetries: 0 });
    sims.big.handler = () => ({ type: 'error', status: 500, message: 'big is down' });
    const err = await limited.chat.completions.create({ model: 'big', messages: [{ role: 'user', content: 'x' }] }).then(() => undefined, (e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
    expect(err?.status).toBe(500);
    expect(sims.small.requests).toHaveLength(0);
  });
});

describe('stream keep-alive', () => {
  it('sends SSE comments while the upstream is silent; clients ignore them', async () => {
    sims.keep.enqueue({ type: 'text', text: 'slow words here', chunkDelayMs: 450 });
    const res = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${client.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'keep', stream: true, messages: [{ role: 'user', content: 'x' }] }),
    });
    const body = await res.text();
    expect(body).toContain(': keepalive\n\n');
    expect(body).toContain('data: [DONE]');

    sims.keep.enqueue({ type: 'text', text: 'slow words here', chunkDelayMs: 450 });
    const stream = await client.chat.completions.create({ model: 'keep', stream: true, messages: [{ role: 'user', content: 'x' }] });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    expect(text).toBe('slow words here');
  });
});
