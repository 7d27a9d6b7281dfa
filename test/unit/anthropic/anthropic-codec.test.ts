import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ChatResult } from '../../../src/core/canonical.ts';
import { GatewayError } from '../../../src/core/errors.ts';
import { anthropicCodec } from '../../../src/protocols/anthropic/anthropic-codec.ts';

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`../../fixtures/anthropic/${name}`, import.meta.url), 'utf8'));

function decodeError(body: unknown): GatewayError {
  try {
    anthropicCodec.decodeRequest(body);
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected decodeRequest to throw');
}

describe('anthropicCodec.decodeRequest', () => {
  it('decodes the documented tool result conversation', () => {
    expect(anthropicCodec.decodeRequest(fixture('request-tool-result.json'))).toEqual({
      model: 'claude-sonnet-4-5',
      system: [],
      stream: false,
      maxTokens: 1024,
      messages: [
        { role: 'user', content: [{ type: 'text', text: "What's the weather like in San Francisco?" }] },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: "I'll check the current weather in San Francisco for you." },
            { type: 'tool_call', id: 'toolu_01A09q90qw90lq917835lq9', name: 'get_weather', arguments: '{"location":"San Francisco, CA","unit":"celsius"}' },
          ],
        },
        {
          role: 'tool',
          content: [{ type: 'tool_result', toolCallId: 'toolu_01A09q90qw90lq917835lq9', name: 'get_weather', content: [{ type: 'text', text: '15 degrees' }] }],
        },
      ],
      tools: [
        {
          name: 'get_weather',
          description: 'Get the current weather in a given location',
          parameters: {
            type: 'object',
            properties: {
              location: { type: 'string', description: 'The city and state, e.g. San Francisco, CA' },
              unit: { type: 'string', enum: ['celsius', 'fahrenheit'], description: 'The unit of temperature, either "celsius" or "fahrenheit"' },
            },
            required: ['location'],
          },
        },
      ],
    });
  });

  it('decodes system blocks, images, thinking, mixed tool results and every option', () => {
    const req = anthropicCodec.decodeRequest({
      model: 'claude-opus-4-1',
      max_tokens: 2048,
      system: [
        { type: 'text', text: 'You are a weather bot.', cache_control: { type: 'ephemeral' } },
        { type: 'text', text: 'Be brief.' },
      ],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: '/9j/4AAQ' } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
            { type: 'text', text: 'Weather here?', cache_control: { type: 'ephemeral' } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'Need the tool.', signature: 'sig-abc' },
            { type: 'redacted_thinking', data: 'EmwKAhgB' },
            { type: 'tool_use', id: 'toolu_1', name: 'lookup', input: {} },
          ],
        },
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: 'toolu_1',
              is_error: true,
              content: [
                { type: 'text', text: 'failed' },
                { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBO' } },
              ],
            },
            { type: 'tool_result', tool_use_id: 'toolu_unknown' },
            { type: 'text', text: 'Try again.' },
          ],
        },
      ],
      tools: [{ name: 'lookup', input_schema: { type: 'object', properties: {} }, cache_control: { type: 'ephemeral' } }, { name: 'bare' }],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      stop_sequences: ['###'],
      temperature: 0.5,
      top_p: 0.9,
      top_k: 20,
      stream: true,
      thinking: { type: 'enabled', budget_tokens: 1500 },
      metadata: { user_id: 'u-123' },
      service_tier: 'auto',
    });
    expect(req).toEqual({
      model: 'claude-opus-4-1',
      system: [
        { type: 'text', text: 'You are a weather bot.', cacheControl: { type: 'ephemeral' } },
        { type: 'text', text: 'Be brief.' },
      ],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { kind: 'base64', mediaType: 'image/jpeg', data: '/9j/4AAQ' } },
            { type: 'image', source: { kind: 'url', url: 'https://example.com/a.png' } },
            { type: 'text', text: 'Weather here?', cacheControl: { type: 'ephemeral' } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'reasoning', text: 'Need the tool.', signature: 'sig-abc' },
            { type: 'reasoning', text: '', redactedData: 'EmwKAhgB' },
            { type: 'tool_call', id: 'toolu_1', name: 'lookup', arguments: '{}' },
          ],
        },
        {
          role: 'tool',
          content: [
            {
              type: 'tool_result',
              toolCallId: 'toolu_1',
              name: 'lookup',
              isError: true,
              content: [
                { type: 'text', text: 'failed' },
                { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: 'iVBO' } },
              ],
            },
            { type: 'tool_result', toolCallId: 'toolu_unknown', content: [] },
          ],
        },
        { role: 'user', content: [{ type: 'text', text: 'Try again.' }] },
      ],
      stream: true,
      streamUsage: true,
      maxTokens: 2048,
      temperature: 0.5,
      topP: 0.9,
      topK: 20,
      stop: ['###'],
      user: 'u-123',
      tools: [
        { name: 'lookup', parameters: { type: 'object', properties: {} }, cacheControl: { type: 'ephemeral' } },
        { name: 'bare', parameters: { type: 'object' } },
      ],
      toolChoice: { type: 'required' },
      parallelToolCalls: false,
      reasoning: { enabled: true, budgetTokens: 1500 },
    });
  });

  it('maps the other tool choices and thinking disabled; takes model and stream from the context', () => {
    const base = { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };
    expect(anthropicCodec.decodeRequest({ ...base, tool_choice: { type: 'auto' } }).toolChoice).toEqual({ type: 'auto' });
    expect(anthropicCodec.decodeRequest({ ...base, tool_choice: { type: 'none' } }).toolChoice).toEqual({ type: 'none' });
    expect(anthropicCodec.decodeRequest({ ...base, tool_choice: { type: 'tool', name: 'f' } }).toolChoice).toEqual({ type: 'tool', name: 'f' });
    expect(anthropicCodec.decodeRequest({ ...base, thinking: { type: 'disabled' } }).reasoning).toEqual({ enabled: false });
    // Newer API versions: adaptive thinking and output_config (effort, JSON schema format).
    expect(anthropicCodec.decodeRequest({ ...base, thinking: { type: 'adaptive', display: 'summarized' } }).reasoning).toEqual({ enabled: true });
    expect(anthropicCodec.decodeRequest({ ...base, output_config: { effort: 'max' } }).reasoning).toEqual({ effort: 'high' });
    expect(anthropicCodec.decodeRequest({ ...base, thinking: { type: 'enabled', budget_tokens: 2000 }, output_config: { effort: 'low' } }).reasoning).toEqual({
      enabled: true,
      budgetTokens: 2000,
      effort: 'low',
    });
    const schema = { type: 'object', properties: { ok: { type: 'boolean' } } };
    expect(anthropicCodec.decodeRequest({ ...base, output_config: { format: { type: 'json_schema', schema } } }).responseFormat).toEqual({ type: 'json_schema', schema });
    expect(anthropicCodec.decodeRequest({ ...base, system: 'Be kind.' }).system).toEqual([{ type: 'text', text: 'Be kind.' }]);
    const fromUrl = anthropicCodec.decodeRequest({ max_tokens: 5, messages: [] }, { model: 'from-url', stream: true });
    expect([fromUrl.model, fromUrl.stream]).toEqual(['from-url', true]);
  });

  it('rejects missing and invalid fields the way Anthropic words them', () => {
    const cases: Array<[unknown, string, string, string]> = [
      [{ max_tokens: 1, messages: [] }, 'missing_field', 'model', 'model: Field required'],
      [{ model: 'm', messages: [] }, 'missing_field', 'max_tokens', 'max_tokens: Field required'],
      [{ model: 'm', max_tokens: 1 }, 'missing_field', 'messages', 'messages: Field required'],
      [{ model: 'm', max_tokens: 1, messages: [{ role: 'user' }] }, 'missing_field', 'messages.0.content', 'messages.0.content: Field required'],
    ];
    for (const [body, code, param, message] of cases) {
      const err = decodeError(body);
      expect([err.code, err.status, err.param, err.message]).toEqual([code, 400, param, message]);
    }
    const base = { model: 'm', max_tokens: 10 };
    expect(decodeError({ ...base, max_tokens: 'ten', messages: [] }).param).toBe('max_tokens');
    expect(decodeError({ ...base, temperature: 1.5, messages: [] }).param).toBe('temperature');
    expect(decodeError({ ...base, messages: [{ role: 'developer', content: 'x' }] }).param).toBe('messages.0.role');
    expect(decodeError({ ...base, messages: [{ role: 'user', content: [{ type: 'text' }] }] }).message).toBe('messages.0.content.0.text: Field required');
    expect(decodeError([]).code).toBe('invalid_request_error');
  });

  it('refuses misplaced and malformed blocks of the types it knows, as Anthropic does (unknown types: decode-anthropic-tolerance.test.ts)', () => {
    const base = { model: 'm', max_tokens: 10 };
    expect(decodeError({ ...base, messages: [{ role: 'user', content: [{ type: 'tool_use', id: 't', name: 'f', input: {} }] }] }).message).toBe(
      "messages.0.content.0: 'tool_use' blocks are only allowed in assistant messages.",
    );
    expect(decodeError({ ...base, messages: [{ role: 'assistant', content: [{ type: 'tool_result', tool_use_id: 't' }] }] }).message).toBe(
      "messages.0.content.0: 'tool_result' blocks are only allowed in user messages.",
    );
    expect(decodeError({ ...base, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'text' }] }] }] }).message).toBe(
      'messages.0.content.0.content.0.text: Field required',
    );
    expect(decodeError({ ...base, messages: [{ role: 'system', content: [{ type: 'text', text: 1 }] }] }).param).toBe('messages.0.content.0.text');
    expect(decodeError({ ...base, messages: [], tools: [{ description: 'no name', input_schema: { type: 'object' } }] }).message).toBe('tools.0.name: Field required');
    expect(decodeError({ ...base, messages: [], thinking: { type: 'enabled' } }).message).toBe('thinking.budget_tokens: Field required');
    expect(decodeError({ ...base, messages: [], tool_choice: { type: 'tool' } }).message).toBe('tool_choice.name: Field required');
  });
});

describe('anthropicCodec.encodeResult', () => {
  const ctx = { model: 'my-alias', requestId: 'req123' };

  it('encodes a message object exactly as the Messages API returns one', () => {
    const result: ChatResult = {
      id: 'chatcmpl-abc',
      model: 'gpt-4o',
      created: 1,
      content: [
        { type: 'reasoning', text: 'Thinking...', signature: 'sig' },
        { type: 'reasoning', text: '', redactedData: 'EmwK' },
        { type: 'reasoning', text: 'no signature' },
        { type: 'text', text: 'Calling tools.' },
        { type: 'tool_call', id: 'call_123', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'tool_call', id: 'toolu_01X', name: 'noop', arguments: '' },
      ],
      finishReason: 'tool_calls',
      rawFinishReason: 'tool_calls',
      usage: { inputTokens: 1000, cachedInputTokens: 600, cacheWriteTokens: 100, outputTokens: 50, reasoningTokens: 20 },
    };
    expect(anthropicCodec.encodeResult(result, ctx)).toEqual({
      id: 'msg_chatcmpl-abc',
      type: 'message',
      role: 'assistant',
      model: 'my-alias',
      content: [
        { type: 'thinking', thinking: 'Thinking...', signature: 'sig' },
        { type: 'redacted_thinking', data: 'EmwK' },
        { type: 'thinking', thinking: 'no signature', signature: '' },
        { type: 'text', text: 'Calling tools.' },
        { type: 'tool_use', id: 'call_123', name: 'get_weather', input: { city: 'Paris' } },
        { type: 'tool_use', id: 'toolu_01X', name: 'noop', input: {} },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 300, output_tokens: 50, cache_creation_input_tokens: 100, cache_read_input_tokens: 600 },
    });
  });

  it('keeps msg_ ids, maps finish reasons, and writes zero usage when none is known', () => {
    const base: ChatResult = { id: 'msg_01abc', model: 'x', created: 1, content: [], finishReason: 'stop' };
    const out = anthropicCodec.encodeResult(base, ctx) as Record<string, unknown>;
    expect([out.id, out.stop_reason, out.usage]).toEqual(['msg_01abc', 'end_turn', { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }]);
    const reason = (finishReason: ChatResult['finishReason'], raw?: string) =>
      (anthropicCodec.encodeResult({ ...base, finishReason, rawFinishReason: raw }, ctx) as { stop_reason: string }).stop_reason;
    expect(reason('length')).toBe('max_tokens');
    expect(reason('length', 'model_context_window_exceeded')).toBe('model_context_window_exceeded');
    expect(reason('stop', 'stop_sequence')).toBe('stop_sequence');
    expect(reason('stop', 'STOP')).toBe('end_turn');
    expect(reason('content_filter', 'content_filter')).toBe('refusal');
    expect(reason('other', 'pause_turn')).toBe('pause_turn');
    expect(reason('error')).toBe('end_turn');
    expect((anthropicCodec.encodeResult({ ...base, id: '' }, ctx) as { id: string }).id).toBe('msg_req123');
  });
});

describe('anthropicCodec.encodeError', () => {
  it('renders {type:"error",error:{type,message}} with the Anthropic type for each status', () => {
    const cases: Array<[GatewayError, number, string]> = [
      [new GatewayError('invalid_request_error', 'bad'), 400, 'invalid_request_error'],
      [new GatewayError('invalid_api_key', 'bad key'), 401, 'authentication_error'],
      [new GatewayError('model_not_allowed', 'no'), 403, 'permission_error'],
      [new GatewayError('model_not_found', 'no'), 404, 'not_found_error'],
      [new GatewayError('method_not_allowed', 'no'), 405, 'invalid_request_error'],
      [new GatewayError('body_too_large', 'big'), 413, 'request_too_large'],
      [new GatewayError('rate_limit_exceeded', 'slow'), 429, 'rate_limit_error'],
      [new GatewayError('insufficient_quota', 'quota'), 429, 'rate_limit_error'],
      [new GatewayError('internal_error', 'oops'), 500, 'api_error'],
      [new GatewayError('upstream_error', 'bad gateway'), 502, 'api_error'],
      [new GatewayError('server_shutting_down', 'bye'), 503, 'overloaded_error'],
      [new GatewayError('upstream_timeout', 'slow'), 504, 'timeout_error'],
      [new GatewayError('upstream_error', 'Overloaded', { status: 529, type: 'overloaded_error' }), 529, 'overloaded_error'],
      [new GatewayError('upstream_error', 'limited', { status: 429, type: 'rate_limit_error' }), 429, 'rate_limit_error'],
      [new GatewayError('upstream_error', 'weird', { status: 418, type: 'server_error' }), 418, 'invalid_request_error'],
    ];
    for (const [err, status, type] of cases) {
      expect(anthropicCodec.encodeError(err)).toEqual({ status, body: { type: 'error', error: { type, message: err.message } } });
    }
  });
});
