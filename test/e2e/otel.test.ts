/**
 * OpenTelemetry traces end to end: a gateway with `otel.endpoint` exports OTLP/HTTP JSON to a tiny
 * receiver started here; the official OpenAI client makes real requests (a success, a failover
 * from a failing upstream, a stream, one under a W3C traceparent, embeddings, a batch line, errors)
 * and the spans that arrive are checked: one SERVER span per request with a CLIENT span per
 * attempt, GenAI and switchyard.* attributes, trace continuity, and no prompt or completion text
 * unless `otel.capture_content` is on. Without an endpoint, no OpenTelemetry module is loaded.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { otelModulesLoaded } from '../../src/observability/tracing.ts';
import { type AnthropicSimulator, startAnthropicSimulator } from '../helpers/anthropic-simulator.ts';
import { type OpenAISimulator, startOpenAISimulator } from '../helpers/openai-simulator.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';
import { capturingLogger } from '../helpers/capturing-logger.ts';

// ---------------------------------------------------------------------------------------------
// A tiny OTLP/HTTP receiver (JSON encoding, as @opentelemetry/exporter-trace-otlp-http sends)
// ---------------------------------------------------------------------------------------------

type AttrValue = string | number | boolean;

interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 2 SERVER, 3 CLIENT. */
  kind: number;
  start: bigint;
  end: bigint;
  attrs: Record<string, AttrValue>;
  events: Array<{ name: string; attrs: Record<string, AttrValue> }>;
  /** OTLP StatusCode: 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string };
  resource: Record<string, AttrValue>;
}

interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
}
interface OtlpKeyValue {
  key: string;
  value: OtlpAnyValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes?: OtlpKeyValue[];
  events?: Array<{ name: string; attributes?: OtlpKeyValue[] }>;
  status?: { code?: number; message?: string };
}
interface OtlpExport {
  resourceSpans: Array<{ resource?: { attributes?: OtlpKeyValue[] }; scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
}

function decodeValue(v: OtlpAnyValue): AttrValue {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  throw new Error(`unexpected attribute value ${JSON.stringify(v)}`);
}

function decodeAttrs(list: OtlpKeyValue[] | undefined): Record<string, AttrValue> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, decodeValue(kv.value)]));
}

interface Receiver {
  url: string;
  spans: ReceivedSpan[];
  /** Every export body as received (to search for text that must not be there). */
  raw: string[];
  headers: IncomingHttpHeaders[];
  /** Status the receiver answers with (200 unless a test wants exports to fail). */
  status: number;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const r: Omit<Receiver, 'url' | 'close'> = { spans: [], raw: [], headers: [], status: 200 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const text = Buffer.concat(chunks).toString('utf8');
      r.raw.push(text);
      r.headers.push(req.headers);
      if (r.status === 200) {
        const body = JSON.parse(text) as OtlpExport;
        for (const rs of body.resourceSpans) {
          const resource = decodeAttrs(rs.resource?.attributes);
          for (const ss of rs.scopeSpans) {
            for (const s of ss.spans) {
              r.spans.push({
                traceId: s.traceId,
                spanId: s.spanId,
                parentSpanId: s.parentSpanId ?? '',
                name: s.name,
                kind: s.kind,
                start: BigInt(s.startTimeUnixNano),
                end: BigInt(s.endTimeUnixNano),
                attrs: decodeAttrs(s.attributes),
                events: (s.events ?? []).map((e) => ({ name: e.name, attrs: decodeAttrs(e.attributes) })),
                status: { code: s.status?.code ?? 0, message: s.status?.message },
                resource,
              });
            }
          }
        }
      }
      res.writeHead(r.status, { 'content-type': 'application/json' }).end(r.status === 200 ? '{}' : '{"error":"nope"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return Object.assign(r, {
    url: `http://127.0.0.1:${port}/v1/traces`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }) as Receiver;
}

const SERVER = 2;
const CLIENT = 3;
const ERROR = 2;

const UPSTREAM_KEY = 'sk-upstream-otel-secret-0123456789';
const PROMPT = 'PROMPT-MARKER-7f3a: what is the capital of France?';
const COMPLETION = 'COMPLETION-MARKER-91bd Paris is the capital.';

/** The server span of a request and its attempt spans, found by the request id the gateway answered with. */
function requestTrace(rx: Receiver, requestId: string): { server: ReceivedSpan; attempts: ReceivedSpan[] } {
  const servers = rx.spans.filter((s) => s.kind === SERVER && s.attrs['switchyard.request_id'] === requestId);
  expect(servers, `server span of ${requestId}`).toHaveLength(1);
  const server = servers[0];
  const attempts = rx.spans.filter((s) => s.parentSpanId === server.spanId).sort((a, b) => Number(a.attrs['switchyard.attempt']) - Number(b.attrs['switchyard.attempt']));
  for (const a of attempts) {
    expect(a.kind).toBe(CLIENT);
    expect(a.traceId).toBe(server.traceId);
    // Attempts run inside the request.
    expect(a.start >= server.start).toBe(true);
    expect(a.end <= server.end).toBe(true);
  }
  return { server, attempts };
}

// ---------------------------------------------------------------------------------------------

describe('without otel.endpoint', () => {
  let sim: OpenAISimulator;
  let gw: TestGateway;

  beforeAll(async () => {
    sim = await startOpenAISimulator();
    gw = await startTestGateway({ upstreams: [{ name: 'main', type: 'openai', base_url: sim.url, models: ['gpt-4o-mini'] }] });
  });
  afterAll(async () => {
    await gw?.close();
    await sim?.close();
  });

  it('serves requests without loading any OpenTelemetry module', async () => {
    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: (await gw.createKey()).key, maxRetries: 0 });
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
    expect(r.choices[0].message.content).toBeTruthy();
    expect(gw.services.config.otel).toEqual({ endpoint: undefined, headers: {}, service_name: 'switchyard', capture_content: false, sample_ratio: 1, propagate_upstream: true });
    expect(gw.services.tracing).toBeUndefined();
    // This file's first gateway: nothing has imported the SDK in this process (vitest runs each file in its own).
    expect(otelModulesLoaded()).toBe(false);
  });

  it('imports the SDK from one module only, and that module only dynamically', () => {
    const root = join(import.meta.dirname, '../../src');
    const files = (readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
    const importers = files.filter((f) => /from '@opentelemetry\//.test(readFileSync(join(root, f), 'utf8')));
    expect(importers.map((f) => f.replaceAll('\\', '/'))).toEqual(['observability/otel-tracing.ts']);
    const loaders = files.filter((f) => readFileSync(join(root, f), 'utf8').includes('otel-tracing'));
    expect(loaders.map((f) => f.replaceAll('\\', '/'))).toEqual(['observability/tracing.ts']);
    expect(readFileSync(join(root, 'observability/tracing.ts'), 'utf8')).toMatch(/await import\('\.\/otel-tracing\.ts'\)/);
    expect(readFileSync(join(root, 'observability/tracing.ts'), 'utf8')).not.toMatch(/^import (?!type)[^;]*otel-tracing/m);
  });
});

describe('with otel.endpoint', () => {
  let rx: Receiver;
  let good: OpenAISimulator;
  let flaky: OpenAISimulator;
  let claude: AnthropicSimulator;
  let gw: TestGateway;
  let client: OpenAI;
  let clientKey: { key: string; id: string };
  let goodPort: number;

  beforeAll(async () => {
    rx = await startReceiver();
    good = await startOpenAISimulator({ apiKey: UPSTREAM_KEY, models: ['gpt-4o-mini', 'text-embedding-3-small'] });
    good.handler = () => ({ type: 'text', text: COMPLETION, promptTokens: 13, completionTokens: 7 });
    flaky = await startOpenAISimulator({ apiKey: UPSTREAM_KEY });
    flaky.handler = () => ({ type: 'error', status: 500, message: 'upstream exploded' });
    claude = await startAnthropicSimulator({ apiKey: UPSTREAM_KEY });
    goodPort = Number(new URL(good.url).port);
    gw = await startTestGateway({
      retry: { attempts: 3, backoff_ms: 1 },
      upstreams: [
        { name: 'good', type: 'openai', base_url: good.url, api_key: UPSTREAM_KEY, models: ['gpt-4o-mini', 'text-embedding-3-small'] },
        { name: 'flaky', type: 'openai', base_url: flaky.url, api_key: UPSTREAM_KEY, models: ['fo-model'], priority: 0, retry: { attempts: 1 } },
        { name: 'backup', type: 'openai', base_url: good.url, api_key: UPSTREAM_KEY, models: ['fo-model'], model_map: { 'fo-model': 'gpt-4o-mini' }, priority: 1 },
        { name: 'claude', type: 'anthropic', base_url: claude.url, api_key: UPSTREAM_KEY, models: ['claude-x'] },
        { name: 'down', type: 'openai', base_url: 'http://127.0.0.1:9/v1', api_key: UPSTREAM_KEY, models: ['down-model'], retry: { attempts: 1 } },
      ],
      models: { 'gpt-4o-mini': { input_price: 1, output_price: 2 }, 'fo-model': { input_price: 1, output_price: 2 } },
      batch: { poll_ms: 50 },
      otel: { endpoint: rx.url, headers: { authorization: 'Bearer collector-token-abc' }, service_name: 'switchyard-e2e' },
    });
    clientKey = await gw.createKey({ name: 'traced' });
    client = new OpenAI({ baseURL: gw.baseURL, apiKey: clientKey.key, maxRetries: 0 });
  });
  afterAll(async () => {
    await gw?.close();
    await good?.close();
    await flaky?.close();
    await claude?.close();
    await rx?.close();
  });

  const flush = (): Promise<void> => gw.services.tracing!.flush();

  it('exports one SERVER span per request with GenAI and switchyard attributes, and a CLIENT span for its attempt', async () => {
    const { data, response } = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }], max_tokens: 50 }).withResponse();
    expect(data.choices[0].message.content).toBe(COMPLETION);
    await flush();
    // The exporter sends the configured headers; the resource names the service.
    expect(rx.headers.at(-1)?.authorization).toBe('Bearer collector-token-abc');
    expect(rx.headers.at(-1)?.['content-type']).toBe('application/json');
    const { server, attempts } = requestTrace(rx, response.headers.get('x-request-id')!);
    expect(server.resource['service.name']).toBe('switchyard-e2e');
    expect(server.name).toBe('POST /v1/chat/completions');
    expect(server.parentSpanId).toBe('');
    expect(server.attrs).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/v1/chat/completions',
      'url.path': '/v1/chat/completions',
      'http.response.status_code': 200,
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.request.max_tokens': 50,
      'gen_ai.response.model': 'gpt-4o-mini',
      'gen_ai.provider.name': 'openai',
      'gen_ai.system': 'openai',
      'gen_ai.usage.input_tokens': 13,
      'gen_ai.usage.output_tokens': 7,
      'switchyard.key_id': clientKey.id,
      'switchyard.endpoint': 'chat.completions',
      'switchyard.upstream': 'good',
      'switchyard.attempts': 1,
      'switchyard.status': 200,
      'switchyard.stream': false,
      'switchyard.charged': true,
    });
    expect(server.attrs['switchyard.cost_usd']).toBeCloseTo((13 * 1 + 7 * 2) / 1e6, 12);
    expect(server.attrs['switchyard.ttft_ms']).toBeTypeOf('number');
    expect(server.status.code).not.toBe(ERROR);
    expect(server.events).toEqual([]);

    expect(attempts).toHaveLength(1);
    expect(attempts[0].name).toBe('chat gpt-4o-mini');
    expect(attempts[0].attrs).toMatchObject({
      'server.address': '127.0.0.1',
      'server.port': goodPort,
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'http.response.status_code': 200,
      'switchyard.upstream': 'good',
      'switchyard.credential': 'good#1',
      'switchyard.attempt': 1,
    });
    expect(attempts[0].status.code).not.toBe(ERROR);
  });

  it('gives every try its own CLIENT span through retries and failover', async () => {
    // flaky (tier 0) fails, so the call fails over to backup (tier 1), which fails once and is retried.
    good.enqueue({ type: 'error', status: 503, message: 'busy' });
    const { data, response } = await client.chat.completions.create({ model: 'fo-model', messages: [{ role: 'user', content: PROMPT }] }).withResponse();
    expect(data.choices[0].message.content).toBe(COMPLETION);
    expect(response.headers.get('x-switchyard-attempts')).toBe('3');
    await flush();
    const { server, attempts } = requestTrace(rx, response.headers.get('x-request-id')!);
    expect(server.attrs).toMatchObject({ 'switchyard.attempts': 3, 'switchyard.upstream': 'backup', 'http.response.status_code': 200, 'gen_ai.response.model': 'gpt-4o-mini' });
    expect(server.status.code).not.toBe(ERROR);
    expect(attempts.map((a) => [a.attrs['switchyard.upstream'], a.attrs['http.response.status_code'], a.status.code === ERROR])).toEqual([
      ['flaky', 500, true],
      ['backup', 503, true],
      ['backup', 200, false],
    ]);
    expect(attempts[0].attrs['error.type']).toBe('upstream_error');
    expect(attempts[0].status.message).toBe('upstream_error');
    expect(attempts[2].name).toBe('chat gpt-4o-mini');
    expect(attempts[2].attrs['switchyard.model']).toBe('fo-model');
    // Sequential, not overlapping.
    expect(attempts[0].end <= attempts[1].start && attempts[1].end <= attempts[2].start).toBe(true);
  });

  it('traces a stream until its end, with time to first token', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }], stream: true, stream_options: { include_usage: true } }).withResponse();
    let text = '';
    for await (const chunk of stream.data) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(COMPLETION);
    await flush();
    const { server, attempts } = requestTrace(rx, stream.response.headers.get('x-request-id')!);
    expect(server.attrs).toMatchObject({ 'switchyard.stream': true, 'gen_ai.request.stream': true, 'gen_ai.usage.output_tokens': 7, 'switchyard.attempts': 1 });
    expect(server.attrs['switchyard.ttft_ms']).toBeTypeOf('number');
    expect(attempts).toHaveLength(1);
    // The attempt lasts while the stream is relayed, not only until its first event.
    expect(attempts[0].end - attempts[0].start).toBeGreaterThan(0n);
  });

  it('continues the trace of an incoming traceparent, and follows its sampling decision', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentId = '00f067aa0ba902b7';
    good.requests.length = 0;
    const { response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }] }, { headers: { traceparent: `00-${traceId}-${parentId}-01`, tracestate: 'vendor=abc' } })
      .withResponse();
    const unsampledTrace = '5bf92f3577b34da6a3ce929d0e0e4737';
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }] }, { headers: { traceparent: `00-${unsampledTrace}-${parentId}-00` } });
    await flush();
    const { server, attempts } = requestTrace(rx, response.headers.get('x-request-id')!);
    expect(server.traceId).toBe(traceId);
    expect(server.parentSpanId).toBe(parentId);
    expect(attempts).toHaveLength(1);
    expect(attempts[0].traceId).toBe(traceId);
    expect(rx.spans.filter((s) => s.traceId === unsampledTrace)).toEqual([]);
    // The upstream continues the trace under the attempt's span, keeping the caller's tracestate and sampling decision.
    const [sampledCall, unsampledCall] = good.requests.filter((r) => r.path.endsWith('/chat/completions'));
    expect(sampledCall.headers['traceparent']).toBe(`00-${traceId}-${attempts[0].spanId}-01`);
    expect(sampledCall.headers['tracestate']).toBe('vendor=abc');
    expect(unsampledCall.headers['traceparent']).toMatch(new RegExp(`^00-${unsampledTrace}-[0-9a-f]{16}-00$`));
  });

  it('passes each attempt its own traceparent through failover, and on a converted call', async () => {
    good.requests.length = 0;
    flaky.requests.length = 0;
    const { response } = await client.chat.completions.create({ model: 'fo-model', messages: [{ role: 'user', content: PROMPT }] }).withResponse();
    await flush();
    const { server, attempts } = requestTrace(rx, response.headers.get('x-request-id')!);
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    const sent = [...flaky.requests, ...good.requests].filter((r) => r.path.endsWith('/chat/completions')).map((r) => r.headers['traceparent']);
    expect(sent).toEqual(attempts.map((a) => `00-${server.traceId}-${a.spanId}-01`));

    // OpenAI client, Anthropic upstream: the converting relay sends it too.
    claude.requests.length = 0;
    const converted = await client.chat.completions.create({ model: 'claude-x', messages: [{ role: 'user', content: PROMPT }] }).withResponse();
    await flush();
    const t = requestTrace(rx, converted.response.headers.get('x-request-id')!);
    expect(t.attempts).toHaveLength(1);
    expect(claude.requests.find((r) => r.path.startsWith('/v1/messages'))?.headers['traceparent']).toBe(`00-${t.server.traceId}-${t.attempts[0].spanId}-01`);
  });

  it('traces non-chat endpoints and failures: embeddings, an unknown model, an unreachable upstream, a rate limit', async () => {
    const limited = new OpenAI({ baseURL: gw.baseURL, apiKey: (await gw.createKey({ name: 'one-rpm', rpm: 1 })).key, maxRetries: 0 });
    await limited.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }] });
    const refused = await limited.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }] }).withResponse().catch((e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
    expect(refused).toMatchObject({ status: 429 });
    const emb = await client.embeddings.create({ model: 'text-embedding-3-small', input: PROMPT }).withResponse();
    const unknown = await client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: PROMPT }] }).withResponse().catch((e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
    const down = await client.chat.completions.create({ model: 'down-model', messages: [{ role: 'user', content: PROMPT }] }).withResponse().catch((e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
    expect(unknown).toBeInstanceOf(OpenAI.APIError);
    expect(down).toBeInstanceOf(OpenAI.APIError);
    await flush();

    const e = requestTrace(rx, emb.response.headers.get('x-request-id')!);
    expect(e.server.name).toBe('POST /v1/embeddings');
    expect(e.server.attrs).toMatchObject({ 'gen_ai.operation.name': 'embeddings', 'gen_ai.request.model': 'text-embedding-3-small', 'switchyard.endpoint': 'embeddings', 'http.response.status_code': 200 });
    expect(e.attempts.map((a) => a.name)).toEqual(['embeddings text-embedding-3-small']);

    const u = requestTrace(rx, (unknown as InstanceType<typeof OpenAI.APIError>).headers?.get('x-request-id') ?? '');
    expect(u.server.status).toEqual({ code: ERROR, message: 'model_not_found' });
    expect(u.server.attrs).toMatchObject({ 'error.type': 'model_not_found', 'http.response.status_code': 404, 'switchyard.attempts': 0 });
    expect(u.attempts).toEqual([]);

    const d = requestTrace(rx, (down as InstanceType<typeof OpenAI.APIError>).headers?.get('x-request-id') ?? '');
    expect(d.server.status.code).toBe(ERROR);
    expect(d.server.attrs).toMatchObject({ 'error.type': 'upstream_unreachable', 'http.response.status_code': 502, 'switchyard.attempts': 1, 'switchyard.charged': false });
    expect(d.attempts).toHaveLength(1);
    expect(d.attempts[0].attrs).toMatchObject({ 'switchyard.upstream': 'down', 'error.type': 'upstream_unreachable', 'server.port': 9 });
    expect(d.attempts[0].status.code).toBe(ERROR);

    const r = requestTrace(rx, (refused as InstanceType<typeof OpenAI.APIError>).headers?.get('x-request-id') ?? '');
    expect(r.server.status).toEqual({ code: ERROR, message: 'rate_limit_exceeded' });
    expect(r.server.attrs).toMatchObject({ 'http.response.status_code': 429, 'switchyard.attempts': 0 });
    expect(r.attempts).toEqual([]);
  });

  it('traces batch lines, which run through the same dispatch', async () => {
    const line = { custom_id: 'line-1', method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }] } };
    const file = await client.files.create({ file: await toFile(Buffer.from(`${JSON.stringify(line)}\n`), 'in.jsonl'), purpose: 'batch' });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const until = Date.now() + 15_000;
    for (;;) {
      const b = await client.batches.retrieve(batch.id);
      if (b.status === 'completed') break;
      if (Date.now() > until) throw new Error(`batch still ${b.status}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await flush();
    const lines = rx.spans.filter((s) => s.kind === SERVER && s.attrs['switchyard.batch_id'] === batch.id);
    expect(lines).toHaveLength(1);
    expect(lines[0].name).toBe('POST /v1/chat/completions');
    expect(lines[0].attrs).toMatchObject({ 'switchyard.endpoint': 'batch.chat.completions', 'switchyard.key_id': clientKey.id, 'http.response.status_code': 200 });
    expect(requestTrace(rx, String(lines[0].attrs['switchyard.request_id'])).attempts).toHaveLength(1);
  });

  it('puts no prompt or completion text, and no secret, in any span', async () => {
    await flush();
    const all = rx.raw.join('\n');
    expect(rx.spans.length).toBeGreaterThan(10);
    expect(all).not.toContain('PROMPT-MARKER');
    expect(all).not.toContain('COMPLETION-MARKER');
    expect(all).not.toContain('capital');
    expect(all).not.toContain(UPSTREAM_KEY);
    expect(all).not.toContain(clientKey.key);
    expect(all).not.toContain('collector-token');
    expect(rx.spans.flatMap((s) => s.events)).toEqual([]);
  });
});

describe('with otel.propagate_upstream off', () => {
  it('traces the request but sends the upstream no trace context', async () => {
    const rx = await startReceiver();
    const sim = await startOpenAISimulator({ apiKey: UPSTREAM_KEY });
    sim.handler = () => ({ type: 'text', text: COMPLETION });
    const gw = await startTestGateway({
      upstreams: [{ name: 'main', type: 'openai', base_url: sim.url, api_key: UPSTREAM_KEY, models: ['gpt-4o-mini'] }],
      otel: { endpoint: rx.url, propagate_upstream: false },
    });
    try {
      const client = new OpenAI({ baseURL: gw.baseURL, apiKey: (await gw.createKey()).key, maxRetries: 0 });
      const traceId = '6bf92f3577b34da6a3ce929d0e0e4738';
      const { response } = await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }] }, { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, tracestate: 'vendor=abc' } })
        .withResponse();
      await gw.services.tracing!.flush();
      const { server, attempts } = requestTrace(rx, response.headers.get('x-request-id')!);
      expect(server.traceId).toBe(traceId);
      expect(attempts).toHaveLength(1);
      const call = sim.requests.find((r) => r.path.endsWith('/chat/completions'));
      expect(call?.headers['traceparent']).toBeUndefined();
      expect(call?.headers['tracestate']).toBeUndefined();
    } finally {
      await gw.close();
      await sim.close();
      await rx.close();
    }
  });
});

describe('with otel.capture_content', () => {
  let rx: Receiver;
  let sim: OpenAISimulator;
  let gw: TestGateway;
  let client: OpenAI;

  beforeAll(async () => {
    rx = await startReceiver();
    sim = await startOpenAISimulator({ apiKey: UPSTREAM_KEY });
    sim.handler = () => ({ type: 'text', text: COMPLETION });
    gw = await startTestGateway({
      upstreams: [{ name: 'main', type: 'openai', base_url: sim.url, api_key: UPSTREAM_KEY, models: ['gpt-4o-mini'] }],
      otel: { endpoint: rx.url, capture_content: true },
    });
    client = new OpenAI({ baseURL: gw.baseURL, apiKey: (await gw.createKey()).key, maxRetries: 0 });
  });
  afterAll(async () => {
    await gw?.close();
    await sim?.close();
    await rx?.close();
  });

  it('adds the prompt and the completion as span events, truncated', async () => {
    const plain = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }] }).withResponse();
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }], stream: true }).withResponse();
    for await (const _ of stream.data) void _;
    const long = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `${PROMPT} ${'x'.repeat(20_000)}` }] }).withResponse();
    await gw.services.tracing!.flush();

    const p = requestTrace(rx, plain.response.headers.get('x-request-id')!).server;
    expect(p.resource['service.name']).toBe('switchyard');
    const prompt = p.events.find((e) => e.name === 'gen_ai.content.prompt');
    const completion = p.events.find((e) => e.name === 'gen_ai.content.completion');
    expect(String(prompt?.attrs['gen_ai.prompt'])).toContain(PROMPT);
    expect(prompt?.attrs['switchyard.content.truncated']).toBe(false);
    expect(String(completion?.attrs['gen_ai.completion'])).toContain(COMPLETION);

    const s = requestTrace(rx, stream.response.headers.get('x-request-id')!).server;
    const streamed = String(s.events.find((e) => e.name === 'gen_ai.content.completion')?.attrs['gen_ai.completion']);
    expect(streamed).toContain('data: ');
    expect(streamed).toContain('MARKER');

    const l = requestTrace(rx, long.response.headers.get('x-request-id')!).server;
    const cut = l.events.find((e) => e.name === 'gen_ai.content.prompt');
    expect(String(cut?.attrs['gen_ai.prompt'])).toHaveLength(8192);
    expect(cut?.attrs['switchyard.content.truncated']).toBe(true);
    expect(rx.raw.join('\n')).not.toContain(UPSTREAM_KEY);
  });
});

describe('when the collector fails', () => {
  it('logs it once, without the export headers, and every request still succeeds', async () => {
    const rx = await startReceiver();
    rx.status = 500;
    const sim = await startOpenAISimulator();
    const { log, lines } = capturingLogger();
    const gw = await startTestGateway(
      { upstreams: [{ name: 'main', type: 'openai', base_url: sim.url, models: ['gpt-4o-mini'] }], otel: { endpoint: rx.url, headers: { 'x-vendor-key': 'vendor-secret-xyz' } } },
      { log },
    );
    try {
      const client = new OpenAI({ baseURL: gw.baseURL, apiKey: (await gw.createKey({ name: 'k' })).key, maxRetries: 0 });
      for (let i = 0; i < 3; i++) {
        const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
        expect(r.choices[0].message.content).toBeTruthy();
        await gw.services.tracing!.flush();
      }
      expect(rx.raw.length).toBeGreaterThanOrEqual(3);
      expect(rx.headers[0]['x-vendor-key']).toBe('vendor-secret-xyz');
      const failures = lines.filter((l) => String(l.msg).startsWith('could not export traces'));
      expect(failures).toHaveLength(1);
      expect(failures[0]).toMatchObject({ level: 40, endpoint: rx.url, err: { status: 500 } });
      expect(JSON.stringify(lines)).not.toContain('vendor-secret-xyz');
    } finally {
      await gw.close();
      await sim.close();
      await rx.close();
    }
  });
});
