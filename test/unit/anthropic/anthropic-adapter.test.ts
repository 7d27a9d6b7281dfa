import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ChatRequest } from '../../../src/core/canonical.ts';
import type { AdapterTarget } from '../../../src/core/codec.ts';
import { anthropicAdapter } from '../../../src/providers/anthropic/anthropic-adapter.ts';
import { parseAnthropicMessage } from '../../../src/providers/anthropic/parse-anthropic-message.ts';

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`../../fixtures/anthropic/${name}`, import.meta.url), 'utf8'));
const fixtureText = (name: string): string => readFileSync(new URL(`../../fixtures/anthropic/${name}`, import.meta.url), 'utf8');

const target: AdapterTarget = { baseUrl: 'https://api.anthropic.com', apiKey: 'sk-ant-test', upstreamModel: 'claude-sonnet-4-5', headers: {} };

function build(req: Partial<ChatRequest>, t: Partial<AdapterTarget> = {}) {
  const built = anthropicAdapter.buildRequest({ model: 'alias', system: [], messages: [], stream: false, ...req }, { ...target, ...t });
  return { ...built, json: JSON.parse(built.body) as Record<string, unknown> };
}

describe('anthropicAdapter.buildRequest', () => {
  it('posts to /v1/messages with Anthropic auth and version headers, whether base_url has /v1 or not', () => {
    for (const baseUrl of ['https://api.anthropic.com', 'https://api.anthropic.com/', 'https://api.anthropic.com/v1', 'https://api.anthropic.com/v1/']) {
      expect(build({}, { baseUrl }).url).toBe('https://api.anthropic.com/v1/messages');
    }
    const { headers } = build(
      { passHeaders: { 'anthropic-beta': 'prompt-caching-2024-07-31', 'anthropic-version': '2026-10-21', 'x-api-key': 'client-key', Authorization: 'Bearer x' } },
      { headers: { 'anthropic-beta': 'output-128k-2025-02-19', 'x-team': 'blue' } },
    );
    expect(headers).toEqual({
      'content-type': 'application/json',
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'prompt-caching-2024-07-31,output-128k-2025-02-19',
      'x-team': 'blue',
      'x-api-key': 'sk-ant-test',
    });
  });

  it('converts a full conversation: system, merged turns, images, tool calls and results, reasoning, cache_control', () => {
    const { json, warnings } = build({
      system: [{ type: 'text', text: 'You are terse.', cacheControl: { type: 'ephemeral' } }, { type: 'text', text: 'Answer in English.' }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Look at these.' }] },
        {
          role: 'user',
          content: [
            { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'image', source: { kind: 'url', url: 'https://example.com/cat.jpg' } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'reasoning', text: 'The user wants the weather.', signature: 'sig-1' },
            { type: 'reasoning', text: '', redactedData: 'EmwKAhgB' },
            { type: 'text', text: 'Checking.' },
            { type: 'tool_call', id: 'toolu_01A', name: 'get_weather', arguments: '{"location":"Paris"}' },
            { type: 'tool_call', id: 'call_abc', name: 'get_time', arguments: '' },
          ],
        },
        {
          role: 'tool',
          content: [
            { type: 'tool_result', toolCallId: 'toolu_01A', content: [{ type: 'text', text: '15 degrees' }] },
            { type: 'tool_result', toolCallId: 'call_abc', content: [{ type: 'text', text: 'timeout' }], isError: true },
          ],
        },
        { role: 'user', content: [{ type: 'text', text: 'Thanks', cacheControl: { type: 'ephemeral' } }] },
      ],
    });
    expect(warnings).toEqual([]);
    expect(json).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 4096,
      system: [
        { type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } },
        { type: 'text', text: 'Answer in English.' },
      ],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Look at these.' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'The user wants the weather.', signature: 'sig-1' },
            { type: 'redacted_thinking', data: 'EmwKAhgB' },
            { type: 'text', text: 'Checking.' },
            { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { location: 'Paris' } },
            { type: 'tool_use', id: 'call_abc', name: 'get_time', input: {} },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_01A', content: [{ type: 'text', text: '15 degrees' }] },
            { type: 'tool_result', tool_use_id: 'call_abc', content: [{ type: 'text', text: 'timeout' }], is_error: true },
            { type: 'text', text: 'Thanks', cache_control: { type: 'ephemeral' } },
          ],
        },
      ],
    });
  });

  it('puts tool results before other user content, and leaves out what Anthropic would reject, with warnings', () => {
    const { json, warnings } = build({
      messages: [
        { role: 'assistant', content: [{ type: 'tool_call', id: 't1', name: 'f', arguments: '[1,2]' }] },
        { role: 'user', content: [{ type: 'text', text: 'see below' }] },
        { role: 'tool', content: [{ type: 'tool_result', toolCallId: 't1', content: [] }] },
        { role: 'assistant', content: [{ type: 'reasoning', text: 'unsigned thoughts' }], name: 'bot' },
        { role: 'user', content: [{ type: 'text', text: '' }] },
      ],
    });
    expect(json.messages).toEqual([
      { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'f', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1' }, { type: 'text', text: 'see below' }] },
    ]);
    expect(warnings).toEqual([
      { param: 'messages[0].content[0].arguments', message: 'Tool call arguments are not a JSON object; sent as an empty input.' },
      { param: 'messages[].name', message: 'Anthropic has no participant names; the name was not sent.' },
      {
        param: 'messages[].content[].reasoning',
        message: 'Anthropic accepts earlier reasoning only with its signature; reasoning without one was left out of the history.',
      },
    ]);
  });

  it('maps tools, tool choice and sampling parameters', () => {
    const tools = [
      { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { location: { type: 'string' } } }, cacheControl: { type: 'ephemeral' } },
      { name: 'noop', parameters: { type: 'object' } },
    ];
    const base = { tools, stop: ['END'], temperature: 0.2, topP: 0.9, topK: 40, maxTokens: 300, user: 'user-42', stream: true };
    const { json, warnings } = build({ ...base, toolChoice: { type: 'tool', name: 'get_weather' }, parallelToolCalls: false });
    expect(warnings).toEqual([]);
    expect(json).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 300,
      messages: [],
      stop_sequences: ['END'],
      temperature: 0.2,
      top_p: 0.9,
      top_k: 40,
      metadata: { user_id: 'user-42' },
      tools: [
        { name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { location: { type: 'string' } } }, cache_control: { type: 'ephemeral' } },
        { name: 'noop', input_schema: { type: 'object' } },
      ],
      tool_choice: { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true },
      stream: true,
    });
    expect(build({ tools, toolChoice: { type: 'auto' } }).json.tool_choice).toEqual({ type: 'auto' });
    expect(build({ tools, toolChoice: { type: 'required' } }).json.tool_choice).toEqual({ type: 'any' });
    expect(build({ tools, toolChoice: { type: 'none' }, parallelToolCalls: false }).json.tool_choice).toEqual({ type: 'none' });
    expect(build({ tools, parallelToolCalls: false }).json.tool_choice).toEqual({ type: 'auto', disable_parallel_tool_use: true });
    expect(build({ tools }).json.tool_choice).toBeUndefined();
    const noTools = build({ toolChoice: { type: 'required' } });
    expect(noTools.json.tool_choice).toBeUndefined();
    expect(noTools.warnings).toEqual([{ param: 'tool_choice', message: 'A tool choice was given without tools; it was not sent.' }]);
  });

  it('lists every parameter Anthropic cannot honour as a warning', () => {
    const { json, warnings } = build({
      presencePenalty: 0.5,
      frequencyPenalty: 0,
      seed: 7,
      n: 2,
      temperature: 1.5,
      tools: [{ name: 'f', parameters: { type: 'object' }, strict: true }],
    });
    expect(json.temperature).toBe(1);
    expect(json).not.toHaveProperty('seed');
    expect(warnings.map((w) => w.param)).toEqual(['tools[0].strict', 'temperature', 'presence_penalty', 'seed', 'n']);
  });

  it('asks for JSON in the system prompt when a response format is set, with a warning', () => {
    const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] };
    const withSchema = build({ system: [{ type: 'text', text: 'Be brief.' }], responseFormat: { type: 'json_schema', name: 'reply', schema } });
    expect(withSchema.json.system).toEqual([
      { type: 'text', text: 'Be brief.' },
      {
        type: 'text',
        text: `Respond only with a single valid JSON value that conforms to the following JSON Schema, with no text before or after it. Schema name: reply.\n${JSON.stringify(schema)}`,
      },
    ]);
    expect(withSchema.warnings).toEqual([
      { param: 'response_format', message: 'Anthropic has no JSON schema mode; the model was given the schema in the system prompt, but it is not enforced.' },
    ]);
    const jsonObject = build({ responseFormat: { type: 'json_object' } });
    expect(jsonObject.json.system).toEqual([{ type: 'text', text: 'Respond only with a single valid JSON object, with no text before or after it.' }]);
    expect(jsonObject.warnings.map((w) => w.param)).toEqual(['response_format']);
    expect(build({ responseFormat: { type: 'text' } }).json.system).toBeUndefined();
  });

  it('turns a reasoning effort or budget into extended thinking, keeping max_tokens above the budget', () => {
    expect(build({ reasoning: { effort: 'low' } }).json).toMatchObject({ max_tokens: 1024 + 4096, thinking: { type: 'enabled', budget_tokens: 1024 } });
    expect(build({ reasoning: { effort: 'medium' } }).json).toMatchObject({ max_tokens: 4096 + 4096, thinking: { type: 'enabled', budget_tokens: 4096 } });
    expect(build({ reasoning: { effort: 'high' }, maxTokens: 32000 }).json).toMatchObject({ max_tokens: 32000, thinking: { type: 'enabled', budget_tokens: 16384 } });
    expect(build({ reasoning: { budgetTokens: 2000, effort: 'high' }, maxTokens: 8000 }).json.thinking).toEqual({ type: 'enabled', budget_tokens: 2000 });
    expect(build({ reasoning: { effort: 'minimal' } }).json.thinking).toBeUndefined();
    expect(build({ reasoning: { enabled: false, effort: 'high' } }).json.thinking).toBeUndefined();
    expect(build({ reasoning: { budgetTokens: 0 } }).json.thinking).toBeUndefined();

    const small = build({ reasoning: { budgetTokens: 500 }, maxTokens: 3000 });
    expect(small.json.thinking).toEqual({ type: 'enabled', budget_tokens: 1024 });
    expect(small.warnings.map((w) => w.param)).toEqual(['reasoning.budgetTokens']);

    const tight = build({ reasoning: { effort: 'high' }, maxTokens: 4000 });
    expect(tight.json).toMatchObject({ max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 2000 } });
    expect(tight.warnings).toEqual([{ param: 'reasoning.budgetTokens', message: 'The thinking budget must be below max_tokens (4000); 16384 was lowered to 2000.' }]);

    const tiny = build({ reasoning: { effort: 'low' }, maxTokens: 1000 });
    expect(tiny.json).toEqual({ model: 'claude-sonnet-4-5', max_tokens: 1000, messages: [] });
    expect(tiny.warnings.map((w) => w.param)).toEqual(['reasoning']);
  });

  it('drops sampling settings extended thinking does not allow, and thinking under a forced tool', () => {
    const sampled = build({ reasoning: { effort: 'low' }, temperature: 0.3, topK: 5, topP: 0.5 });
    expect(sampled.json).not.toHaveProperty('temperature');
    expect(sampled.json).not.toHaveProperty('top_k');
    expect(sampled.json).not.toHaveProperty('top_p');
    expect(sampled.warnings.map((w) => w.param)).toEqual(['temperature', 'top_k', 'top_p']);
    expect(build({ reasoning: { effort: 'low' }, temperature: 1, topP: 0.97 }).json).toMatchObject({ temperature: 1, top_p: 0.97 });

    const forced = build({ reasoning: { effort: 'low' }, tools: [{ name: 'f', parameters: { type: 'object' } }], toolChoice: { type: 'required' } });
    expect(forced.json.thinking).toBeUndefined();
    expect(forced.json.max_tokens).toBe(4096);
    expect(forced.warnings.map((w) => w.param)).toEqual(['reasoning']);
  });
});

describe('anthropicAdapter.parseResult', () => {
  const now = () => 1_700_000_000_000;

  it('reads the documented text message', () => {
    expect(parseAnthropicMessage(fixture('message-text.json'), now)).toEqual({
      id: 'msg_013Zva2CMHLNnXjNJJKqJ2EF',
      model: 'claude-sonnet-4-5-20250929',
      created: 1_700_000_000,
      content: [{ type: 'text', text: 'Hi! My name is Claude.' }],
      finishReason: 'stop',
      rawFinishReason: 'end_turn',
      usage: { inputTokens: 2095, outputTokens: 503 },
    });
  });

  it('reads tool_use blocks as tool calls with JSON arguments, without usage when none is given', () => {
    expect(parseAnthropicMessage(fixture('message-tool-use.json'), now)).toEqual({
      id: 'msg_01Aq9w938a90dw8q',
      model: 'claude-sonnet-4-5',
      created: 1_700_000_000,
      content: [
        { type: 'text', text: "I'll check the current weather in San Francisco for you." },
        { type: 'tool_call', id: 'toolu_01A09q90qw90lq917835lq9', name: 'get_weather', arguments: '{"location":"San Francisco, CA","unit":"celsius"}' },
      ],
      finishReason: 'tool_calls',
      rawFinishReason: 'tool_use',
    });
  });

  it('reads thinking and redacted thinking, and counts cache reads and writes into the input', () => {
    const result = parseAnthropicMessage(fixture('message-thinking.json'), now);
    expect(result.content).toEqual([
      {
        type: 'reasoning',
        text: 'Let me analyze this step by step...',
        signature: 'WaUjzkypQ2mUEVM36O2TxuC06KN8xyfbJwyem2dw3URve/op91XWHOEBLLqIOMfFG/UvLEczmEsUjavL....',
      },
      {
        type: 'reasoning',
        text: '',
        redactedData:
          'EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB9URj2pLmN3kF8/dW5hR7xJ0aP1oLs9yTcMnKVf2wRpEGjH9XZaBt4UvDcPrQ...',
      },
      { type: 'text', text: 'Based on my analysis...' },
    ]);
    expect(result.usage).toEqual({ inputTokens: 50 + 3000 + 1200, cachedInputTokens: 3000, cacheWriteTokens: 1200, outputTokens: 420 });
  });

  it('maps every stop reason, keeping the raw one', () => {
    const cases: Array<[string, string]> = [
      ['end_turn', 'stop'],
      ['stop_sequence', 'stop'],
      ['max_tokens', 'length'],
      ['model_context_window_exceeded', 'length'],
      ['tool_use', 'tool_calls'],
      ['refusal', 'content_filter'],
      ['pause_turn', 'other'],
    ];
    for (const [raw, reason] of cases) {
      const r = parseAnthropicMessage({ id: 'msg_1', content: [], stop_reason: raw }, now);
      expect([r.finishReason, r.rawFinishReason]).toEqual([reason, raw]);
    }
  });

  it('skips server-tool blocks and rejects what is not a message', () => {
    const r = parseAnthropicMessage(
      {
        id: 'msg_1',
        content: [
          { type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: { query: 'x' } },
          { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_1', content: [] },
          { type: 'text', text: 'Found it.', citations: [{ type: 'web_search_result_location' }] },
        ],
        stop_reason: 'end_turn',
      },
      now,
    );
    expect(r.content).toEqual([{ type: 'text', text: 'Found it.' }]);
    expect(() => anthropicAdapter.parseResult({ content: 'nope' })).toThrow(/not an Anthropic message/);
  });
});

describe('anthropicAdapter.parseError', () => {
  it('reads Anthropic error bodies and falls back to the text', () => {
    expect(anthropicAdapter.parseError(fixtureText('error-not-found.json'))).toEqual({
      message: 'The requested resource could not be found.',
      type: 'not_found_error',
      code: null,
      param: null,
    });
    expect(anthropicAdapter.parseError(fixtureText('error-overloaded.json'))).toEqual({ message: 'Overloaded', type: 'overloaded_error', code: null, param: null });
    expect(anthropicAdapter.parseError('<html>Bad Gateway</html>')).toEqual({ message: '<html>Bad Gateway</html>' });
    expect(anthropicAdapter.parseError('')).toEqual({ message: 'Upstream error with an empty body.' });
  });
});
