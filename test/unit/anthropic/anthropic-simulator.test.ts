import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_SIGNATURE, startAnthropicSimulator, type AnthropicSimulator } from '../../helpers/anthropic-simulator.ts';

/** The official SDK against the simulator: its own parsing proves the wire format (JSON and SSE framing, event order). */
describe('Anthropic simulator, driven by @anthropic-ai/sdk', () => {
  let sim: AnthropicSimulator;
  let client: Anthropic;

  beforeAll(async () => {
    sim = await startAnthropicSimulator({ apiKey: 'sk-ant-sim' });
    client = new Anthropic({ apiKey: 'sk-ant-sim', baseURL: sim.url, maxRetries: 0 });
  });
  afterAll(async () => {
    await sim.close();
  });
  beforeEach(() => {
    sim.requests.length = 0;
  });

  const params = { model: 'claude-sonnet-4-5', max_tokens: 256, messages: [{ role: 'user' as const, content: 'Hello' }] };

  it('answers messages.create with a message object and records the request', async () => {
    sim.enqueue({ type: 'text', text: 'Hi! My name is Claude.', inputTokens: 10, cacheReadTokens: 5 });
    const msg = await client.messages.create(params);
    expect(msg).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [{ type: 'text', text: 'Hi! My name is Claude.' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 10, cache_read_input_tokens: 5, cache_creation_input_tokens: 0, output_tokens: 5 },
    });
    expect(msg.id).toMatch(/^msg_01/);
    const rec = sim.requests[0];
    expect([rec.method, rec.path, rec.headers.authorization]).toEqual(['POST', '/v1/messages', 'Bearer sk-ant-sim']);
    expect(rec.headers['anthropic-version']).toEqual(expect.any(String));
    expect(rec.body).toMatchObject({ model: 'claude-sonnet-4-5', max_tokens: 256, messages: [{ role: 'user', content: 'Hello' }] });
  });

  it('streams text that messages.stream().finalMessage() assembles, in several TCP writes with delays', async () => {
    sim.enqueue({ type: 'text', text: 'One two three four', chunkDelayMs: 5 });
    const stream = client.messages.stream(params);
    const deltas: string[] = [];
    stream.on('text', (t) => deltas.push(t));
    const msg = await stream.finalMessage();
    expect(deltas).toEqual(['One', ' two', ' three', ' four']);
    expect(msg.content).toEqual([{ type: 'text', text: 'One two three four' }]);
    expect(msg.stop_reason).toBe('end_turn');
    expect(msg.usage.output_tokens).toBe(4);
    expect(sim.requests[0].body.stream).toBe(true);
  });

  it('streams tool_use input as input_json_delta fragments the SDK parses into an object', async () => {
    const input = { location: 'San Francisco, CA', unit: 'fahrenheit' };
    sim.enqueue({ type: 'tool_use', text: 'Let me check.', calls: [{ id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', input }] });
    const msg = await client.messages
      .stream({ ...params, tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { location: { type: 'string' } } } }] })
      .finalMessage();
    expect(msg.content).toEqual([
      { type: 'text', text: 'Let me check.' },
      { type: 'tool_use', id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', input },
    ]);
    expect(msg.stop_reason).toBe('tool_use');

    sim.enqueue({ type: 'tool_use', calls: [{ name: 'a', input: { x: 1 } }, { name: 'b', input: {} }] });
    const nonStream = await client.messages.create(params);
    expect(nonStream.content.map((b) => (b.type === 'tool_use' ? [b.name, b.input] : b.type))).toEqual([
      ['a', { x: 1 }],
      ['b', {}],
    ]);
  });

  it('streams thinking with its signature, and redacted thinking', async () => {
    sim.enqueue({ type: 'thinking', thinking: 'Let me think.', redactedData: 'EmwKAhgB', text: 'Done.' });
    const msg = await client.messages.stream({ ...params, max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 } }).finalMessage();
    expect(msg.content).toEqual([
      { type: 'thinking', thinking: 'Let me think.', signature: DEFAULT_SIGNATURE },
      { type: 'redacted_thinking', data: 'EmwKAhgB' },
      { type: 'text', text: 'Done.' },
    ]);
  });

  it('applies stop_sequences and max_tokens', async () => {
    sim.enqueue({ type: 'text', text: 'alpha beta END gamma' });
    const stopped = await client.messages.create({ ...params, stop_sequences: ['END'] });
    expect([stopped.content, stopped.stop_reason, stopped.stop_sequence]).toEqual([[{ type: 'text', text: 'alpha beta ' }], 'stop_sequence', 'END']);
    sim.enqueue({ type: 'text', text: 'one two three four five' });
    const cut = await client.messages.stream({ ...params, max_tokens: 2 }).finalMessage();
    expect([cut.content, cut.stop_reason]).toEqual([[{ type: 'text', text: 'one two' }], 'max_tokens']);
  });

  it('answers errors with Anthropic error bodies the SDK maps to its error classes', async () => {
    sim.enqueue({ type: 'error', status: 429, message: 'Number of request tokens has exceeded your per-minute rate limit' });
    const limited = await client.messages.create(params).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(Anthropic.RateLimitError);
    expect(limited).toMatchObject({ status: 429, type: 'rate_limit_error' });

    sim.enqueue({ type: 'overloaded' });
    const overloaded = await client.messages.create(params).catch((e: unknown) => e);
    expect(overloaded).toMatchObject({ status: 529, type: 'overloaded_error', error: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } });
    expect((overloaded as InstanceType<typeof Anthropic.APIError>).requestID).toMatch(/^req_/);

    const badKey = await new Anthropic({ apiKey: 'wrong', baseURL: sim.url, maxRetries: 0 }).messages.create(params).catch((e: unknown) => e);
    expect(badKey).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(badKey).toMatchObject({ status: 401, type: 'authentication_error' });

    const invalid = await client.messages.create({ ...params, max_tokens: 1000, thinking: { type: 'enabled', budget_tokens: 1000 } }).catch((e: unknown) => e);
    expect(invalid).toMatchObject({ status: 400, type: 'invalid_request_error' });
    expect((invalid as Error).message).toContain('thinking.enabled.budget_tokens');
  });

  it('checks that tool_result blocks answer the previous turn', async () => {
    const history = (results: string[]) => [
      { role: 'user' as const, content: 'Weather?' },
      { role: 'assistant' as const, content: [{ type: 'tool_use' as const, id: 'toolu_a', name: 'w', input: {} }] },
      { role: 'user' as const, content: results.map((id) => ({ type: 'tool_result' as const, tool_use_id: id, content: 'x' })) },
    ];
    const unexpected = await client.messages.create({ ...params, messages: history(['toolu_a', 'toolu_b']) }).catch((e: unknown) => e);
    expect(unexpected).toMatchObject({ status: 400, type: 'invalid_request_error' });
    expect((unexpected as Error).message).toContain('unexpected `tool_use_id` found in `tool_result` blocks: toolu_b');
    const unanswered = await client.messages.create({ ...params, messages: history([]).slice(0, 2).concat({ role: 'user', content: 'and?' }) }).catch((e: unknown) => e);
    expect((unanswered as Error).message).toContain('`tool_use` ids were found without `tool_result` blocks immediately after: toolu_a');
    sim.enqueue({ type: 'text' });
    await expect(client.messages.create({ ...params, messages: history(['toolu_a']) })).resolves.toMatchObject({ type: 'message' });
  });

  it('sends errors inside a 200 stream as `event: error`, which the SDK throws', async () => {
    sim.enqueue({ type: 'stream_error_first' });
    const first = await client.messages.stream(params).finalMessage().catch((e: unknown) => e);
    expect(first).toBeInstanceOf(Anthropic.APIError);
    expect(first).toMatchObject({ type: 'overloaded_error' });

    sim.enqueue({ type: 'stream_error', afterChunks: 2, errorType: 'api_error', message: 'Internal server error' });
    const texts: string[] = [];
    const stream = client.messages.stream(params);
    stream.on('text', (t) => texts.push(t));
    const mid = await stream.finalMessage().catch((e: unknown) => e);
    expect(mid).toMatchObject({ type: 'api_error' });
    expect(texts).toEqual(['Hello', ' from']);
  });

  it('drops the connection mid-stream, or before answering', async () => {
    sim.enqueue({ type: 'drop', afterChunks: 2 });
    const dropped = await client.messages.stream(params).finalMessage().catch((e: unknown) => e);
    expect(dropped).toBeInstanceOf(Error);
    sim.enqueue({ type: 'drop', afterChunks: 0 });
    const refused = await client.messages.create(params).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(Anthropic.APIConnectionError);
    await sim.waitForRequests(2);
    expect(sim.requests.map((r) => r.aborted)).toEqual([false, false]);
  });

  it('hangs until the client gives up, and records the abort', async () => {
    sim.enqueue({ type: 'hang' });
    const err = await client.messages.create(params, { timeout: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIConnectionTimeoutError);
    await sim.waitForRequests(1);
    expect(sim.requests[0].aborted).toBe(true);
  });

  it('counts tokens at /v1/messages/count_tokens', async () => {
    const count = await client.messages.countTokens({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Hello, world' }] });
    expect(count.input_tokens).toBeGreaterThan(0);
    expect(sim.requests[0].path).toBe('/v1/messages/count_tokens');
  });

  it('requires anthropic-version and answers unknown paths with not_found_error', async () => {
    const noVersion = await fetch(`${sim.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': 'sk-ant-sim', 'content-type': 'application/json' },
      body: JSON.stringify(params),
    });
    expect(noVersion.status).toBe(400);
    expect(await noVersion.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: 'anthropic-version: header is required' } });
    const unknown = await fetch(`${sim.url}/v1/complete2`, { method: 'POST' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
  });
});
