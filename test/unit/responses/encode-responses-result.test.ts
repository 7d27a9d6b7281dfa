import { describe, expect, it } from 'vitest';
import type { ChatResult } from '../../../src/core/canonical.ts';
import { GatewayError } from '../../../src/core/errors.ts';
import { encodeResponsesResult } from '../../../src/protocols/responses/encode-responses-result.ts';
import { DEFAULT_RESPONSES_ECHO, extractResponsesEcho } from '../../../src/protocols/responses/responses-echo.ts';
import { createResponsesCodec, responsesCodec } from '../../../src/protocols/responses/responses-codec.ts';
import { createResponsesIdGenerator } from '../../../src/protocols/responses/responses-ids.ts';

const ctx = { model: 'my-alias', requestId: 'req_abc123', responseId: 'resp_abc123', createdAt: 1741476542, now: () => 1741476543 };

/** Every field of a default Response that is not about this result. */
const echo = {
  object: 'response',
  background: false,
  error: null,
  instructions: null,
  max_output_tokens: null,
  max_tool_calls: null,
  model: 'my-alias',
  parallel_tool_calls: true,
  previous_response_id: null,
  prompt_cache_key: null,
  reasoning: { effort: null, summary: null },
  safety_identifier: null,
  service_tier: 'default',
  store: true,
  temperature: 1,
  text: { format: { type: 'text' }, verbosity: 'medium' },
  tool_choice: 'auto',
  tools: [],
  top_logprobs: 0,
  top_p: 1,
  truncation: 'disabled',
  user: null,
  metadata: {},
};

describe('encodeResponsesResult', () => {
  it('encodes a text result as a completed Response with one message item and usage', () => {
    const result: ChatResult = {
      id: 'msg_01',
      model: 'claude-sonnet-4',
      created: 1700000000,
      content: [
        { type: 'text', text: 'Hello ' },
        { type: 'text', text: 'there.' },
      ],
      finishReason: 'stop',
      usage: { inputTokens: 36, cachedInputTokens: 4, cacheWriteTokens: 2, outputTokens: 87, reasoningTokens: 0 },
    };
    expect(encodeResponsesResult(result, ctx)).toEqual({
      ...echo,
      id: 'resp_abc123',
      created_at: 1741476542,
      completed_at: 1741476543,
      status: 'completed',
      incomplete_details: null,
      output: [
        {
          id: 'msg_abc123_0',
          type: 'message',
          status: 'completed',
          role: 'assistant',
          content: [{ type: 'output_text', text: 'Hello there.', annotations: [], logprobs: [] }],
        },
      ],
      usage: {
        input_tokens: 36,
        input_tokens_details: { cached_tokens: 4, cache_write_tokens: 2 },
        output_tokens: 87,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 123,
      },
    });
  });

  it('encodes tool calls as function_call items (call_id is the tool call id), after the text', () => {
    const result: ChatResult = {
      id: 'x',
      model: 'gemini',
      created: 1,
      content: [
        { type: 'text', text: 'Checking.' },
        { type: 'tool_call', id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'tool_call', id: 'call_b', name: 'now', arguments: '' },
      ],
      finishReason: 'tool_calls',
    };
    const out = encodeResponsesResult(result, ctx);
    expect(out.status).toBe('completed');
    expect(out.usage).toBeNull();
    expect(out.output).toEqual([
      { id: 'msg_abc123_0', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Checking.', annotations: [], logprobs: [] }] },
      { id: 'fc_abc123_1', type: 'function_call', status: 'completed', arguments: '{"city":"Paris"}', call_id: 'call_a', name: 'get_weather' },
      { id: 'fc_abc123_2', type: 'function_call', status: 'completed', arguments: '{}', call_id: 'call_b', name: 'now' },
    ]);
  });

  it('encodes reasoning as a reasoning item with a summary, carrying the signature as encrypted_content', () => {
    const result: ChatResult = {
      id: 'x',
      model: 'claude',
      created: 1,
      content: [
        { type: 'reasoning', text: 'The user greets me.', signature: 'EqQBCgIYAhIM' },
        { type: 'reasoning', text: '', redactedData: 'opaque' },
        { type: 'text', text: 'Hi!' },
      ],
      finishReason: 'stop',
      usage: { inputTokens: 10, outputTokens: 20, reasoningTokens: 12 },
    };
    const out = encodeResponsesResult(result, ctx);
    expect(out.output).toEqual([
      { id: 'rs_abc123_0', type: 'reasoning', summary: [{ type: 'summary_text', text: 'The user greets me.' }], encrypted_content: 'EqQBCgIYAhIM' },
      { id: 'msg_abc123_1', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Hi!', annotations: [], logprobs: [] }] },
    ]);
    expect(out.usage?.output_tokens_details).toEqual({ reasoning_tokens: 12 });
  });

  it('reports a cut-off answer as incomplete with max_output_tokens, and its last item as incomplete', () => {
    const result: ChatResult = { id: 'x', model: 'm', created: 1, content: [{ type: 'text', text: 'Once upon a' }], finishReason: 'length', usage: { inputTokens: 5, outputTokens: 3 } };
    const out = encodeResponsesResult(result, ctx);
    expect(out.status).toBe('incomplete');
    expect(out.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(out.completed_at).toBe(1741476543);
    expect(out.output).toEqual([
      { id: 'msg_abc123_0', type: 'message', status: 'incomplete', role: 'assistant', content: [{ type: 'output_text', text: 'Once upon a', annotations: [], logprobs: [] }] },
    ]);
    const filtered = encodeResponsesResult({ ...result, finishReason: 'content_filter' }, ctx);
    expect([filtered.status, filtered.incomplete_details]).toEqual(['incomplete', { reason: 'content_filter' }]);
  });

  it('echoes the request: instructions, function tools only, sampling, limits, reasoning, text, store and metadata', () => {
    const schema = { type: 'object', properties: {}, additionalProperties: false };
    const body = {
      model: 'my-alias',
      input: 'x',
      instructions: 'Be brief.',
      tools: [{ type: 'web_search' }, { type: 'function', name: 'now', parameters: { type: 'object', properties: {} } }],
      tool_choice: 'required',
      parallel_tool_calls: false,
      temperature: 0.5,
      top_p: 0.8,
      max_output_tokens: 100,
      previous_response_id: 'resp_prev',
      reasoning: { effort: 'low', summary: 'auto' },
      text: { format: { type: 'json_schema', name: 'o', schema, strict: true } },
      truncation: 'auto',
      store: false,
      metadata: { topic: 'demo' },
      user: 'u1',
    };
    const result: ChatResult = { id: 'x', model: 'm', created: 1, content: [{ type: 'text', text: '{}' }], finishReason: 'stop' };
    const out = encodeResponsesResult(result, { ...ctx, echo: extractResponsesEcho(body) });
    expect(out).toMatchObject({
      instructions: 'Be brief.',
      tools: [{ type: 'function', name: 'now', description: null, parameters: { type: 'object', properties: {} }, strict: null }],
      tool_choice: 'required',
      parallel_tool_calls: false,
      temperature: 0.5,
      top_p: 0.8,
      max_output_tokens: 100,
      previous_response_id: 'resp_prev',
      reasoning: { effort: 'low', summary: 'auto' },
      text: { format: { type: 'json_schema', name: 'o', schema, strict: true }, verbosity: 'medium' },
      truncation: 'auto',
      store: false,
      metadata: { topic: 'demo' },
      user: 'u1',
    });
    expect(extractResponsesEcho('not a body')).toBe(DEFAULT_RESPONSES_ECHO);
  });

  it('has no output_text on the wire (the SDKs compute it)', () => {
    const result: ChatResult = { id: 'x', model: 'm', created: 1, content: [{ type: 'text', text: 'Hi' }], finishReason: 'stop' };
    expect(Object.keys(encodeResponsesResult(result, ctx))).not.toContain('output_text');
  });
});

describe('responsesCodec', () => {
  it('derives the response id and item ids from the request id, and times from the upstream result', () => {
    const result: ChatResult = { id: 'x', model: 'm', created: 1700000000, content: [{ type: 'text', text: 'Hi' }], finishReason: 'stop' };
    expect(responsesCodec.protocol).toBe('responses');
    expect(responsesCodec.encodeResult(result, { model: 'a', requestId: 'req_f00d' })).toMatchObject({
      id: 'resp_f00d',
      created_at: 1700000000,
      completed_at: 1700000000,
      output: [{ id: 'msg_f00d_0' }],
    });
  });

  it('binds one request: prior items for decoding, ids and echo for encoding, and hands each response to onResponse', () => {
    const stored: unknown[] = [];
    const codec = createResponsesCodec({
      priorItems: [{ role: 'user', content: 'Earlier' }],
      responseId: 'resp_bound',
      echo: extractResponsesEcho({ previous_response_id: 'resp_prev', store: true }),
      ids: createResponsesIdGenerator('resp_bound'),
      onResponse: (r) => stored.push(r),
    });
    expect(codec.decodeRequest({ model: 'm', input: 'Now' }).messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Earlier' }] },
      { role: 'user', content: [{ type: 'text', text: 'Now' }] },
    ]);
    const result: ChatResult = { id: 'x', model: 'm', created: 5, content: [{ type: 'text', text: 'Hi' }], finishReason: 'stop' };
    const json = codec.encodeResult(result, { model: 'a', requestId: 'req_ignored' });
    expect(json).toMatchObject({ id: 'resp_bound', previous_response_id: 'resp_prev', output: [{ id: 'msg_bound_0' }] });
    const enc = codec.createStreamEncoder({ model: 'a', requestId: 'req_ignored', streamUsage: false });
    enc.encode({ type: 'text-delta', index: 0, delta: 'Hi' });
    enc.encode({ type: 'finish', finishReason: 'stop' });
    expect(stored).toHaveLength(2);
    expect(stored[0]).toBe(json);
    expect(stored[1]).toMatchObject({ id: 'resp_bound', status: 'completed', output: [{ id: 'msg_bound_1', type: 'message' }] });
  });

  it('renders errors in OpenAI error shape', () => {
    const err = new GatewayError('missing_field', "Missing required parameter: 'input'.", { param: 'input', publicCode: 'missing_required_parameter' });
    expect(responsesCodec.encodeError(err)).toEqual({
      status: 400,
      body: { error: { message: "Missing required parameter: 'input'.", type: 'invalid_request_error', param: 'input', code: 'missing_required_parameter' } },
    });
  });
});
