/**
 * The Responses API through the gateway with the official `openai` client:
 * passed through to an upstream that serves it natively, and translated for a
 * chat-only OpenAI-compatible server and for Anthropic; stored responses,
 * previous_response_id, input items, and the errors around them.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startAnthropicSimulator, type AnthropicSimulator } from '../helpers/anthropic-simulator.ts';
import { startOpenAISimulator, type OpenAISimulator } from '../helpers/openai-simulator.ts';
import { apiError } from '../helpers/api-error.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

const UPSTREAM_KEY = 'sk-upstream-responses-0123456789abcdef';
const WEATHER_TOOL = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'Weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  strict: true,
};

let native: OpenAISimulator;
let chatOnly: OpenAISimulator;
let claude: AnthropicSimulator;
let gw: TestGateway;
let client: OpenAI;
let other: OpenAI;
let keyId: string;

beforeAll(async () => {
  native = await startOpenAISimulator({ apiKey: UPSTREAM_KEY });
  chatOnly = await startOpenAISimulator({ apiKey: UPSTREAM_KEY });
  claude = await startAnthropicSimulator({ apiKey: UPSTREAM_KEY });
  gw = await startTestGateway({
    upstreams: [
      { name: 'native', type: 'openai', base_url: native.url, api_key: UPSTREAM_KEY, models: ['gpt-5.5'], responses: 'native' },
      { name: 'chat-only', type: 'openai', base_url: chatOnly.url, api_key: UPSTREAM_KEY, models: ['llama-3.3-70b'] },
      { name: 'claude', type: 'anthropic', base_url: claude.url, api_key: UPSTREAM_KEY, models: ['claude-sonnet-4-6'] },
    ],
    models: { 'llama-3.3-70b': { input_price: 1, output_price: 2 } },
    retry: { attempts: 1 },
  });
  const a = await gw.createKey({ name: 'responses' });
  keyId = a.id;
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: a.key, maxRetries: 0 });
  other = new OpenAI({ baseURL: gw.baseURL, apiKey: (await gw.createKey({ name: 'other' })).key, maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  await native?.close();
  await chatOnly?.close();
  await claude?.close();
});

beforeEach(() => {
  native.requests.length = 0;
  chatOnly.requests.length = 0;
  claude.requests.length = 0;
});

describe('Responses API, upstream serving it natively (pass-through)', () => {
  it('create and stream().finalResponse() reach the upstream /responses and meter its usage', async () => {
    native.enqueue({ type: 'text', text: 'Native hello', promptTokens: 11, completionTokens: 2 });
    const res = await client.responses.create({ model: 'gpt-5.5', input: 'Say hello', store: false });
    expect(res.output_text).toBe('Native hello');
    expect(res.usage).toMatchObject({ input_tokens: 11, output_tokens: 2 });
    expect(native.requests.at(-1)?.path).toBe('/v1/responses');
    expect(native.requests.at(-1)?.body).toMatchObject({ model: 'gpt-5.5', input: 'Say hello' });

    native.enqueue({ type: 'text', text: 'Streamed native answer', promptTokens: 9, completionTokens: 3 });
    const final = await client.responses.stream({ model: 'gpt-5.5', input: 'Stream please', store: false }).finalResponse();
    expect(final.output_text).toBe('Streamed native answer');
    await gw.services.recorder.flush();
    const [rec] = await gw.services.recorder.repository.list({ keyId, limit: 1 });
    expect(rec).toMatchObject({ endpoint: 'responses', upstream: 'native', stream: 1, prompt_tokens: 9, completion_tokens: 3, estimated: 0 });
  });

  it('previous_response_id of a response the gateway stored is expanded into input items for the upstream', async () => {
    native.enqueue({ type: 'text', text: 'First answer' });
    const first = await client.responses.create({ model: 'gpt-5.5', input: 'First question' });
    native.enqueue({ type: 'text', text: 'Second answer' });
    const second = await client.responses.create({ model: 'gpt-5.5', input: 'Second question', previous_response_id: first.id });
    expect(second.output_text).toBe('Second answer');
    const sent = native.requests.at(-1)?.body;
    expect(sent.previous_response_id).toBeUndefined();
    const texts = JSON.stringify(sent.input);
    expect(texts).toContain('First question');
    expect(texts).toContain('First answer');
    expect(texts).toContain('Second question');
  });
});

describe('Responses API translated for a chat-only upstream', () => {
  it('create: the upstream gets a chat completion; the client a Response with usage', async () => {
    chatOnly.enqueue({ type: 'text', text: 'Hello from chat', promptTokens: 12, completionTokens: 3 });
    const res = await client.responses.create({ model: 'llama-3.3-70b', instructions: 'Be brief.', input: 'Hi there', max_output_tokens: 50 });
    expect(res.object).toBe('response');
    expect(res.status).toBe('completed');
    expect(res.output_text).toBe('Hello from chat');
    expect(res.usage).toMatchObject({ input_tokens: 12, output_tokens: 3, total_tokens: 15 });
    const sent = chatOnly.requests.at(-1);
    expect(sent?.path).toBe('/v1/chat/completions');
    expect(sent?.body.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi there' },
    ]);
    expect(sent?.body.max_tokens ?? sent?.body.max_completion_tokens).toBe(50);
  });

  it('stream().finalResponse() sees the documented event sequence', async () => {
    chatOnly.enqueue({ type: 'text', text: 'one two three', promptTokens: 4, completionTokens: 3 });
    const stream = client.responses.stream({ model: 'llama-3.3-70b', input: 'count' });
    const types: string[] = [];
    const seq: number[] = [];
    for await (const ev of stream) {
      types.push(ev.type);
      seq.push(ev.sequence_number);
    }
    const final = await stream.finalResponse();
    expect(final.output_text).toBe('one two three');
    expect(types.slice(0, 4)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    expect(types).toContain('response.output_text.delta');
    expect(types.slice(-4)).toEqual(['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
    expect(seq).toEqual(seq.map((_, i) => i));
    expect(final.usage).toMatchObject({ input_tokens: 4, output_tokens: 3 });
  });

  it('function tools: a call comes back as a function_call item; its output continues the conversation', async () => {
    chatOnly.enqueue({ type: 'tool_call', calls: [{ id: 'call_w1', name: 'get_weather', arguments: '{"city":"Paris"}' }] });
    const first = await client.responses.create({ model: 'llama-3.3-70b', input: 'Weather in Paris?', tools: [WEATHER_TOOL] });
    const call = first.output.find((o) => o.type === 'function_call');
    expect(call).toMatchObject({ type: 'function_call', call_id: 'call_w1', name: 'get_weather', arguments: '{"city":"Paris"}' });
    expect(chatOnly.requests.at(-1)?.body.tools).toEqual([
      { type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: WEATHER_TOOL.parameters, strict: true } },
    ]);

    chatOnly.enqueue({ type: 'text', text: 'It is sunny in Paris.' });
    const second = await client.responses.create({
      model: 'llama-3.3-70b',
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: 'call_w1', output: '{"sky":"sunny"}' }],
      tools: [WEATHER_TOOL],
    });
    expect(second.output_text).toBe('It is sunny in Paris.');
    const messages = chatOnly.requests.at(-1)?.body.messages;
    expect(messages).toEqual([
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_w1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_w1', content: '{"sky":"sunny"}' },
    ]);
  });

  it('streams function call arguments', async () => {
    chatOnly.enqueue({ type: 'tool_call', calls: [{ id: 'call_s1', name: 'get_weather', arguments: '{"city":"Oslo"}' }] });
    const stream = client.responses.stream({ model: 'llama-3.3-70b', input: 'Weather in Oslo?', tools: [WEATHER_TOOL] });
    const types: string[] = [];
    for await (const ev of stream) types.push(ev.type);
    const final = await stream.finalResponse();
    expect(types).toContain('response.function_call_arguments.delta');
    expect(types).toContain('response.function_call_arguments.done');
    expect(final.output.find((o) => o.type === 'function_call')).toMatchObject({ name: 'get_weather', arguments: '{"city":"Oslo"}', call_id: 'call_s1' });
  });

  it('hosted tools the upstream cannot run are dropped with a warning, not a failure', async () => {
    chatOnly.enqueue({ type: 'text', text: 'No search needed.' });
    const { data, response } = await client.responses.create({ model: 'llama-3.3-70b', input: 'Hi', tools: [{ type: 'web_search' }, WEATHER_TOOL] }).withResponse();
    expect(data.output_text).toBe('No search needed.');
    expect(response.headers.get('x-switchyard-warnings')).toMatch(/tools\[0\]/);
    expect(chatOnly.requests.at(-1)?.body.tools.map((t: { function: { name: string } }) => t.function.name)).toEqual(['get_weather']);
  });

  it('text.format json_schema becomes response_format', async () => {
    chatOnly.enqueue({ type: 'text', text: '{"ok":true}' });
    const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false };
    await client.responses.create({ model: 'llama-3.3-70b', input: 'json', text: { format: { type: 'json_schema', name: 'result', schema, strict: true } } });
    expect(chatOnly.requests.at(-1)?.body.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'result', schema, strict: true } });
  });
});

describe('Responses API translated for an Anthropic upstream', () => {
  it('create and stream', async () => {
    claude.enqueue({ type: 'text', text: 'Claude says hi', inputTokens: 8, outputTokens: 4 });
    const res = await client.responses.create({ model: 'claude-sonnet-4-6', instructions: 'Be kind.', input: 'Hello', max_output_tokens: 100 });
    expect(res.output_text).toBe('Claude says hi');
    expect(res.usage).toMatchObject({ input_tokens: 8, output_tokens: 4 });
    const sent = claude.requests.at(-1);
    expect(sent?.path).toBe('/v1/messages');
    expect(sent?.body).toMatchObject({ model: 'claude-sonnet-4-6', max_tokens: 100, system: [{ type: 'text', text: 'Be kind.' }] });

    claude.enqueue({ type: 'text', text: 'Streaming from Claude' });
    const final = await client.responses.stream({ model: 'claude-sonnet-4-6', input: 'Stream' }).finalResponse();
    expect(final.output_text).toBe('Streaming from Claude');
  });

  it('tool use becomes a function_call item', async () => {
    claude.enqueue({ type: 'tool_use', calls: [{ id: 'toolu_01', name: 'get_weather', input: { city: 'Rome' } }] });
    const res = await client.responses.create({ model: 'claude-sonnet-4-6', input: 'Weather in Rome?', tools: [WEATHER_TOOL] });
    expect(res.output.find((o) => o.type === 'function_call')).toMatchObject({ call_id: 'toolu_01', name: 'get_weather', arguments: '{"city":"Rome"}' });
  });
});

describe('stored responses', () => {
  it('retrieve, input_items, delete; another key sees 404', async () => {
    chatOnly.enqueue({ type: 'text', text: 'Stored answer' });
    const res = await client.responses.create({ model: 'llama-3.3-70b', input: [{ role: 'user', content: 'Keep this' }] });
    const got = await client.responses.retrieve(res.id);
    expect(got.id).toBe(res.id);
    expect(got.output_text).toBe('Stored answer');
    const items = await client.responses.inputItems.list(res.id);
    expect(items.data).toHaveLength(1);
    expect(items.data[0]).toMatchObject({ type: 'message', role: 'user' });

    const theirs = await apiError(other.responses.retrieve(res.id));
    expect(theirs.status).toBe(404);
    const theirPrev = await apiError(other.responses.create({ model: 'llama-3.3-70b', input: 'x', previous_response_id: res.id }));
    expect(theirPrev.status).toBe(404);
    expect(theirPrev.param).toBe('previous_response_id');

    // OpenAI answers the deletion with {id, object, deleted}; the client's method is typed void but passes it on.
    const deleted = (await client.responses.delete(res.id)) as unknown;
    expect(deleted).toEqual({ id: res.id, object: 'response', deleted: true });
    expect((await apiError(client.responses.retrieve(res.id))).status).toBe(404);
  });

  it('store: false keeps nothing', async () => {
    chatOnly.enqueue({ type: 'text', text: 'Ephemeral' });
    const res = await client.responses.create({ model: 'llama-3.3-70b', input: 'x', store: false });
    expect((await apiError(client.responses.retrieve(res.id))).status).toBe(404);
  });

  it('bad input and unknown models are refused in OpenAI shape before any upstream call', async () => {
    expect((await apiError(client.responses.create({ model: 'no-such-model', input: 'x' }))).status).toBe(404);
    const missing = await apiError(client.responses.create({ input: 'x' } as never));
    expect(missing.status).toBe(400);
    expect(missing.param).toBe('model');
    expect(chatOnly.requests).toHaveLength(0);
  });
});
