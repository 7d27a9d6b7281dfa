import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startOpenAISimulator, type OpenAISimulator } from '../helpers/openai-simulator.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

let sim: OpenAISimulator;
let backup: OpenAISimulator;
let gw: TestGateway;
let client: OpenAI;
let key: string;

const UPSTREAM_KEY = 'sk-upstream-secret-0123456789abcdef';

async function usageRecord(requestId: string) {
  await gw.services.recorder.flush();
  return gw.services.recorder.repository.findByRequestId(requestId);
}

async function waitFor<T>(fn: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  sim = await startOpenAISimulator({ apiKey: UPSTREAM_KEY, models: ['gpt-4o-mini'] });
  backup = await startOpenAISimulator({ apiKey: UPSTREAM_KEY });
  gw = await startTestGateway({
    upstreams: [
      { name: 'main', type: 'openai', base_url: sim.url, api_key: UPSTREAM_KEY, models: ['gpt-4o-mini', 'gpt-4o', 'llama3:8b'], model_map: { 'gpt-3.5-turbo': 'gpt-4o-mini' } },
      { name: 'bad-key', type: 'openai', base_url: sim.url, api_key: 'sk-wrong-credential-abcdefghijklmnop', models: ['leaky-model'] },
      { name: 'slow', type: 'openai', base_url: sim.url, api_key: UPSTREAM_KEY, models: ['slow-model'], timeout: 0.5 },
      { name: 'dead', type: 'openai', base_url: 'http://127.0.0.1:9/v1', api_key: UPSTREAM_KEY, models: ['dead-model'] },
      // Two upstreams for one model: the first always fails over to the second.
      { name: 'flaky', type: 'openai', base_url: sim.url, api_key: UPSTREAM_KEY, models: ['ha-model'], weight: 1000000 },
      { name: 'steady', type: 'openai', base_url: backup.url, api_key: UPSTREAM_KEY, models: ['ha-model'], weight: 0.000001 },
    ],
    models: { 'gpt-4o-mini': { input_price: 0.15, output_price: 0.6 } },
    limits: { max_body_mb: 0.05 },
    // These tests are about what one upstream answer becomes; retries have their own tests (routing.test.ts).
    retry: { attempts: 1 },
  });
  key = (await gw.createKey({ name: 'chat' })).key;
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: key, maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  await sim?.close();
  await backup?.close();
});

beforeEach(() => {
  sim.requests.length = 0;
  backup.requests.length = 0;
});

describe('chat completions through the gateway (official openai client)', () => {
  it('answers a non-stream request and records its exact usage', async () => {
    sim.enqueue({ type: 'text', text: 'Hello there friend', promptTokens: 21, completionTokens: 3, cachedTokens: 5 });
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] })
      .withResponse();
    expect(data.choices[0].message.content).toBe('Hello there friend');
    expect(data.usage).toMatchObject({ prompt_tokens: 21, completion_tokens: 3, total_tokens: 24 });
    const requestId = response.headers.get('x-request-id');
    expect(requestId).toMatch(/^req_/);
    // The upstream got the client's body as sent, with the gateway's credential.
    expect(sim.requests[0].body).toEqual({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] });
    expect(sim.requests[0].headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    const rec = await usageRecord(requestId as string);
    expect(rec).toMatchObject({ model: 'gpt-4o-mini', upstream: 'main', prompt_tokens: 21, cached_tokens: 5, completion_tokens: 3, total_tokens: 24, status: 200, estimated: 0, charged: 1, stream: 0 });
    // 16 uncached + 5 cached at 0.15, 3 at 0.6 (USD per million).
    expect(rec?.cost_usd).toBeCloseTo((21 * 0.15 + 3 * 0.6) / 1e6, 12);
  });

  it('streams without include_usage: the gateway asks for usage and hides the extra chunk', async () => {
    sim.enqueue({ type: 'text', text: 'one two three four', promptTokens: 9, completionTokens: 4 });
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'count' }] })
      .withResponse();
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    expect(response.headers.get('x-accel-buffering')).toBe('no');
    let text = '';
    const chunks = [];
    for await (const chunk of stream) {
      chunks.push(chunk);
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    expect(text).toBe('one two three four');
    expect(chunks.every((c) => c.choices.length > 0)).toBe(true);
    expect(chunks.at(-1)?.choices[0].finish_reason).toBe('stop');
    expect(sim.requests[0].body.stream_options).toEqual({ include_usage: true });
    const rec = await usageRecord(response.headers.get('x-request-id') as string);
    expect(rec).toMatchObject({ prompt_tokens: 9, completion_tokens: 4, stream: 1, estimated: 0, status: 200 });
    expect(rec?.ttft_ms).not.toBeNull();
  });

  it('streams with include_usage: the client gets the usage chunk', async () => {
    sim.enqueue({ type: 'text', text: 'a b', promptTokens: 7, completionTokens: 2 });
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'x' }],
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toMatchObject({ prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 });
  });

  it('delivers each event as the upstream sends it (no buffering)', async () => {
    sim.enqueue({ type: 'text', text: 'a b c d', chunkDelayMs: 250 });
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'x' }] });
    const arrivals: number[] = [];
    for await (const chunk of stream) if (chunk.choices[0]?.delta?.content) arrivals.push(Date.now());
    expect(arrivals).toHaveLength(4);
    // The first word reached the client while the upstream was still generating the rest.
    expect(arrivals[3] - arrivals[0]).toBeGreaterThanOrEqual(500);
  });

  it('streams tool calls that the client helper assembles', async () => {
    sim.enqueue({ type: 'tool_call', calls: [{ id: 'call_abc', name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' }] });
    const runner = client.chat.completions.stream({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'weather?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
    });
    const final = await runner.finalChatCompletion();
    const call = final.choices[0].message.tool_calls?.[0];
    expect(final.choices[0].finish_reason).toBe('tool_calls');
    expect(call?.id).toBe('call_abc');
    expect(call?.type === 'function' && call.function.name).toBe('get_weather');
    expect(call?.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ city: 'Paris', unit: 'c' });
    expect(sim.requests[0].body.tools[0].function.name).toBe('get_weather');
  });

  it('counts tokens itself when the upstream reports none, and marks the record estimated', async () => {
    sim.enqueue({ type: 'text', text: 'The quick brown fox jumps over the lazy dog', omitUsage: true });
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Tell me about foxes' }] })
      .withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text).toBe('The quick brown fox jumps over the lazy dog');
    const rec = await waitFor(async () => {
      const r = await usageRecord(response.headers.get('x-request-id') as string);
      return r && r.completion_tokens > 0 ? r : undefined;
    });
    expect(rec.estimated).toBe(1);
    expect(rec.completion_tokens).toBeGreaterThanOrEqual(9);
    expect(rec.completion_tokens).toBeLessThanOrEqual(12);
    expect(rec.prompt_tokens).toBeGreaterThan(4);
  });

  it('shows an estimated request in /v1/usage as soon as it finished', async () => {
    const own = await gw.createKey({ name: 'estimate' });
    const c = new OpenAI({ baseURL: gw.baseURL, apiKey: own.key, maxRetries: 0 });
    sim.enqueue({ type: 'text', text: 'one two three four five', omitUsage: true });
    const stream = await c.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'count' }] });
    for await (const _ of stream) void _;
    // No polling: the usage query waits for the gateway's own count to be recorded.
    const res = await fetch(`${gw.baseURL}/usage`, { headers: { authorization: `Bearer ${own.key}` } });
    const usage = (await res.json()) as { totals: { requests: number; completion_tokens: number; prompt_tokens: number } };
    expect(usage.totals.requests).toBe(1);
    expect(usage.totals.completion_tokens).toBeGreaterThanOrEqual(5);
    expect(usage.totals.prompt_tokens).toBeGreaterThan(0);
  });

  it('aborts the upstream call when the client disconnects, and meters what was generated', async () => {
    sim.enqueue({ type: 'text', text: Array.from({ length: 30 }, (_, i) => `w${i}`).join(' '), chunkDelayMs: 100 });
    const controller = new AbortController();
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'long' }] }, { signal: controller.signal })
      .withResponse();
    let seen = 0;
    // openai v6 ends the loop quietly when the caller aborts.
    try {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta?.content) seen += 1;
        if (seen === 3) controller.abort();
      }
    } catch {
      // older clients throw an abort error instead
    }
    expect(seen).toBe(3);
    await sim.waitForRequests(1, 5000);
    await waitFor(async () => (sim.requests[0].aborted ? true : undefined));
    expect(sim.requests[0].aborted).toBe(true);
    const rec = await waitFor(() => usageRecord(response.headers.get('x-request-id') as string));
    expect(rec.status).toBe(499);
    expect(rec.charged).toBe(1);
    expect(rec.estimated).toBe(1);
    expect(rec.completion_tokens).toBeGreaterThanOrEqual(3);
    expect(rec.completion_tokens).toBeLessThan(30);
  });

  it('ends the stream with an error event when the upstream fails mid-stream; what was delivered is charged', async () => {
    sim.enqueue({ type: 'drop', afterChunks: 2 });
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'x' }] })
      .withResponse();
    let got = 0;
    await expect(
      (async () => {
        for await (const chunk of stream) if (chunk.choices[0]?.delta?.content) got += 1;
      })(),
    ).rejects.toThrow(/mid-stream/);
    expect(got).toBe(2);
    const rec = await waitFor(() => usageRecord(response.headers.get('x-request-id') as string));
    expect(rec).toMatchObject({ status: 502, charged: 1, estimated: 1 });
    expect(rec.completion_tokens).toBeGreaterThan(0);
  });

  it('fails over before the client sees anything: upstream 5xx, and a 200 whose first event is an error', async () => {
    sim.enqueue({ type: 'error', status: 503, message: 'overloaded' });
    const r1 = await client.chat.completions.create({ model: 'ha-model', messages: [{ role: 'user', content: 'x' }] });
    expect(r1.choices[0].message.content).toBeTruthy();
    sim.enqueue({ type: 'stream_error_first', message: 'boom' });
    const stream = await client.chat.completions.create({ model: 'ha-model', stream: true, messages: [{ role: 'user', content: 'x' }] });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    expect(text.length).toBeGreaterThan(0);
    expect(sim.requests).toHaveLength(2);
    expect(backup.requests).toHaveLength(2);
  });

  it('resolves model_map names, pinned upstream:model names and colon names', async () => {
    await client.chat.completions.create({ model: 'gpt-3.5-turbo', messages: [{ role: 'user', content: 'x' }] });
    expect(sim.requests[0].body.model).toBe('gpt-4o-mini');
    await client.chat.completions.create({ model: 'main:gpt-4o', messages: [{ role: 'user', content: 'x' }] });
    expect(sim.requests[1].body.model).toBe('gpt-4o');
    await client.chat.completions.create({ model: 'openai:gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    expect(sim.requests[2].body.model).toBe('gpt-4o-mini');
    await client.chat.completions.create({ model: 'llama3:8b', messages: [{ role: 'user', content: 'x' }] });
    expect(sim.requests[3].body.model).toBe('llama3:8b');
  });

  it('answers under /v1-openai too', async () => {
    const alt = new OpenAI({ baseURL: `${gw.url}/v1-openai`, apiKey: key, maxRetries: 0 });
    const r = await alt.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    expect(r.choices[0].message.role).toBe('assistant');
    const models = await alt.models.list();
    expect(models.data.map((m) => m.id)).toContain('gpt-4o-mini');
  });
});

describe('errors in the OpenAI shape', () => {
  async function raw(path: string, init: RequestInit & { headers?: Record<string, string> } = {}) {
    const res = await fetch(`${gw.url}${path}`, {
      method: 'POST',
      ...init,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
    });
    const body = (await res.json()) as { error: { message: string; type: string; param: string | null; code: string | null } };
    expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    return { status: res.status, error: body.error };
  }

  it('400 for malformed JSON, missing fields and wrong types', async () => {
    expect((await raw('/v1/chat/completions', { body: '{"model": "gpt-4o-mini", "messages": [' })).status).toBe(400);
    const noModel = await raw('/v1/chat/completions', { body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }) });
    expect(noModel).toMatchObject({ status: 400, error: { param: 'model', type: 'invalid_request_error' } });
    const noMessages = await raw('/v1/chat/completions', { body: JSON.stringify({ model: 'gpt-4o-mini' }) });
    expect(noMessages).toMatchObject({ status: 400, error: { param: 'messages' } });
    const badType = await raw('/v1/chat/completions', { body: JSON.stringify({ model: 42, messages: [] }) });
    expect(badType).toMatchObject({ status: 400, error: { param: 'model' } });
    const badStream = await raw('/v1/chat/completions', { body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], stream: 'yes' }) });
    expect(badStream).toMatchObject({ status: 400, error: { param: 'stream' } });
    expect(sim.requests).toHaveLength(0);
  });

  it('413 for an oversized body', async () => {
    const big = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(100_000) }] });
    const r = await raw('/v1/chat/completions', { body: big });
    expect(r.status).toBe(413);
  });

  it('404 for an unknown route and an unknown model', async () => {
    expect((await raw('/v1/nothing-here', { method: 'GET' })).status).toBe(404);
    const err = await client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('model_not_found');
  });

  it('401 for a bad key, with the OpenAI client raising AuthenticationError', async () => {
    const bad = new OpenAI({ baseURL: gw.baseURL, apiKey: 'sk-not-a-real-key', maxRetries: 0 });
    await expect(bad.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const none = await fetch(`${gw.baseURL}/models`);
    expect(none.status).toBe(401);
  });

  it('502 when the upstream is unreachable, 504 when it times out', async () => {
    const unreachable = await client.chat.completions.create({ model: 'dead-model', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect((unreachable as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    sim.enqueue({ type: 'hang' });
    const started = Date.now();
    const timeout = await client.chat.completions.create({ model: 'slow-model', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect((timeout as InstanceType<typeof OpenAI.APIError>).status).toBe(504);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('passes upstream 4xx and 5xx on with their message', async () => {
    sim.enqueue({ type: 'error', status: 400, message: "Invalid value for 'temperature': must be <= 2.", errorType: 'invalid_request_error', code: 'invalid_value' });
    const e400 = (await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], temperature: 5 }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(e400.status).toBe(400);
    expect(e400.message).toContain("Invalid value for 'temperature'");
    expect(e400.code).toBe('invalid_value');
    sim.enqueue({ type: 'error', status: 500, message: 'The server had an error' });
    const e500 = (await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(e500.status).toBe(500);
    expect(e500.message).toContain('The server had an error');
  });

  it('never shows an upstream credential, even when the upstream error quotes it', async () => {
    const res = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'leaky-model', messages: [{ role: 'user', content: 'x' }] }),
    });
    const text = await res.text();
    // The upstream refused the gateway's credential: the caller's key is fine, so a 502, not a 401 for it.
    expect(res.status).toBe(502);
    expect(text).toMatch(/rejected the gateway's credentials/);
    expect(sim.requests.at(-1)?.headers.authorization).toBe('Bearer sk-wrong-credential-abcdefghijklmnop');
    expect(text).not.toContain('sk-wrong-credential');
    expect(text).not.toContain('abcdefghijklmnop');
    expect(JSON.parse(text).error.message).toContain('Incorrect API key provided');
  });

  it('puts x-request-id on every response', async () => {
    for (const res of [await fetch(`${gw.url}/health`), await fetch(`${gw.url}/v1/models`), await fetch(`${gw.url}/nope`)]) {
      expect(res.headers.get('x-request-id')).toMatch(/^req_/);
    }
  });
});
