/**
 * LangChain's OpenAI chat model (`@langchain/openai` ChatOpenAI) through the gateway against a
 * chat-only OpenAI-compatible upstream (`responses: chat`):
 *
 * - with `useResponsesApi: true` LangChain calls POST /v1/responses, which the gateway translates to
 *   /v1/chat/completions and back: invoke (text, usage_metadata), stream (chunks concatenated),
 *   and bindTools (the upstream's tool_calls parsed into `tool_calls`, then the tool result sent back);
 * - with `useResponsesApi: false`, plain chat completions, for contrast.
 *
 * A recording proxy in front of the gateway (test/helpers/agent-cli-harness.ts) keeps what LangChain
 * sent, so the tests state both sides: LangChain's requests and the simulator's.
 */
import { AIMessage, HumanMessage, ToolMessage } from '@langchain/core/messages';
import { ChatOpenAI } from '@langchain/openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startRecordingProxy, type RecordingProxy } from '../helpers/agent-cli-harness.ts';
import { startOpenAISimulator, type OpenAISimulator, type RecordedRequest } from '../helpers/openai-simulator.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

const UPSTREAM_KEY = 'sk-upstream-langchain-0123456789';
const MODEL = 'llama-3.3-70b';
const WEATHER_TOOL = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string', description: 'City name' } }, required: ['city'], additionalProperties: false },
  },
};

let sim: OpenAISimulator;
let gw: TestGateway;
let proxy: RecordingProxy;
let apiKey: string;

function chatModel(useResponsesApi: boolean, extra: Partial<ConstructorParameters<typeof ChatOpenAI>[0]> = {}): ChatOpenAI {
  return new ChatOpenAI({ model: MODEL, apiKey, configuration: { baseURL: `${proxy.url}/v1` }, useResponsesApi, maxRetries: 0, ...extra });
}

const posts = (): RecordedRequest[] => sim.requests.filter((r) => r.method === 'POST');

beforeAll(async () => {
  // LangSmith tracing would send runs off the machine; it is on only when these say so.
  for (const k of ['LANGSMITH_TRACING', 'LANGCHAIN_TRACING_V2', 'LANGCHAIN_TRACING', 'LANGSMITH_API_KEY', 'LANGCHAIN_API_KEY']) delete process.env[k];
  sim = await startOpenAISimulator({ apiKey: UPSTREAM_KEY, models: [MODEL] });
  gw = await startTestGateway({
    upstreams: [{ name: 'chat-only', type: 'openai', base_url: sim.url, api_key: UPSTREAM_KEY, models: [MODEL], responses: 'chat' }],
    retry: { attempts: 1 },
  });
  apiKey = (await gw.createKey({ name: 'langchain' })).key;
  proxy = await startRecordingProxy(gw.url);
});

afterAll(async () => {
  await proxy?.close();
  await gw?.close();
  await sim?.close();
});

beforeEach(() => {
  sim.requests.length = 0;
  proxy.calls.length = 0;
});

describe('ChatOpenAI with useResponsesApi: true, chat-only upstream', () => {
  it('invoke: text and usage_metadata; the gateway calls the upstream /v1/chat/completions', async () => {
    sim.enqueue({ type: 'text', text: 'Hello from the chat upstream.', promptTokens: 12, completionTokens: 5 });
    const msg = await chatModel(true).invoke([new HumanMessage('Say hello')]);
    expect(msg.text).toBe('Hello from the chat upstream.');
    expect(msg.usage_metadata).toMatchObject({ input_tokens: 12, output_tokens: 5, total_tokens: 17 });
    // The gateway's Response object behind the message: its id, model and status.
    expect(msg.id).toMatch(/^resp_/);
    expect(msg.response_metadata).toMatchObject({ id: msg.id, object: 'response', status: 'completed', model: MODEL });

    expect(proxy.calls.map((c) => `${c.method} ${c.path} ${c.status}`)).toEqual(['POST /v1/responses 200']);
    expect(proxy.calls[0].headers['user-agent']).toMatch(/^langchainjs-openai\//);
    // What LangChain sends: the message as an input item, an empty `text` config, no store/instructions.
    expect(proxy.calls[0].body).toEqual({ model: MODEL, stream: false, text: {}, input: [{ type: 'message', role: 'user', content: 'Say hello' }] });

    const up = posts();
    expect(up.map((r) => r.path)).toEqual(['/v1/chat/completions']);
    expect(up[0].headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    expect(up[0].body.model).toBe(MODEL);
    expect(up[0].body.stream ?? false).toBe(false);
    expect(up[0].body.messages).toEqual([{ role: 'user', content: 'Say hello' }]);
  });

  it('stream: the chunks concatenate to the upstream text, usage in the last chunks', async () => {
    sim.enqueue({ type: 'text', text: 'One two three four five.', promptTokens: 8, completionTokens: 5 });
    const chunks = [];
    for await (const chunk of await chatModel(true).stream('Count to five')) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks.map((c) => c.text).join('')).toBe('One two three four five.');
    const whole = chunks.reduce((a, b) => a.concat(b));
    expect(whole.text).toBe('One two three four five.');
    expect(whole.usage_metadata).toMatchObject({ input_tokens: 8, output_tokens: 5, total_tokens: 13 });

    expect(proxy.calls.map((c) => `${c.method} ${c.path} ${c.status}`)).toEqual(['POST /v1/responses 200']);
    expect(proxy.calls[0].body).toEqual({ model: MODEL, stream: true, text: {}, input: [{ type: 'message', role: 'user', content: 'Count to five' }] });
    const up = posts();
    expect(up.map((r) => r.path)).toEqual(['/v1/chat/completions']);
    expect(up[0].body.stream).toBe(true);
    expect(up[0].body.stream_options).toEqual({ include_usage: true });
    expect(up[0].body.messages).toEqual([{ role: 'user', content: 'Count to five' }]);
  });

  it('bindTools: the upstream tool call comes back as tool_calls; the tool result goes back as a tool message', async () => {
    const model = chatModel(true).bindTools([WEATHER_TOOL]);
    sim.enqueue({ type: 'tool_call', calls: [{ id: 'call_weather_1', name: 'get_weather', arguments: JSON.stringify({ city: 'Paris' }) }] });
    const question = new HumanMessage('What is the weather in Paris?');
    const first = await model.invoke([question]);
    expect(first.tool_calls).toEqual([{ id: 'call_weather_1', name: 'get_weather', args: { city: 'Paris' }, type: 'tool_call' }]);
    // LangChain keeps the Response's function_call item id (made up by the gateway) to send the call back with.
    const itemIds = first.additional_kwargs.__openai_function_call_ids__ as Record<string, string>;
    expect(itemIds.call_weather_1).toMatch(/^fc_/);

    // The offered tool as LangChain sent it (a Responses function tool, `strict: null`) and as the upstream got it (a chat function tool).
    const { name, description, parameters } = WEATHER_TOOL.function;
    expect(proxy.calls[0].body.tools).toEqual([{ type: 'function', name, description, parameters, strict: null }]);
    const up1 = posts()[0];
    expect(up1.path).toBe('/v1/chat/completions');
    expect(up1.body.tools).toEqual([{ type: 'function', function: { name, description, parameters } }]);
    expect(up1.body.messages).toEqual([{ role: 'user', content: 'What is the weather in Paris?' }]);

    // Second turn: the call and its result go back (function_call + function_call_output), the upstream answers.
    sim.enqueue({ type: 'text', text: 'It is sunny in Paris, 21 °C.' });
    const result = new ToolMessage({ tool_call_id: 'call_weather_1', content: JSON.stringify({ city: 'Paris', sky: 'sunny', celsius: 21 }) });
    const second = await model.invoke([question, first as AIMessage, result]);
    expect(second.text).toBe('It is sunny in Paris, 21 °C.');
    expect(second.tool_calls ?? []).toEqual([]);

    expect(proxy.calls[1].body.input).toEqual([
      { type: 'message', role: 'user', content: 'What is the weather in Paris?' },
      { type: 'function_call', id: itemIds.call_weather_1, status: 'completed', call_id: 'call_weather_1', name: 'get_weather', arguments: JSON.stringify({ city: 'Paris' }) },
      { type: 'function_call_output', call_id: 'call_weather_1', output: result.content },
    ]);

    const up2 = posts()[1];
    expect(up2.path).toBe('/v1/chat/completions');
    const messages = up2.body.messages as Array<{ role: string; content: unknown; tool_calls?: unknown; tool_call_id?: string }>;
    expect(messages.map((m) => m.role)).toEqual(['user', 'assistant', 'tool']);
    expect(messages[1].tool_calls).toEqual([{ id: 'call_weather_1', type: 'function', function: { name: 'get_weather', arguments: JSON.stringify({ city: 'Paris' }) } }]);
    expect(messages[2]).toEqual({ role: 'tool', tool_call_id: 'call_weather_1', content: result.content });
  });
});

describe('ChatOpenAI with useResponsesApi: false (plain chat completions), for contrast', () => {
  it('invoke and stream go to /v1/chat/completions on both sides', async () => {
    sim.enqueue({ type: 'text', text: 'Plain chat answer.', promptTokens: 7, completionTokens: 3 });
    const msg = await chatModel(false).invoke('Say something');
    expect(msg.text).toBe('Plain chat answer.');
    expect(msg.usage_metadata).toMatchObject({ input_tokens: 7, output_tokens: 3, total_tokens: 10 });

    sim.enqueue({ type: 'text', text: 'Streamed plain chat.', promptTokens: 6, completionTokens: 3 });
    let text = '';
    for await (const chunk of await chatModel(false, { streamUsage: true }).stream('Stream something')) text += chunk.text;
    expect(text).toBe('Streamed plain chat.');

    expect(proxy.calls.map((c) => `${c.method} ${c.path} ${c.status}`)).toEqual(['POST /v1/chat/completions 200', 'POST /v1/chat/completions 200']);
    expect(posts().map((r) => r.path)).toEqual(['/v1/chat/completions', '/v1/chat/completions']);
    expect(posts()[1].body.stream).toBe(true);
  });
});
