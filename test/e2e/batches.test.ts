/**
 * OpenAI Batches run by the gateway itself, driven by the official `openai` client:
 * upload a JSONL file, create the batch, poll it, read the output and error files.
 * Lines go through the normal pipeline to an OpenAI-compatible upstream, to an
 * Anthropic one (which has no OpenAI batch API), and for embeddings.
 */
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startAnthropicSimulator, type AnthropicSimulator } from '../helpers/anthropic-simulator.ts';
import { startOpenAISimulator, type OpenAISimulator } from '../helpers/openai-simulator.ts';
import { apiError } from '../helpers/api-error.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

const UPSTREAM_KEY = 'sk-upstream-batches-0123456789abcdef';

let sim: OpenAISimulator;
let claude: AnthropicSimulator;
let gw: TestGateway;
let client: OpenAI;
let other: OpenAI;
let keyId: string;
let defaultHandler: OpenAISimulator['handler'];

type Line = { custom_id: string; method: string; url: string; body: Record<string, unknown> };

const chatLine = (i: number, model = 'gpt-4o-mini'): Line => ({
  custom_id: `req-${i}`,
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model, messages: [{ role: 'user', content: `Question ${i}` }], max_tokens: 20 },
});

async function upload(c: OpenAI, lines: Array<Line | string>): Promise<string> {
  const text = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
  const file = await c.files.create({ file: await toFile(Buffer.from(text), 'input.jsonl'), purpose: 'batch' });
  return file.id;
}

async function waitForStatus(c: OpenAI, id: string, statuses: string[], timeoutMs = 15_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const b = await c.batches.retrieve(id);
    if (statuses.includes(b.status)) return b;
    if (Date.now() > until) throw new Error(`batch ${id} still ${b.status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function jsonl(c: OpenAI, fileId: string | null | undefined): Promise<Array<Record<string, any>>> {
  if (!fileId) return [];
  const text = await (await c.files.content(fileId)).text();
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
}

beforeAll(async () => {
  sim = await startOpenAISimulator({ apiKey: UPSTREAM_KEY });
  defaultHandler = sim.handler;
  claude = await startAnthropicSimulator({ apiKey: UPSTREAM_KEY });
  gw = await startTestGateway({
    upstreams: [
      { name: 'oai', type: 'openai', base_url: sim.url, api_key: UPSTREAM_KEY, models: ['gpt-4o-mini', 'text-embedding-3-small', 'omni-moderation-latest'] },
      { name: 'claude', type: 'anthropic', base_url: claude.url, api_key: UPSTREAM_KEY, models: ['claude-sonnet-4-6'] },
    ],
    models: { 'gpt-4o-mini': { input_price: 1, output_price: 2 } },
    batch: { poll_ms: 50, retry_backoff_ms: 10, per_batch_concurrency: 4, price_factor: 0.5 },
    retry: { attempts: 1 },
  });
  const a = await gw.createKey({ name: 'batcher' });
  keyId = a.id;
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: a.key, maxRetries: 0 });
  other = new OpenAI({ baseURL: gw.baseURL, apiKey: (await gw.createKey({ name: 'other' })).key, maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  await sim?.close();
  await claude?.close();
});

beforeEach(() => {
  sim.handler = defaultHandler;
  sim.requests.length = 0;
  claude.requests.length = 0;
});

describe('batches on an OpenAI-compatible upstream', () => {
  it('runs a chat batch: output in input order, counts, usage, metered at the batch price', async () => {
    const input = await upload(client, Array.from({ length: 12 }, (_, i) => chatLine(i)));
    const created = await client.batches.create({ input_file_id: input, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { job: 'nightly' } });
    expect(created).toMatchObject({ object: 'batch', status: 'validating', endpoint: '/v1/chat/completions', input_file_id: input, completion_window: '24h', metadata: { job: 'nightly' } });
    const done = await waitForStatus(client, created.id, ['completed', 'failed']);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 12, completed: 12, failed: 0 });
    expect(done.in_progress_at).toBeGreaterThanOrEqual(done.created_at);
    expect(done.finalizing_at).toBeGreaterThanOrEqual(done.in_progress_at as number);
    expect(done.completed_at).toBeGreaterThanOrEqual(done.finalizing_at as number);
    expect(done.error_file_id).toBeNull();
    const out = await jsonl(client, done.output_file_id);
    expect(out.map((l) => l.custom_id)).toEqual(Array.from({ length: 12 }, (_, i) => `req-${i}`));
    for (const l of out) {
      expect(l.id).toMatch(/^batch_req_/);
      expect(l.error).toBeNull();
      expect(l.response.status_code).toBe(200);
      expect(l.response.request_id).toMatch(/^req_/);
      expect(l.response.body.object).toBe('chat.completion');
    }
    const usage = (done as unknown as { usage: { input_tokens: number; output_tokens: number; total_tokens: number } }).usage;
    const summed = out.reduce((s, l) => s + l.response.body.usage.prompt_tokens, 0);
    expect(usage.input_tokens).toBe(summed);
    expect(usage.total_tokens).toBe(usage.input_tokens + usage.output_tokens);
    // Every line is in the usage log, on the key, at half price.
    await gw.services.recorder.flush();
    const rec = await gw.services.recorder.repository.findByRequestId(out[0].response.request_id);
    expect(rec).toMatchObject({ key_id: keyId, endpoint: 'batch.chat.completions', charged: 1 });
    const b0 = out[0].response.body.usage;
    expect(rec?.cost_usd).toBeCloseTo(((b0.prompt_tokens * 1 + b0.completion_tokens * 2) / 1e6) * 0.5, 12);
    expect(sim.requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(12);
  });

  it('lines the upstream rejects go to the error file; every custom_id appears once', async () => {
    sim.handler = (req) => (JSON.stringify(req.body).includes('Question 2') ? { type: 'error', status: 400, message: 'bad line' } : { type: 'text', text: 'fine' });
    const input = await upload(client, Array.from({ length: 4 }, (_, i) => chatLine(i)));
    const b = await client.batches.create({ input_file_id: input, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const done = await waitForStatus(client, b.id, ['completed']);
    expect(done.request_counts).toEqual({ total: 4, completed: 3, failed: 1 });
    const out = await jsonl(client, done.output_file_id);
    const errors = await jsonl(client, done.error_file_id);
    expect(out.map((l) => l.custom_id)).toEqual(['req-0', 'req-1', 'req-3']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ custom_id: 'req-2', response: { status_code: 400, body: { error: { message: 'bad line' } } }, error: null });
  });

  it('retries a line on 5xx before giving up on it', async () => {
    let calls = 0;
    sim.handler = () => (++calls === 1 ? { type: 'error', status: 503, message: 'busy' } : { type: 'text', text: 'second time lucky' });
    const b = await client.batches.create({ input_file_id: await upload(client, [chatLine(0)]), endpoint: '/v1/chat/completions', completion_window: '24h' });
    const done = await waitForStatus(client, b.id, ['completed']);
    expect(done.request_counts).toEqual({ total: 1, completed: 1, failed: 0 });
    expect((await jsonl(client, done.output_file_id))[0].response.body.choices[0].message.content).toBe('second time lucky');
  });

  it('an embeddings batch', async () => {
    const lines = ['alpha', 'beta', 'gamma'].map((t, i) => ({ custom_id: `e-${i}`, method: 'POST', url: '/v1/embeddings', body: { model: 'text-embedding-3-small', input: t } }));
    const b = await client.batches.create({ input_file_id: await upload(client, lines), endpoint: '/v1/embeddings', completion_window: '24h' });
    const done = await waitForStatus(client, b.id, ['completed']);
    const out = await jsonl(client, done.output_file_id);
    expect(out.map((l) => l.custom_id)).toEqual(['e-0', 'e-1', 'e-2']);
    expect(out[0].response.body.data[0].embedding).toHaveLength(1536);
  });
});

describe('batches on an Anthropic upstream (no OpenAI batch API there)', () => {
  it('converts each chat line to the Messages API', async () => {
    const b = await client.batches.create({
      input_file_id: await upload(client, [chatLine(0, 'claude-sonnet-4-6'), chatLine(1, 'claude-sonnet-4-6')]),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await waitForStatus(client, b.id, ['completed']);
    const out = await jsonl(client, done.output_file_id);
    expect(out.map((l) => l.response.body.object)).toEqual(['chat.completion', 'chat.completion']);
    expect(claude.requests.filter((r) => r.path === '/v1/messages')).toHaveLength(2);
  });
});

describe('validation', () => {
  const cases: Array<[string, Array<Line | string>]> = [
    ['invalid_json_line', ['{not json']],
    ['missing_required_parameter', [{ method: 'POST', url: '/v1/chat/completions', body: {} } as unknown as Line]],
    ['invalid_url', [{ ...chatLine(0), url: '/v1/images/generations' }]],
    ['mismatched_url', [{ ...chatLine(0), url: '/v1/embeddings' }]],
    ['invalid_method', [{ ...chatLine(0), method: 'GET' }]],
    ['streaming_unsupported', [{ ...chatLine(0), body: { ...chatLine(0).body, stream: true } }]],
    ['duplicate_custom_id', [chatLine(0), chatLine(0)]],
    ['model_not_found', [chatLine(0, 'no-such-model')]],
  ];
  for (const [code, lines] of cases) {
    it(`fails the batch with ${code}`, async () => {
      const b = await client.batches.create({ input_file_id: await upload(client, lines), endpoint: '/v1/chat/completions', completion_window: '24h' });
      const done = await waitForStatus(client, b.id, ['failed', 'completed']);
      expect(done.status).toBe('failed');
      expect(done.failed_at).toBeGreaterThan(0);
      expect(done.errors?.data?.[0]).toMatchObject({ code, line: lines.length === 2 ? 2 : 1 });
      expect(sim.requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(0);
    });
  }

  it('too_many_requests above the line limit', async () => {
    const small = await startTestGateway({
      upstreams: [{ name: 'oai', type: 'openai', base_url: sim.url, api_key: UPSTREAM_KEY, models: ['gpt-4o-mini'] }],
      batch: { poll_ms: 50, max_lines: 3 },
    });
    try {
      const c = new OpenAI({ baseURL: small.baseURL, apiKey: (await small.createKey({ name: 'k' })).key, maxRetries: 0 });
      const b = await c.batches.create({ input_file_id: await upload(c, [0, 1, 2, 3].map((i) => chatLine(i))), endpoint: '/v1/chat/completions', completion_window: '24h' });
      const done = await waitForStatus(c, b.id, ['failed']);
      expect(done.errors?.data?.[0].code).toBe('too_many_requests');
    } finally {
      await small.close();
    }
  });

  it('create refuses a bad endpoint, window or file in OpenAI shape', async () => {
    const input = await upload(client, [chatLine(0)]);
    expect((await apiError(client.batches.create({ input_file_id: input, endpoint: '/v1/images' as never, completion_window: '24h' }))).param).toBe('endpoint');
    expect((await apiError(client.batches.create({ input_file_id: input, endpoint: '/v1/chat/completions', completion_window: '48h' as never }))).param).toBe('completion_window');
    expect((await apiError(client.batches.create({ input_file_id: 'file-nope', endpoint: '/v1/chat/completions', completion_window: '24h' }))).status).toBe(404);
  });
});

describe('cancel, expiry and ownership', () => {
  it('cancel mid-run keeps finished results; unrun lines go to the error file; cancelling an ended batch is 409', async () => {
    sim.handler = () => ({ type: 'text', text: 'slow', firstByteDelayMs: 150 });
    const b = await client.batches.create({ input_file_id: await upload(client, Array.from({ length: 20 }, (_, i) => chatLine(i))), endpoint: '/v1/chat/completions', completion_window: '24h' });
    await waitForStatus(client, b.id, ['in_progress']);
    await new Promise((r) => setTimeout(r, 250));
    const cancelling = await client.batches.cancel(b.id);
    expect(['cancelling', 'cancelled']).toContain(cancelling.status);
    const done = await waitForStatus(client, b.id, ['cancelled']);
    expect(done.cancelled_at).toBeGreaterThan(0);
    const out = await jsonl(client, done.output_file_id);
    const errors = await jsonl(client, done.error_file_id);
    expect(out.length).toBeGreaterThan(0);
    expect(errors.some((e) => e.error?.code === 'batch_cancelled')).toBe(true);
    const ids = [...out, ...errors].map((l) => l.custom_id).sort();
    expect(ids).toEqual(Array.from({ length: 20 }, (_, i) => `req-${i}`).sort());
    expect(done.request_counts?.total).toBe(20);
    // Cancelling again once cancelled answers the batch as it is.
    expect((await client.batches.cancel(b.id)).status).toBe('cancelled');
  });

  it('cancelling a completed batch answers 409', async () => {
    const b = await client.batches.create({ input_file_id: await upload(client, [chatLine(0)]), endpoint: '/v1/chat/completions', completion_window: '24h' });
    await waitForStatus(client, b.id, ['completed']);
    expect((await apiError(client.batches.cancel(b.id))).status).toBe(409);
  });

  it('expires when the window passes: unrun lines get batch_expired', async () => {
    const short = await startTestGateway({
      upstreams: [{ name: 'oai', type: 'openai', base_url: sim.url, api_key: UPSTREAM_KEY, models: ['gpt-4o-mini'] }],
      batch: { poll_ms: 50, window_seconds: 1, per_batch_concurrency: 1 },
    });
    try {
      sim.handler = () => ({ type: 'text', text: 'slow', firstByteDelayMs: 300 });
      const c = new OpenAI({ baseURL: short.baseURL, apiKey: (await short.createKey({ name: 'k' })).key, maxRetries: 0 });
      const b = await c.batches.create({ input_file_id: await upload(c, Array.from({ length: 10 }, (_, i) => chatLine(i))), endpoint: '/v1/chat/completions', completion_window: '24h' });
      const done = await waitForStatus(c, b.id, ['expired']);
      expect(done.expired_at).toBeGreaterThan(0);
      const out = await jsonl(c, done.output_file_id);
      const errors = await jsonl(c, done.error_file_id);
      expect(errors.some((e) => e.error?.code === 'batch_expired')).toBe(true);
      expect([...out, ...errors].map((l) => l.custom_id).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `req-${i}`).sort());
    } finally {
      await short.close();
    }
  });

  it("another key gets 404 for the batch and its files, and lists none", async () => {
    const b = await client.batches.create({ input_file_id: await upload(client, [chatLine(0)]), endpoint: '/v1/chat/completions', completion_window: '24h' });
    const done = await waitForStatus(client, b.id, ['completed']);
    expect((await apiError(other.batches.retrieve(b.id))).status).toBe(404);
    expect((await apiError(other.batches.cancel(b.id))).status).toBe(404);
    expect((await apiError(other.files.content(done.output_file_id as string))).status).toBe(404);
    expect((await other.batches.list()).data).toHaveLength(0);
    const mine = await client.batches.list({ limit: 2 });
    expect(mine.data).toHaveLength(2);
    expect(mine.has_more).toBe(true);
  });

  it('a key whose quota runs out mid-batch fails its remaining lines with insufficient_quota', async () => {
    const capped = await gw.createKey({ name: 'capped', quota_tokens: 60 });
    const c = new OpenAI({ baseURL: gw.baseURL, apiKey: capped.key, maxRetries: 0 });
    const b = await c.batches.create({ input_file_id: await upload(c, Array.from({ length: 10 }, (_, i) => chatLine(i))), endpoint: '/v1/chat/completions', completion_window: '24h' });
    const done = await waitForStatus(c, b.id, ['completed']);
    const errors = await jsonl(c, done.error_file_id);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => e.response.status_code === 429 && e.response.body.error.code === 'insufficient_quota')).toBe(true);
    expect(done.request_counts?.total).toBe(10);
    // Never overspent: what was charged stays within the quota.
    const view = (await (await gw.admin('GET', `/admin/keys/${capped.id}`)).json()) as { used_tokens: number };
    expect(view.used_tokens).toBeLessThanOrEqual(60);
  });

  it('GET /admin/batches lists every key\'s batches with progress', async () => {
    const res = await gw.admin('GET', '/admin/batches');
    expect(res.status).toBe(200);
    const list = (await res.json()) as { data: Array<{ key_id: string; request_counts: unknown }> };
    expect(list.data.length).toBeGreaterThan(3);
    expect(list.data[0]).toHaveProperty('request_counts');
    expect(new Set(list.data.map((b) => b.key_id)).size).toBeGreaterThan(1);
  });
});
