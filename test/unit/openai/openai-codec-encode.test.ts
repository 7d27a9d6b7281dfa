import { describe, expect, it } from 'vitest';
import type { ChatResult, StreamEvent } from '../../../src/core/canonical.ts';
import { GatewayError } from '../../../src/core/errors.ts';
import { openAICodec } from '../../../src/protocols/openai/openai-codec.ts';

const ctx = { model: 'my-alias', requestId: 'req_1' };

describe('openAICodec.encodeResult', () => {
  it('encodes text, reasoning and usage as a chat.completion', () => {
    const result: ChatResult = {
      id: 'msg_01ABC',
      model: 'claude-sonnet-4',
      created: 1700000000,
      content: [
        { type: 'reasoning', text: 'Think', signature: 'sig' },
        { type: 'text', text: 'Hello ' },
        { type: 'text', text: 'there' },
      ],
      finishReason: 'stop',
      rawFinishReason: 'end_turn',
      usage: { inputTokens: 20, cachedInputTokens: 5, cacheWriteTokens: 3, outputTokens: 8, reasoningTokens: 2 },
    };
    expect(openAICodec.encodeResult(result, ctx)).toEqual({
      id: 'chatcmpl-msg_01ABC',
      object: 'chat.completion',
      created: 1700000000,
      model: 'my-alias',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello there', refusal: null, reasoning_content: 'Think' },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: {
        prompt_tokens: 20,
        completion_tokens: 8,
        total_tokens: 28,
        prompt_tokens_details: { cached_tokens: 5 },
        completion_tokens_details: { reasoning_tokens: 2 },
      },
    });
  });

  it('encodes tool calls with null content, and maps finish reasons', () => {
    const result: ChatResult = {
      id: 'chatcmpl-xyz',
      model: 'gemini',
      created: 1,
      content: [
        { type: 'tool_call', id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'tool_call', id: 'call_b', name: 'now', arguments: '' },
      ],
      finishReason: 'tool_calls',
    };
    expect(openAICodec.encodeResult(result, ctx)).toEqual({
      id: 'chatcmpl-xyz',
      object: 'chat.completion',
      created: 1,
      model: 'my-alias',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: null,
            refusal: null,
            tool_calls: [
              { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
              { id: 'call_b', type: 'function', function: { name: 'now', arguments: '{}' } },
            ],
          },
          logprobs: null,
          finish_reason: 'tool_calls',
        },
      ],
    });
    const reason = (finishReason: ChatResult['finishReason']) => {
      const body = openAICodec.encodeResult({ ...result, content: [], finishReason }, ctx) as { choices: Array<{ finish_reason: string; message: { content: unknown } }> };
      return [body.choices[0]?.finish_reason, body.choices[0]?.message.content];
    };
    expect([reason('length'), reason('content_filter'), reason('error'), reason('other')]).toEqual([
      ['length', ''],
      ['content_filter', ''],
      ['stop', ''],
      ['stop', ''],
    ]);
  });

  it('uses the request id when the upstream gave none', () => {
    const body = openAICodec.encodeResult({ id: '', model: 'x', created: 2, content: [], finishReason: 'stop' }, ctx) as { id: string };
    expect(body.id).toBe('chatcmpl-req_1');
  });
});

describe('openAICodec.encodeError', () => {
  it('renders the OpenAI error body with the error status', () => {
    const err = new GatewayError('rate_limit_exceeded', 'Slow down.', { publicCode: 'rate_limit_exceeded' });
    expect(openAICodec.encodeError(err)).toEqual({
      status: 429,
      body: { error: { message: 'Slow down.', type: 'requests', param: null, code: 'rate_limit_exceeded' } },
    });
  });
});

const sse = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
const head = { id: 'chatcmpl-msg_1', object: 'chat.completion.chunk', created: 1700000000, model: 'my-alias' };
const choice = (delta: unknown, finish_reason: string | null = null) => ({ index: 0, delta, logprobs: null, finish_reason });

function encodeAll(events: StreamEvent[], streamUsage: boolean): string {
  const enc = openAICodec.createStreamEncoder({ ...ctx, streamUsage });
  return events.map((e) => enc.encode(e)).join('') + enc.end();
}

describe('OpenAI stream encoder', () => {
  const toolEvents: StreamEvent[] = [
    { type: 'start', id: 'msg_1', model: 'claude', created: 1700000000 },
    { type: 'reasoning-start', index: 0 },
    { type: 'reasoning-delta', index: 0, delta: 'Need weather.' },
    { type: 'reasoning-signature', index: 0, signature: 'sig' },
    { type: 'reasoning-end', index: 0 },
    { type: 'text-start', index: 1 },
    { type: 'text-delta', index: 1, delta: 'Checking.' },
    { type: 'text-end', index: 1 },
    { type: 'tool-call-start', index: 2, id: 'call_a', name: 'get_weather' },
    { type: 'tool-call-delta', index: 2, argumentsDelta: '{"city":' },
    { type: 'tool-call-delta', index: 2, argumentsDelta: '"Paris"}' },
    { type: 'tool-call-end', index: 2 },
    { type: 'tool-call-start', index: 3, id: 'call_b', name: 'now' },
    { type: 'tool-call-delta', index: 3, argumentsDelta: '{}' },
    { type: 'tool-call-end', index: 3 },
    { type: 'finish', finishReason: 'tool_calls', rawFinishReason: 'tool_use', usage: { inputTokens: 10, outputTokens: 4 } },
  ];

  it('encodes text, reasoning and streamed tool-call arguments as OpenAI chunks', () => {
    expect(encodeAll(toolEvents, false)).toBe(
      sse({ ...head, choices: [choice({ role: 'assistant', content: '' })] }) +
        sse({ ...head, choices: [choice({ reasoning_content: 'Need weather.' })] }) +
        sse({ ...head, choices: [choice({ content: 'Checking.' })] }) +
        sse({ ...head, choices: [choice({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] })] }) +
        sse({ ...head, choices: [choice({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] })] }) +
        sse({ ...head, choices: [choice({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] })] }) +
        sse({ ...head, choices: [choice({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'now', arguments: '' } }] })] }) +
        sse({ ...head, choices: [choice({ tool_calls: [{ index: 1, function: { arguments: '{}' } }] })] }) +
        sse({ ...head, choices: [choice({}, 'tool_calls')] }) +
        'data: [DONE]\n\n',
    );
  });

  it('adds usage: null to every chunk and a final usage chunk when the client asked', () => {
    const events: StreamEvent[] = [
      { type: 'start', id: 'msg_1', model: 'claude', created: 1700000000 },
      { type: 'text-start', index: 0 },
      { type: 'text-delta', index: 0, delta: 'Hi' },
      { type: 'text-end', index: 0 },
      { type: 'finish', finishReason: 'length', usage: { inputTokens: 10, cachedInputTokens: 4, outputTokens: 1 } },
    ];
    expect(encodeAll(events, true)).toBe(
      sse({ ...head, choices: [choice({ role: 'assistant', content: '' })], usage: null }) +
        sse({ ...head, choices: [choice({ content: 'Hi' })], usage: null }) +
        sse({ ...head, choices: [choice({}, 'length')], usage: null }) +
        sse({
          ...head,
          choices: [],
          usage: { prompt_tokens: 10, completion_tokens: 1, total_tokens: 11, prompt_tokens_details: { cached_tokens: 4 }, completion_tokens_details: { reasoning_tokens: 0 } },
        }) +
        'data: [DONE]\n\n',
    );
  });

  it('ends with an OpenAI error event, and no [DONE], when the stream fails', () => {
    const enc = openAICodec.createStreamEncoder({ ...ctx, streamUsage: false });
    const out =
      enc.encode({ type: 'start', id: 'msg_1', model: 'claude', created: 1700000000 }) +
      enc.encode({ type: 'error', message: 'Overloaded', status: 529, errorType: 'overloaded_error' }) +
      enc.encode({ type: 'text-delta', index: 0, delta: 'late' }) +
      enc.end();
    expect(out).toBe(
      sse({ ...head, choices: [choice({ role: 'assistant', content: '' })] }) +
        sse({ error: { message: 'Overloaded', type: 'overloaded_error', param: null, code: null } }),
    );
    const enc2 = openAICodec.createStreamEncoder({ ...ctx, streamUsage: false });
    expect(enc2.encodeError(new GatewayError('upstream_timeout', 'Too slow.'))).toBe(
      sse({ error: { message: 'Too slow.', type: 'timeout_error', param: null, code: 'upstream_timeout' } }),
    );
    expect(enc2.end()).toBe('');
  });
});
