import { describe, expect, it } from 'vitest';
import type { ChatRequest, StreamEvent } from '../../../src/core/canonical.ts';
import type { AdapterTarget } from '../../../src/core/codec.ts';
import { SseParser } from '../../../src/core/sse.ts';
import { azureAdapter, openAIAdapter } from '../../../src/providers/openai/openai-adapter.ts';

const target: AdapterTarget = { baseUrl: 'https://api.openai.com/v1', apiKey: 'sk-test', upstreamModel: 'gpt-4o-mini', headers: { 'x-org': 'o' } };
const base: ChatRequest = { model: 'alias', system: [], messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }], stream: false };

const build = (req: ChatRequest, t: AdapterTarget = target) => {
  const out = openAIAdapter.buildRequest(req, t);
  return { ...out, body: JSON.parse(out.body) as Record<string, unknown> };
};

describe('openAIAdapter.buildRequest', () => {
  it('builds URL, headers and a minimal body', () => {
    expect(build(base)).toEqual({
      url: 'https://api.openai.com/v1/chat/completions',
      headers: { 'content-type': 'application/json', 'x-org': 'o', authorization: 'Bearer sk-test' },
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] },
      warnings: [],
    });
  });

  it('converts an Anthropic-shaped conversation: system, images, tool results in user turns, reasoning dropped', () => {
    const req: ChatRequest = {
      ...base,
      system: [{ type: 'text', text: 'Be brief.', cacheControl: { type: 'ephemeral' } }, { type: 'text', text: 'Use tools.' }],
      messages: [
        {
          role: 'user',
          name: 'alice',
          content: [
            { type: 'text', text: 'Weather here?' },
            { type: 'image', source: { kind: 'base64', mediaType: 'image/jpeg', data: '/9j/4A==' }, detail: 'low' },
            { type: 'image', source: { kind: 'url', url: 'https://example.com/a.png' } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'reasoning', text: 'Call the tool.', signature: 'sig' },
            { type: 'text', text: 'Let me check.' },
            { type: 'tool_call', id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', toolCallId: 'toolu_1', content: [{ type: 'text', text: '18C' }], isError: false },
            { type: 'text', text: 'And tomorrow?' },
          ],
        },
      ],
    };
    expect(build(req).body).toEqual({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be brief.\n\nUse tools.' },
        {
          role: 'user',
          name: 'alice',
          content: [
            { type: 'text', text: 'Weather here?' },
            { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/4A==', detail: 'low' } },
            { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
          ],
        },
        {
          role: 'assistant',
          content: 'Let me check.',
          tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: '18C' },
        { role: 'user', content: 'And tomorrow?' },
      ],
    });
  });

  it('maps every parameter, asks for stream usage, and warns about what OpenAI lacks', () => {
    const req: ChatRequest = {
      ...base,
      stream: true,
      streamUsage: false,
      maxTokens: 256,
      temperature: 0.5,
      topP: 0.8,
      topK: 40,
      stop: ['\n\nHuman:'],
      presencePenalty: 0.1,
      frequencyPenalty: 0.2,
      seed: 7,
      n: 2,
      user: 'u',
      tools: [{ name: 'get_weather', description: 'd', parameters: { type: 'object' }, strict: true, cacheControl: { type: 'ephemeral' } }],
      toolChoice: { type: 'tool', name: 'get_weather' },
      parallelToolCalls: false,
      responseFormat: { type: 'json_schema', schema: { type: 'object' }, description: 'An answer' },
      reasoning: { budgetTokens: 8000, enabled: true },
    };
    const out = build(req);
    expect(out.body).toEqual({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
      stream_options: { include_usage: true },
      max_completion_tokens: 256,
      temperature: 0.5,
      top_p: 0.8,
      stop: ['\n\nHuman:'],
      presence_penalty: 0.1,
      frequency_penalty: 0.2,
      seed: 7,
      user: 'u',
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'd', parameters: { type: 'object' }, strict: true } }],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      parallel_tool_calls: false,
      response_format: { type: 'json_schema', json_schema: { name: 'response', schema: { type: 'object' }, description: 'An answer' } },
      reasoning_effort: 'medium',
    });
    expect(out.warnings).toEqual([
      { param: 'top_k', message: 'OpenAI has no top_k sampling parameter; it was not sent.' },
      { param: 'n', message: 'n=2 is not supported when converting between API formats; one choice was requested.' },
      {
        param: 'reasoning.budget_tokens',
        message: "OpenAI takes a reasoning effort, not a token budget: budget 8000 was sent as reasoning_effort 'medium'.",
      },
    ]);
  });

  it('sends max_tokens to other compatible servers unless the model is a reasoning model', () => {
    const local: AdapterTarget = { baseUrl: 'http://127.0.0.1:8000/v1', upstreamModel: 'llama-3', headers: {} };
    expect(build({ ...base, maxTokens: 10 }, local)).toMatchObject({ url: 'http://127.0.0.1:8000/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: { max_tokens: 10 } });
    expect(build({ ...base, maxTokens: 10 }, { ...local, upstreamModel: 'openai/o3-mini' }).body).toMatchObject({ max_completion_tokens: 10 });
    expect(build({ ...base, reasoning: { effort: 'high' } }, local).body).toMatchObject({ reasoning_effort: 'high' });
    expect(build({ ...base, reasoning: { enabled: false, budgetTokens: 1000 } }, local).body).not.toHaveProperty('reasoning_effort');
    // tool_choice and parallel_tool_calls without tools are rejected by OpenAI.
    expect(build({ ...base, toolChoice: { type: 'auto' }, parallelToolCalls: true }, local).body).toEqual({ model: 'llama-3', messages: [{ role: 'user', content: 'Hi' }] });
    expect(build({ ...base, tools: [{ name: 'f', parameters: {} }], toolChoice: { type: 'none' } }, local).body).toMatchObject({ tool_choice: 'none' });
    expect(build({ ...base, responseFormat: { type: 'json_object' } }, local).body).toMatchObject({ response_format: { type: 'json_object' } });
  });

  it('warns about images it cannot send in tool results and assistant turns', () => {
    const img = { type: 'image' as const, source: { kind: 'url' as const, url: 'https://example.com/x.png' } };
    const out = build({
      ...base,
      messages: [
        { role: 'assistant', content: [img] },
        { role: 'tool', content: [{ type: 'tool_result', toolCallId: 'c1', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }, img] }] },
      ],
    });
    expect(out.body.messages).toEqual([
      { role: 'assistant', content: '' },
      { role: 'tool', tool_call_id: 'c1', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] },
    ]);
    expect(out.warnings.map((w) => w.param)).toEqual(['messages[0].content', 'messages[1].content']);
  });
});

describe('azureAdapter.buildRequest', () => {
  it('puts the deployment in the path, api-version in the query and the key in api-key', () => {
    const out = azureAdapter.buildRequest(
      { ...base, maxTokens: 5 },
      { baseUrl: 'https://res.openai.azure.com/openai', apiKey: 'az-key', upstreamModel: 'gpt 4o', headers: {}, apiVersion: '2025-01-01-preview' },
    );
    expect(out.url).toBe('https://res.openai.azure.com/openai/deployments/gpt%204o/chat/completions?api-version=2025-01-01-preview');
    expect(out.headers).toEqual({ 'content-type': 'application/json', 'api-key': 'az-key' });
    expect(JSON.parse(out.body)).toEqual({ model: 'gpt 4o', messages: [{ role: 'user', content: 'Hi' }], max_completion_tokens: 5 });
    expect(azureAdapter.buildRequest(base, { baseUrl: 'https://res.openai.azure.com', upstreamModel: 'd', headers: {} }).url).toBe(
      'https://res.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21',
    );
  });
});

describe('openAIAdapter.parseResult', () => {
  it('parses text, reasoning, tool calls and usage', () => {
    const body = {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1700000000,
      model: 'gpt-4o-mini-2024-07-18',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Checking.',
            refusal: null,
            reasoning_content: 'Thinking...',
            tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
          },
          logprobs: null,
          finish_reason: 'tool_calls',
        },
      ],
      usage: {
        prompt_tokens: 30,
        completion_tokens: 12,
        total_tokens: 42,
        prompt_tokens_details: { cached_tokens: 10, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 4 },
      },
      system_fingerprint: 'fp_1',
    };
    expect(openAIAdapter.parseResult(body)).toEqual({
      id: 'chatcmpl-1',
      model: 'gpt-4o-mini-2024-07-18',
      created: 1700000000,
      content: [
        { type: 'reasoning', text: 'Thinking...' },
        { type: 'text', text: 'Checking.' },
        { type: 'tool_call', id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
      ],
      finishReason: 'tool_calls',
      rawFinishReason: 'tool_calls',
      usage: { inputTokens: 30, outputTokens: 12, cachedInputTokens: 10, reasoningTokens: 4 },
    });
  });

  it('maps finish reasons, reads `reasoning`, refusals and legacy function_call', () => {
    const one = (message: Record<string, unknown>, finish_reason: string | null) =>
      openAIAdapter.parseResult({ id: 'c', created: 1, model: 'm', choices: [{ index: 0, message, finish_reason }] });
    expect(one({ content: 'x' }, 'length')).toMatchObject({ finishReason: 'length', rawFinishReason: 'length' });
    expect(one({ content: null, refusal: 'No.' }, 'content_filter')).toMatchObject({ content: [{ type: 'text', text: 'No.' }], finishReason: 'content_filter' });
    expect(one({ content: 'x', reasoning: 'r' }, 'stop').content).toEqual([{ type: 'reasoning', text: 'r' }, { type: 'text', text: 'x' }]);
    expect(one({ content: null, function_call: { name: 'f', arguments: '{}' } }, 'function_call')).toMatchObject({
      content: [{ type: 'tool_call', id: 'call_c_fc', name: 'f', arguments: '{}' }],
      finishReason: 'tool_calls',
    });
    // Some compatible servers say 'stop' after tool calls.
    expect(one({ content: null, tool_calls: [{ function: { name: 'f', arguments: '{}' } }] }, 'stop')).toMatchObject({
      content: [{ type: 'tool_call', id: 'call_c_0', name: 'f', arguments: '{}' }],
      finishReason: 'tool_calls',
      rawFinishReason: 'stop',
    });
    expect(one({ content: 'x' }, null)).toEqual({ id: 'c', model: 'm', created: 1, content: [{ type: 'text', text: 'x' }], finishReason: 'other' });
  });

  it('throws a retryable upstream_error on a malformed body', () => {
    expect(() => openAIAdapter.parseResult({ object: 'chat.completion' })).toThrowError(/malformed chat completion/);
  });
});

describe('openAIAdapter.parseError', () => {
  it('reads OpenAI error bodies', () => {
    expect(openAIAdapter.parseError('{"error":{"message":"Bad key","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}')).toEqual({
      message: 'Bad key',
      type: 'invalid_request_error',
      code: 'invalid_api_key',
      param: null,
    });
  });
});

/** Feeds raw SSE text through the SseParser and the adapter's decoder, like the pipeline does. */
function decodeStream(text: string): StreamEvent[] {
  const decoder = openAIAdapter.createStreamDecoder();
  const parser = new SseParser();
  return [...parser.push(text).flatMap((e) => decoder.decode(e)), ...decoder.end()];
}

const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-9', object: 'chat.completion.chunk', created: 1700000001, model: 'gpt-4o', choices, ...extra })}\n\n`;
const delta = (d: unknown, finish_reason: string | null = null) => ({ index: 0, delta: d, logprobs: null, finish_reason });

describe('openAIAdapter stream decoder', () => {
  it('decodes text and holds finish for the usage chunk that follows it', () => {
    const text =
      chunk([delta({ role: 'assistant', content: '', refusal: null })], { usage: null }) +
      chunk([delta({ content: 'Hel' })], { usage: null }) +
      chunk([delta({ content: 'lo' })], { usage: null }) +
      chunk([delta({}, 'stop')], { usage: null }) +
      chunk([], { usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11, prompt_tokens_details: { cached_tokens: 0 } } }) +
      'data: [DONE]\n\n';
    expect(decodeStream(text)).toEqual([
      { type: 'start', id: 'chatcmpl-9', model: 'gpt-4o', created: 1700000001 },
      { type: 'text-start', index: 0 },
      { type: 'text-delta', index: 0, delta: 'Hel' },
      { type: 'text-delta', index: 0, delta: 'lo' },
      { type: 'text-end', index: 0 },
      { type: 'finish', finishReason: 'stop', rawFinishReason: 'stop', usage: { inputTokens: 9, outputTokens: 2 } },
    ]);
  });

  it('decodes reasoning, then parallel tool calls with streamed argument deltas', () => {
    const text =
      chunk([delta({ role: 'assistant', content: null, reasoning_content: 'Two ' })]) +
      chunk([delta({ reasoning_content: 'cities.' })]) +
      chunk([delta({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] })]) +
      chunk([delta({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] })]) +
      chunk([delta({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] })]) +
      chunk([delta({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } }] })]) +
      chunk([delta({}, 'tool_calls')]) +
      'data: [DONE]\n\n';
    expect(decodeStream(text)).toEqual([
      { type: 'start', id: 'chatcmpl-9', model: 'gpt-4o', created: 1700000001 },
      { type: 'reasoning-start', index: 0 },
      { type: 'reasoning-delta', index: 0, delta: 'Two ' },
      { type: 'reasoning-delta', index: 0, delta: 'cities.' },
      { type: 'reasoning-end', index: 0 },
      { type: 'tool-call-start', index: 1, id: 'call_a', name: 'get_weather' },
      { type: 'tool-call-delta', index: 1, argumentsDelta: '{"city":' },
      { type: 'tool-call-delta', index: 1, argumentsDelta: '"Paris"}' },
      { type: 'tool-call-end', index: 1 },
      { type: 'tool-call-start', index: 2, id: 'call_b', name: 'get_weather' },
      { type: 'tool-call-delta', index: 2, argumentsDelta: '{"city":"Rome"}' },
      { type: 'tool-call-end', index: 2 },
      // No usage chunk before [DONE]: finish comes without usage.
      { type: 'finish', finishReason: 'tool_calls', rawFinishReason: 'tool_calls' },
    ]);
  });

  it('waits for a tool name before starting the call, and emits finish at once when usage rides on the finish chunk', () => {
    const text =
      chunk([delta({ content: 'ok' })]) +
      chunk([delta({ tool_calls: [{ index: 0, id: 'call_x', function: { arguments: '{"a"' } }] })]) +
      chunk([delta({ tool_calls: [{ index: 0, function: { name: 'f', arguments: ':1}' } }] })]) +
      chunk([delta({}, 'stop')], { usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } });
    const decoder = openAIAdapter.createStreamDecoder();
    const events = new SseParser().push(text).flatMap((e) => decoder.decode(e));
    expect(events.slice(1)).toEqual([
      { type: 'text-start', index: 0 },
      { type: 'text-delta', index: 0, delta: 'ok' },
      { type: 'text-end', index: 0 },
      { type: 'tool-call-start', index: 1, id: 'call_x', name: 'f' },
      { type: 'tool-call-delta', index: 1, argumentsDelta: '{"a":1}' },
      { type: 'tool-call-end', index: 1 },
      { type: 'finish', finishReason: 'tool_calls', rawFinishReason: 'stop', usage: { inputTokens: 1, outputTokens: 2 } },
    ]);
    expect(decoder.end()).toEqual([]);
  });

  it('turns an error event into a canonical error, even as the first event', () => {
    const text = 'data: {"error":{"message":"Rate limit reached","type":"tokens","param":null,"code":"rate_limit_exceeded"}}\n\n';
    expect(decodeStream(text)).toEqual([{ type: 'error', message: 'Rate limit reached', errorType: 'tokens' }]);
  });

  it('reports a stream that ends without a finish_reason', () => {
    expect(decodeStream(chunk([delta({ content: 'cut' })]))).toEqual([
      { type: 'start', id: 'chatcmpl-9', model: 'gpt-4o', created: 1700000001 },
      { type: 'text-start', index: 0 },
      { type: 'text-delta', index: 0, delta: 'cut' },
      { type: 'text-end', index: 0 },
      { type: 'error', message: 'Upstream stream ended before a finish_reason.', status: 502, errorType: 'upstream_error' },
    ]);
  });
});
