import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_TEXT, startOpenAISimulator, type OpenAISimulator } from '../helpers/openai-simulator.ts';

const KEY = 'sk-sim-test-0123456789abcdef';

let sim: OpenAISimulator;
let client: OpenAI;

beforeAll(async () => {
  sim = await startOpenAISimulator({ apiKey: KEY, models: ['gpt-4o-mini', 'gpt-4o'] });
  client = new OpenAI({ baseURL: sim.url, apiKey: KEY, maxRetries: 0 });
});

afterAll(async () => {
  await sim?.close();
});

beforeEach(() => {
  sim.requests.length = 0;
  sim.handler = () => ({ type: 'text' });
});

/** Reads a raw SSE body and returns the `data:` payloads in order. */
async function rawEvents(body: Record<string, unknown>): Promise<{ res: Response; text: string; data: string[] }> {
  const res = await fetch(`${sim.url}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  const data = text
    .split('\n\n')
    .filter((e) => e.length > 0)
    .map((e) => {
      expect(e.startsWith('data: ')).toBe(true);
      return e.slice('data: '.length);
    });
  return { res, text, data };
}

describe('OpenAI simulator, non-stream', () => {
  it('answers a chat.completion object the official client accepts, and records the request', async () => {
    sim.enqueue({ type: 'text', text: 'Hello there friend', promptTokens: 21, completionTokens: 3, cachedTokens: 5 });
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] })
      .withResponse();
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
    expect(data.id).toMatch(/^chatcmpl-/);
    expect(data.object).toBe('chat.completion');
    expect(typeof data.created).toBe('number');
    expect(data.model).toBe('gpt-4o-mini');
    expect(data.system_fingerprint).toMatch(/^fp_/);
    expect(data.choices).toEqual([
      { index: 0, message: { role: 'assistant', content: 'Hello there friend', refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' },
    ]);
    expect(data.usage).toEqual({
      prompt_tokens: 21,
      completion_tokens: 3,
      total_tokens: 24,
      prompt_tokens_details: { cached_tokens: 5, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    });

    expect(sim.requests).toHaveLength(1);
    const rec = sim.requests[0];
    expect(rec).toMatchObject({ method: 'POST', path: '/v1/chat/completions', aborted: false });
    expect(rec.body).toEqual({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] });
    expect(JSON.parse(rec.rawBody)).toEqual(rec.body);
    expect(rec.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(rec.endedAt).toBeGreaterThanOrEqual(rec.startedAt);
  });

  it('uses defaults: the handler answers when the queue is empty, 11 prompt tokens, one completion token per word', async () => {
    const r = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] });
    expect(r.choices[0].message.content).toBe(DEFAULT_TEXT);
    expect(r.model).toBe('gpt-4o');
    expect(r.usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 4, total_tokens: 15 });
  });

  it('consumes the queue FIFO before asking the handler, and the handler sees the recorded request', async () => {
    sim.handler = (req) => ({ type: 'text', text: `echo ${req.body.messages[0].content}` });
    sim.enqueue({ type: 'text', text: 'first' }, { type: 'text', text: 'second' });
    const ask = async (content: string) =>
      (await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] })).choices[0].message.content;
    expect(await ask('a')).toBe('first');
    expect(await ask('b')).toBe('second');
    expect(await ask('c')).toBe('echo c');
  });

  it('honours model, finish reason, reasoning tokens and omitUsage', async () => {
    sim.enqueue({ type: 'text', text: 'one two', model: 'gpt-4o-mini-2024-07-18', finishReason: 'length', reasoningTokens: 64 });
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    expect(r.model).toBe('gpt-4o-mini-2024-07-18');
    expect(r.choices[0].finish_reason).toBe('length');
    // OpenAI counts reasoning tokens inside completion_tokens.
    expect(r.usage).toMatchObject({ completion_tokens: 66, completion_tokens_details: { reasoning_tokens: 64 } });

    sim.enqueue({ type: 'text', omitUsage: true });
    const r2 = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    expect(r2).not.toHaveProperty('usage');
  });

  it('answers a tool call message with content null', async () => {
    sim.enqueue({ type: 'tool_call', calls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }], promptTokens: 30, completionTokens: 12 });
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    expect(r.choices[0]).toEqual({
      index: 0,
      message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }], refusal: null, annotations: [] },
      logprobs: null,
      finish_reason: 'tool_calls',
    });
    expect(r.usage).toMatchObject({ prompt_tokens: 30, completion_tokens: 12, total_tokens: 42 });
  });
});

describe('OpenAI simulator, streaming', () => {
  it('streams without include_usage: role chunk, one chunk per word, finish chunk, no usage field at all', async () => {
    sim.enqueue({ type: 'text', text: 'one two three four' });
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'count' }] })
      .withResponse();
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks).toHaveLength(6);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'gpt-4o-mini' && !('usage' in c))).toBe(true);
    expect(chunks[0].choices[0]).toEqual({ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null });
    expect(chunks.slice(1, 5).map((c) => c.choices[0].delta.content)).toEqual(['one', ' two', ' three', ' four']);
    expect(chunks[5].choices[0]).toEqual({ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' });
  });

  it('streams with include_usage: usage null on every chunk, then a usage chunk with choices []', async () => {
    sim.enqueue({ type: 'text', text: 'a b', promptTokens: 7, completionTokens: 2, cachedTokens: 3 });
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'x' }],
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks).toHaveLength(5);
    expect(chunks.slice(0, -1).every((c) => c.usage === null && c.choices.length === 1)).toBe(true);
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toEqual({
      prompt_tokens: 7,
      completion_tokens: 2,
      total_tokens: 9,
      prompt_tokens_details: { cached_tokens: 3, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    });
  });

  it('frames events exactly: data lines, obfuscation padding, [DONE] last; include_obfuscation false drops the padding', async () => {
    sim.enqueue({ type: 'text', text: 'hi there', chunks: 1 });
    const { res, text, data } = await rawEvents({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [] });
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(text.endsWith('\n\ndata: [DONE]\n\n')).toBe(true);
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    // role, one content chunk ("chunks: 1"), finish, usage
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? null)).toEqual(['', 'hi there', null, null]);
    expect(chunks.every((c) => typeof c.obfuscation === 'string' && c.service_tier === 'default')).toBe(true);
    // Key order as OpenAI sends it: envelope, choices, usage, obfuscation.
    expect(Object.keys(chunks[1])).toEqual(['id', 'object', 'created', 'model', 'service_tier', 'system_fingerprint', 'choices', 'usage', 'obfuscation']);

    sim.enqueue({ type: 'text', text: 'hi', omitUsage: true });
    const plain = await rawEvents({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true, include_obfuscation: false }, messages: [] });
    const plainChunks = plain.data.slice(0, -1).map((d) => JSON.parse(d));
    // omitUsage: no usage chunk and no usage: null, even though the request asked for it.
    expect(plainChunks).toHaveLength(3);
    expect(plainChunks.every((c) => !('obfuscation' in c) && !('usage' in c))).toBe(true);
  });

  it('splits text into the requested number of chunks', async () => {
    sim.enqueue({ type: 'text', text: 'a b c d e f', chunks: 3 });
    const { data } = await rawEvents({ model: 'm', stream: true, messages: [] });
    const contents = data.slice(1, -2).map((d) => JSON.parse(d).choices[0].delta.content);
    expect(contents).toEqual(['a b', ' c d', ' e f']);
  });

  it('delivers chunks incrementally with chunkDelayMs', async () => {
    sim.enqueue({ type: 'text', text: 'a b c d', chunkDelayMs: 100 });
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'x' }] });
    const arrivals: number[] = [];
    for await (const chunk of stream) if (chunk.choices[0]?.delta?.content) arrivals.push(Date.now());
    expect(arrivals).toHaveLength(4);
    expect(arrivals[3] - arrivals[0]).toBeGreaterThanOrEqual(250);
  });

  it('waits firstByteDelayMs before the headers', async () => {
    sim.enqueue({ type: 'text', firstByteDelayMs: 200 });
    const started = Date.now();
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('streams tool calls that the client helper assembles', async () => {
    sim.enqueue({
      type: 'tool_call',
      calls: [
        { id: 'call_abc', name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' },
        { name: 'get_time', arguments: '{"tz":"Europe/Paris"}' },
      ],
      promptTokens: 50,
      completionTokens: 20,
    });
    const runner = client.chat.completions.stream({
      model: 'gpt-4o-mini',
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'weather?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
    });
    const final = await runner.finalChatCompletion();
    expect(final.choices[0].finish_reason).toBe('tool_calls');
    const calls = final.choices[0].message.tool_calls ?? [];
    expect(calls).toHaveLength(2);
    const [weather, time] = calls;
    expect(weather.id).toBe('call_abc');
    expect(weather.type === 'function' && weather.function.name).toBe('get_weather');
    expect(weather.type === 'function' && JSON.parse(weather.function.arguments)).toEqual({ city: 'Paris', unit: 'c' });
    expect(time.id).toMatch(/^call_[A-Za-z0-9]{24}$/);
    expect(time.type === 'function' && JSON.parse(time.function.arguments)).toEqual({ tz: 'Europe/Paris' });
    expect(final.usage).toMatchObject({ prompt_tokens: 50, completion_tokens: 20, total_tokens: 70 });
    expect(sim.requests[0].body.tools[0].function.name).toBe('get_weather');
  });

  it('puts the role and the first call header in one chunk, then argument fragments', async () => {
    sim.enqueue({ type: 'tool_call', calls: [{ id: 'call_x', name: 'f', arguments: '{"a":1}' }] });
    const { data } = await rawEvents({ model: 'gpt-4o-mini', stream: true, messages: [] });
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    expect(chunks[0].choices[0].delta).toEqual({
      role: 'assistant',
      content: null,
      tool_calls: [{ index: 0, id: 'call_x', type: 'function', function: { name: 'f', arguments: '' } }],
      refusal: null,
    });
    const fragments = chunks.slice(1, -1).map((c) => c.choices[0].delta.tool_calls[0]);
    expect(fragments.length).toBeGreaterThan(1);
    expect(fragments.every((f) => f.index === 0 && !('id' in f) && Object.keys(f.function).join() === 'arguments')).toBe(true);
    expect(fragments.map((f) => f.function.arguments).join('')).toBe('{"a":1}');
    expect(chunks.at(-1).choices[0]).toEqual({ index: 0, delta: {}, logprobs: null, finish_reason: 'tool_calls' });
  });
});

describe('OpenAI simulator, failures', () => {
  it('answers errors in the OpenAI shape, which the client maps to its error classes', async () => {
    sim.enqueue({ type: 'error', status: 400, message: "Invalid value for 'temperature': must be <= 2.", errorType: 'invalid_request_error', code: 'invalid_value' });
    const e400 = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(e400).toBeInstanceOf(OpenAI.BadRequestError);
    expect(e400).toMatchObject({ status: 400, code: 'invalid_value', type: 'invalid_request_error', param: null });
    expect((e400 as Error).message).toContain("Invalid value for 'temperature'");

    sim.enqueue({ type: 'error', status: 429, message: 'Rate limit reached' });
    const e429 = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(e429).toBeInstanceOf(OpenAI.RateLimitError);
    expect(e429).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded' });

    sim.enqueue({ type: 'error', status: 503 });
    const e503 = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(e503).toBeInstanceOf(OpenAI.InternalServerError);
    expect(e503).toMatchObject({ status: 503, type: 'server_error', code: null });

    sim.enqueue({ type: 'error', status: 502, body: '<html>Bad gateway</html>' });
    const res = await fetch(`${sim.url}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: '{"model":"m","messages":[]}' });
    expect(res.status).toBe(502);
    expect(await res.text()).toBe('<html>Bad gateway</html>');
  });

  it('rejects a wrong key with 401 invalid_api_key quoting the whole key, and a missing key', async () => {
    const bad = new OpenAI({ baseURL: sim.url, apiKey: 'sk-wrong-credential-abcdefghijklmnop', maxRetries: 0 });
    const err = await bad.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(err).toMatchObject({ status: 401, code: 'invalid_api_key', type: 'invalid_request_error' });
    expect((err as Error).message).toContain('Incorrect API key provided: sk-wrong-credential-abcdefghijklmnop.');
    expect(sim.requests.at(-1)?.headers.authorization).toBe('Bearer sk-wrong-credential-abcdefghijklmnop');

    const none = await fetch(`${sim.url}/models`);
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { message: string } }).error.message).toContain("You didn't provide an API key");
  });

  it('rejects malformed JSON with 400 and unknown routes with 404, without consuming a scenario', async () => {
    sim.enqueue({ type: 'text', text: 'kept' });
    const bad = await fetch(`${sim.url}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: '{"model": "x", "messages": [' });
    expect(bad.status).toBe(400);
    const badBody = (await bad.json()) as { error: Record<string, unknown> };
    expect(badBody.error).toMatchObject({ type: 'invalid_request_error', param: null, code: null });
    expect(badBody.error.message).toContain('We could not parse the JSON body of your request.');
    expect(sim.requests[0].rawBody).toBe('{"model": "x", "messages": [');
    expect(sim.requests[0].body).toBeUndefined();

    const missing = await fetch(`${sim.url}/nothing-here?x=1`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { message: 'Invalid URL (GET /v1/nothing-here)', type: 'invalid_request_error', param: null, code: null } });
    expect(sim.requests[1].path).toBe('/v1/nothing-here?x=1');

    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    expect(r.choices[0].message.content).toBe('kept');
  });

  it('lists and retrieves models', async () => {
    const models = await client.models.list();
    expect(models.data).toEqual([
      { id: 'gpt-4o-mini', object: 'model', created: expect.any(Number), owned_by: 'system' },
      { id: 'gpt-4o', object: 'model', created: expect.any(Number), owned_by: 'system' },
    ]);
    expect((await client.models.retrieve('gpt-4o')).id).toBe('gpt-4o');
    await expect(client.models.retrieve('nope')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('sends an error as the first event of a 200 stream; the client raises it', async () => {
    sim.enqueue({ type: 'stream_error_first', message: 'boom' });
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'x' }] })
      .withResponse();
    expect(response.status).toBe(200);
    const err = await (async () => {
      for await (const _ of stream) {
        /* drain */
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as Error).message).toContain('boom');

    sim.enqueue({ type: 'stream_error_first', message: 'boom' });
    const { data } = await rawEvents({ model: 'm', stream: true, messages: [] });
    expect(data).toEqual([JSON.stringify({ error: { message: 'boom', type: 'server_error', param: null, code: null } })]);
  });

  it('drops the connection after N content chunks; the client sees a broken stream, the record is not an abort', async () => {
    sim.enqueue({ type: 'drop', afterChunks: 2 });
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'x' }] });
    let got = 0;
    const err = await (async () => {
      for await (const chunk of stream) if (chunk.choices[0]?.delta?.content) got += 1;
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(got).toBe(2);
    await sim.waitForRequests(1, 2000);
    expect(sim.requests[0].aborted).toBe(false);
  });

  it('drops before any response with afterChunks 0', async () => {
    sim.enqueue({ type: 'drop', afterChunks: 0 });
    const err = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIConnectionError);
  });

  it('hangs until the client aborts, and records the abort', async () => {
    sim.enqueue({ type: 'hang' });
    const controller = new AbortController();
    const pending = client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }, { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 150));
    expect(sim.requests).toHaveLength(1);
    expect(sim.requests[0].endedAt).toBeUndefined();
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(OpenAI.APIUserAbortError);
    await sim.waitForRequests(1, 2000);
    expect(sim.requests[0].aborted).toBe(true);
    expect(sim.requests[0].endedAt).toBeDefined();
  });

  it('stalls a stream after N content chunks with the connection open, until the client aborts', async () => {
    sim.enqueue({ type: 'stall', afterChunks: 2 });
    const controller = new AbortController();
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'x' }] }, { signal: controller.signal });
    const iter = stream[Symbol.asyncIterator]();
    const contents: Array<string | null | undefined> = [];
    for (let i = 0; i < 3; i++) contents.push((await iter.next()).value?.choices[0]?.delta?.content);
    // The opening chunk (role, empty content), then the first two words of the default text.
    expect(contents).toEqual(['', 'Hello', ' from']);
    const next = iter.next();
    const silent = await Promise.race([next.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 300))]);
    expect(silent).toBe(true);
    expect(sim.requests[0].endedAt).toBeUndefined();
    controller.abort();
    // The client ends an aborted stream quietly.
    await expect(next).resolves.toMatchObject({ done: true });
    await sim.waitForRequests(1, 2000);
    expect(sim.requests[0].aborted).toBe(true);
  });

  it('stalls a non-stream request before the headers, like hang', async () => {
    sim.enqueue({ type: 'stall', afterChunks: 3 });
    const controller = new AbortController();
    let answered = false;
    const pending = fetch(`${sim.url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [] }),
      signal: controller.signal,
    }).then((r) => {
      answered = true;
      return r;
    });
    pending.catch(() => {});
    await new Promise((r) => setTimeout(r, 200));
    expect(sim.requests).toHaveLength(1);
    expect(answered).toBe(false);
    controller.abort();
    await expect(pending).rejects.toThrow();
    await sim.waitForRequests(1, 2000);
    expect(sim.requests[0].aborted).toBe(true);
  });

  it('sends scenario headers with an error: a 429 with retry-after, which the client waits out before retrying', async () => {
    sim.enqueue({ type: 'error', status: 429, message: 'Rate limit reached', headers: { 'retry-after': '1' } });
    const e429 = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(e429).toBeInstanceOf(OpenAI.RateLimitError);
    const headers = (e429 as InstanceType<typeof OpenAI.RateLimitError>).headers;
    expect(headers.get('retry-after')).toBe('1');
    // The defaults stay: the OpenAI headers and the JSON content type.
    expect(headers.get('content-type')).toBe('application/json');
    expect(headers.get('x-request-id')).toMatch(/^req_/);

    sim.enqueue({ type: 'error', status: 429, headers: { 'retry-after': '1' } }, { type: 'text', text: 'after the wait' });
    const retrying = new OpenAI({ baseURL: sim.url, apiKey: KEY, maxRetries: 1 });
    const started = Date.now();
    const r = await retrying.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    expect(r.choices[0].message.content).toBe('after the wait');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(sim.requests.slice(1).map((q) => q.path)).toEqual(['/v1/chat/completions', '/v1/chat/completions']);
  });

  it('records a stream the client abandons midway as aborted', async () => {
    sim.enqueue({ type: 'text', text: Array.from({ length: 30 }, (_, i) => `w${i}`).join(' '), chunkDelayMs: 50 });
    const controller = new AbortController();
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'x' }] }, { signal: controller.signal });
    let seen = 0;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content) seen += 1;
      if (seen === 3) controller.abort();
    }
    await sim.waitForRequests(1, 2000);
    expect(sim.requests[0].aborted).toBe(true);
  });

  it('answers raw scenarios verbatim', async () => {
    sim.enqueue({ type: 'raw', status: 200, headers: { 'content-type': 'text/event-stream' }, body: 'data: not json\n\n' });
    const { res, text } = await rawEvents({ model: 'm', stream: true, messages: [] });
    expect(res.status).toBe(200);
    expect(text).toBe('data: not json\n\n');
  });

  it('waitForRequests times out with a clear message', async () => {
    await expect(sim.waitForRequests(1, 50)).rejects.toThrow(/waitForRequests\(1\)/);
  });
});
