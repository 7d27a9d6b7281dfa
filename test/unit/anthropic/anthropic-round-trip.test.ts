import Anthropic from '@anthropic-ai/sdk';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ChatRequest, StreamEvent } from '../../../src/core/canonical.ts';
import type { AdapterTarget } from '../../../src/core/codec.ts';
import { GatewayError } from '../../../src/core/errors.ts';
import { SseParser } from '../../../src/core/sse.ts';
import { anthropicCodec } from '../../../src/protocols/anthropic/anthropic-codec.ts';
import { anthropicAdapter } from '../../../src/providers/anthropic/anthropic-adapter.ts';
import { startAnthropicSimulator, type AnthropicScenario, type AnthropicSimulator } from '../../helpers/anthropic-simulator.ts';

/** Sends an adapter-built request and returns the answer, decoded by the adapter. */
async function callAdapter(req: ChatRequest, target: AdapterTarget): Promise<{ status: number; events: StreamEvent[]; body?: unknown }> {
  const built = anthropicAdapter.buildRequest(req, target);
  const res = await fetch(built.url, { method: 'POST', headers: built.headers, body: built.body });
  if (!req.stream || res.status >= 400) return { status: res.status, events: [], body: res.status >= 400 ? await res.text() : await res.json() };
  const parser = new SseParser();
  const decoder = anthropicAdapter.createStreamDecoder();
  const events: StreamEvent[] = [];
  const text = new TextDecoder();
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    for (const e of parser.push(text.decode(chunk, { stream: true }))) events.push(...decoder.decode(e));
  }
  const rest = parser.flush();
  if (rest) events.push(...decoder.decode(rest));
  events.push(...decoder.end());
  return { status: res.status, events };
}

/**
 * A minimal gateway: an Anthropic client's request goes through all four converters
 * (codec decode -> adapter build -> simulator -> adapter parse/decode -> codec encode),
 * so the official SDK can judge the codec's output.
 */
async function startMiniGateway(upstream: () => AdapterTarget): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const ctx = { model: '', requestId: 'req_gw' };
        try {
          const canonical = anthropicCodec.decodeRequest(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          ctx.model = canonical.model;
          const built = anthropicAdapter.buildRequest(canonical, { ...upstream(), upstreamModel: canonical.model });
          const up = await fetch(built.url, { method: 'POST', headers: built.headers, body: built.body });
          if (up.status >= 400) {
            const info = anthropicAdapter.parseError(await up.text());
            throw new GatewayError('upstream_error', info.message, { status: up.status, type: info.type });
          }
          if (!canonical.stream) {
            const body = JSON.stringify(anthropicCodec.encodeResult(anthropicAdapter.parseResult(await up.json()), ctx));
            res.writeHead(200, { 'content-type': 'application/json' }).end(body);
            return;
          }
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          const parser = new SseParser();
          const decoder = anthropicAdapter.createStreamDecoder();
          const encoder = anthropicCodec.createStreamEncoder({ ...ctx, streamUsage: true });
          const text = new TextDecoder();
          const emit = (events: StreamEvent[]): boolean => {
            for (const e of events) {
              res.write(encoder.encode(e));
              if (e.type === 'error') return false;
            }
            return true;
          };
          for await (const chunk of up.body as AsyncIterable<Uint8Array>) {
            if (!emit(parser.push(text.decode(chunk, { stream: true })).flatMap((e) => decoder.decode(e)))) {
              res.end();
              return;
            }
          }
          const rest = parser.flush();
          if (emit([...(rest ? decoder.decode(rest) : []), ...decoder.end()])) res.write(encoder.end());
          res.end();
        } catch (err) {
          const e = err instanceof GatewayError ? err : new GatewayError('internal_error', String(err));
          const { status, body } = anthropicCodec.encodeError(e);
          if (res.headersSent) res.end();
          else res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('Anthropic adapter against the simulator over HTTP', () => {
  let sim: AnthropicSimulator;
  let target: AdapterTarget;

  beforeAll(async () => {
    sim = await startAnthropicSimulator({ apiKey: 'sk-ant-up' });
    target = { baseUrl: `${sim.url}/v1`, apiKey: 'sk-ant-up', upstreamModel: 'claude-sonnet-4-5', headers: { 'anthropic-beta': 'prompt-caching-2024-07-31' } };
  });
  afterAll(async () => {
    await sim.close();
  });
  beforeEach(() => {
    sim.requests.length = 0;
  });

  const request: ChatRequest = {
    model: 'gpt-4o',
    system: [{ type: 'text', text: 'Be brief.' }],
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] },
      { role: 'assistant', content: [{ type: 'tool_call', id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
      { role: 'tool', content: [{ type: 'tool_result', toolCallId: 'call_1', content: [{ type: 'text', text: '15C' }] }] },
    ],
    stream: false,
    temperature: 0.3,
    tools: [{ name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }],
  };

  it('sends a request the API accepts and reads the message back', async () => {
    sim.enqueue({ type: 'text', text: 'It is 15C in Paris.', inputTokens: 40, cacheReadTokens: 10, outputTokens: 8 });
    const { status, body } = await callAdapter(request, target);
    expect(status).toBe(200);
    const result = anthropicAdapter.parseResult(body);
    expect(result).toMatchObject({
      content: [{ type: 'text', text: 'It is 15C in Paris.' }],
      finishReason: 'stop',
      rawFinishReason: 'end_turn',
      usage: { inputTokens: 50, cachedInputTokens: 10, cacheWriteTokens: 0, outputTokens: 8 },
    });
    expect(result.id).toMatch(/^msg_01/);
    const rec = sim.requests[0];
    expect(rec.path).toBe('/v1/messages');
    expect(rec.headers).toMatchObject({ 'x-api-key': 'sk-ant-up', 'anthropic-version': '2023-06-01', 'anthropic-beta': 'prompt-caching-2024-07-31' });
    expect(rec.body).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 4096,
      system: [{ type: 'text', text: 'Be brief.' }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: [{ type: 'text', text: '15C' }] }] },
      ],
      temperature: 0.3,
      tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
    });
  });

  it('decodes a streamed tool call into canonical events', async () => {
    sim.enqueue({ type: 'tool_use', text: 'Checking.', calls: [{ id: 'toolu_01X', name: 'get_weather', input: { city: 'Lyon' } }], inputTokens: 30, outputTokens: 12 });
    const { events } = await callAdapter({ ...request, stream: true }, target);
    const args = events.flatMap((e) => (e.type === 'tool-call-delta' ? [e.argumentsDelta] : [])).join('');
    expect(JSON.parse(args)).toEqual({ city: 'Lyon' });
    expect(events.filter((e) => e.type !== 'text-delta' && e.type !== 'tool-call-delta').map((e) => e.type)).toEqual([
      'start',
      'text-start',
      'text-end',
      'tool-call-start',
      'tool-call-end',
      'finish',
    ]);
    expect(events.find((e) => e.type === 'tool-call-start')).toEqual({ type: 'tool-call-start', index: 1, id: 'toolu_01X', name: 'get_weather' });
    expect(events[events.length - 1]).toEqual({
      type: 'finish',
      finishReason: 'tool_calls',
      rawFinishReason: 'tool_use',
      usage: { inputTokens: 30, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 12 },
    });
    expect(sim.requests[0].body.stream).toBe(true);
  });

  it('sends a thinking budget the API accepts', async () => {
    sim.enqueue({ type: 'thinking', thinking: 'Hmm.', text: 'Yes.' });
    const { events } = await callAdapter({ ...request, messages: [request.messages[0]], tools: undefined, temperature: undefined, stream: true, reasoning: { effort: 'low' } }, target);
    expect(sim.requests[0].body).toMatchObject({ max_tokens: 5120, thinking: { type: 'enabled', budget_tokens: 1024 } });
    expect(events.filter((e) => e.type === 'reasoning-signature')).toHaveLength(1);
  });

  it('turns errors into canonical errors: HTTP ones through parseError, stream ones as error events', async () => {
    sim.enqueue({ type: 'overloaded' });
    const overloaded = await callAdapter(request, target);
    expect(overloaded.status).toBe(529);
    expect(anthropicAdapter.parseError(overloaded.body as string)).toEqual({ message: 'Overloaded', type: 'overloaded_error', code: null, param: null });

    sim.enqueue({ type: 'stream_error_first' });
    expect((await callAdapter({ ...request, stream: true }, target)).events).toEqual([{ type: 'error', message: 'Overloaded', status: 529, errorType: 'overloaded_error' }]);

    sim.enqueue({ type: 'stream_error', afterChunks: 1, errorType: 'api_error', message: 'Internal server error' });
    const mid = (await callAdapter({ ...request, stream: true }, target)).events;
    expect(mid.slice(-1)).toEqual([{ type: 'error', message: 'Internal server error', status: 500, errorType: 'api_error' }]);

    const badKey = await callAdapter(request, { ...target, apiKey: 'nope' });
    expect([badKey.status, anthropicAdapter.parseError(badKey.body as string).type]).toEqual([401, 'authentication_error']);
  });
});

describe('Anthropic codec output, judged by @anthropic-ai/sdk (simulator -> decoder -> encoder)', () => {
  let sim: AnthropicSimulator;
  let gateway: { url: string; server: Server };
  let direct: Anthropic;
  let viaGateway: Anthropic;

  beforeAll(async () => {
    sim = await startAnthropicSimulator({ apiKey: 'sk-ant-up' });
    gateway = await startMiniGateway(() => ({ baseUrl: sim.url, apiKey: 'sk-ant-up', upstreamModel: '', headers: {} }));
    direct = new Anthropic({ apiKey: 'sk-ant-up', baseURL: sim.url, maxRetries: 0 });
    viaGateway = new Anthropic({ apiKey: 'gateway-key', baseURL: gateway.url, maxRetries: 0 });
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => gateway.server.close(() => resolve()));
    await sim.close();
  });

  const params = {
    model: 'claude-sonnet-4-5',
    max_tokens: 4096,
    messages: [{ role: 'user' as const, content: 'Weather in Paris?' }],
    tools: [{ name: 'get_weather', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } } }],
  };

  /** The fields a converted answer must reproduce exactly; usage without the simulator's service_tier. */
  function essentials(m: Anthropic.Message) {
    const { input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens } = m.usage;
    return { id: m.id, model: m.model, role: m.role, content: m.content, stop_reason: m.stop_reason, usage: { input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens } };
  }

  const scenarios: Array<[string, AnthropicScenario, Record<string, unknown>]> = [
    ['text with cache usage', { type: 'text', text: 'It is sunny in Paris today.', inputTokens: 12, cacheReadTokens: 100, cacheCreationTokens: 7 }, {}],
    ['a tool call after text', { type: 'tool_use', text: 'Let me check.', calls: [{ name: 'get_weather', input: { city: 'Paris', days: [1, 2] } }] }, {}],
    ['two tool calls', { type: 'tool_use', calls: [{ name: 'get_weather', input: { city: 'Paris' } }, { name: 'get_weather', input: { city: 'Lyon' } }] }, {}],
    ['thinking, redacted thinking and text', { type: 'thinking', thinking: 'Paris is in France.', redactedData: 'EmwKAhgB', text: 'Sunny.' }, { thinking: { type: 'enabled', budget_tokens: 2048 } }],
    ['a max_tokens cut', { type: 'text', text: 'one two three four five six' }, { max_tokens: 3 }],
  ];

  for (const [name, scenario, extra] of scenarios) {
    it(`streams ${name} that finalMessage() assembles exactly as from Anthropic`, async () => {
      // The simulator makes fresh ids per answer; fix the tool ids so both answers match.
      const withIds: AnthropicScenario =
        scenario.type === 'tool_use' ? { ...scenario, calls: scenario.calls.map((c, i) => ({ ...c, id: c.id ?? `toolu_01fixed${i}` })) } : scenario;
      sim.enqueue(withIds, withIds);
      const expected = await direct.messages.stream({ ...params, ...extra }).finalMessage();
      const got = await viaGateway.messages.stream({ ...params, ...extra }).finalMessage();
      expect({ ...essentials(got), id: 'x' }).toEqual({ ...essentials(expected), id: 'x' });
      expect(got.id).toMatch(/^msg_01/);
    });
  }

  it('answers non-stream requests with the same message object', async () => {
    const scenario: AnthropicScenario = { type: 'tool_use', text: 'Checking.', calls: [{ id: 'toolu_01same', name: 'get_weather', input: { city: 'Nice' } }] };
    sim.enqueue(scenario, scenario);
    const expected = await direct.messages.create(params);
    const got = await viaGateway.messages.create(params);
    expect({ ...essentials(got), id: 'x' }).toEqual({ ...essentials(expected), id: 'x' });
  });

  it('relays upstream errors in Anthropic form: HTTP errors, and stream errors the SDK throws', async () => {
    sim.enqueue({ type: 'overloaded' });
    const overloaded = await viaGateway.messages.create(params).catch((e: unknown) => e);
    expect(overloaded).toMatchObject({ status: 529, type: 'overloaded_error', error: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } });

    sim.enqueue({ type: 'stream_error', afterChunks: 2, errorType: 'overloaded_error', message: 'Overloaded' });
    const texts: string[] = [];
    const stream = viaGateway.messages.stream(params);
    stream.on('text', (t) => texts.push(t));
    const err = await stream.finalMessage().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(err).toMatchObject({ type: 'overloaded_error' });
    expect(texts).toEqual(['Hello', ' from']);

    const invalid = await viaGateway.messages.create({ ...params, max_tokens: undefined } as unknown as typeof params).catch((e: unknown) => e);
    expect(invalid).toMatchObject({ status: 400, type: 'invalid_request_error', error: { error: { message: 'max_tokens: Field required' } } });
  });
});
