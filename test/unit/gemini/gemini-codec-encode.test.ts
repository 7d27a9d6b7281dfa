import { describe, expect, it } from 'vitest';
import type { ChatResult, StreamEvent } from '../../../src/core/canonical.ts';
import { GatewayError } from '../../../src/core/errors.ts';
import { createGeminiStreamEncoder, encodeGeminiJsonArrayStream, geminiCodec } from '../../../src/protocols/gemini/gemini-codec.ts';

const ctx = { model: 'my-gemini', requestId: 'req_123' };

describe('gemini codec: encodeResult', () => {
  it('encodes text, thoughts, signatures and tool calls as a GenerateContentResponse', () => {
    const result: ChatResult = {
      id: 'chatcmpl-abc',
      model: 'gpt-4o-mini',
      created: 1,
      content: [
        { type: 'reasoning', text: 'Thinking about it.', signature: 'sig-a' },
        { type: 'text', text: 'Checking the weather.' },
        { type: 'reasoning', text: '', signature: 'sig-b' },
        { type: 'tool_call', id: 'call_1', name: 'get_weather', arguments: '{"city":"Oslo"}' },
        { type: 'tool_call', id: 'call_2', name: 'get_time', arguments: '' },
      ],
      finishReason: 'tool_calls',
      rawFinishReason: 'tool_calls',
      usage: { inputTokens: 20, outputTokens: 15, reasoningTokens: 5, cachedInputTokens: 8 },
    };
    expect(geminiCodec.encodeResult(result, ctx)).toEqual({
      candidates: [
        {
          content: {
            parts: [
              { text: 'Thinking about it.', thought: true, thoughtSignature: 'sig-a' },
              { text: 'Checking the weather.' },
              { functionCall: { id: 'call_1', name: 'get_weather', args: { city: 'Oslo' } }, thoughtSignature: 'sig-b' },
              { functionCall: { id: 'call_2', name: 'get_time', args: {} } },
            ],
            role: 'model',
          },
          finishReason: 'STOP',
          index: 0,
        },
      ],
      usageMetadata: { promptTokenCount: 20, candidatesTokenCount: 10, totalTokenCount: 35, thoughtsTokenCount: 5, cachedContentTokenCount: 8 },
      modelVersion: 'my-gemini',
      responseId: 'chatcmpl-abc',
    });
  });

  it('maps finish reasons and leaves out parts and usage when there are none', () => {
    const base: ChatResult = { id: '', model: 'm', created: 0, content: [], finishReason: 'content_filter' };
    expect(geminiCodec.encodeResult(base, ctx)).toEqual({
      candidates: [{ content: { role: 'model' }, finishReason: 'SAFETY', index: 0 }],
      modelVersion: 'my-gemini',
      responseId: 'req_123',
    });
    const reason = (finishReason: ChatResult['finishReason'], rawFinishReason?: string) =>
      (geminiCodec.encodeResult({ ...base, finishReason, rawFinishReason }, ctx) as { candidates: Array<{ finishReason: string }> }).candidates[0].finishReason;
    expect(reason('stop')).toBe('STOP');
    expect(reason('length')).toBe('MAX_TOKENS');
    expect(reason('content_filter', 'RECITATION')).toBe('RECITATION');
    expect(reason('content_filter', 'content_filter')).toBe('SAFETY');
    expect(reason('other', 'MALFORMED_FUNCTION_CALL')).toBe('MALFORMED_FUNCTION_CALL');
    expect(reason('error')).toBe('OTHER');
  });
});

describe('gemini codec: encodeError', () => {
  it('answers a bad, revoked or expired key the way Google does: HTTP 400 INVALID_ARGUMENT', () => {
    const details = (message: string) => [
      { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } },
      { '@type': 'type.googleapis.com/google.rpc.LocalizedMessage', locale: 'en-US', message },
    ];
    for (const code of ['invalid_api_key', 'key_revoked'] as const) {
      expect(geminiCodec.encodeError(new GatewayError(code, 'Invalid API key.'))).toEqual({
        status: 400,
        body: { error: { code: 400, message: 'API key not valid. Please pass a valid API key.', status: 'INVALID_ARGUMENT', details: details('API key not valid. Please pass a valid API key.') } },
      });
    }
    expect(geminiCodec.encodeError(new GatewayError('key_expired', 'Key expired.'))).toEqual({
      status: 400,
      body: { error: { code: 400, message: 'API key expired. Please renew the API key.', status: 'INVALID_ARGUMENT', details: details('API key expired. Please renew the API key.') } },
    });
  });

  it.each([
    ['invalid_request_error', 400, 'INVALID_ARGUMENT'],
    ['model_not_allowed', 403, 'PERMISSION_DENIED'],
    ['model_not_found', 404, 'NOT_FOUND'],
    ['body_too_large', 413, 'INVALID_ARGUMENT'],
    ['rate_limit_exceeded', 429, 'RESOURCE_EXHAUSTED'],
    ['insufficient_quota', 429, 'RESOURCE_EXHAUSTED'],
    ['internal_error', 500, 'INTERNAL'],
    ['upstream_error', 502, 'UNAVAILABLE'],
    ['server_shutting_down', 503, 'UNAVAILABLE'],
    ['upstream_timeout', 504, 'DEADLINE_EXCEEDED'],
  ] as const)('%s -> %i %s', (code, status, rpc) => {
    expect(geminiCodec.encodeError(new GatewayError(code, 'msg'))).toEqual({ status, body: { error: { code: status, message: 'msg', status: rpc } } });
  });

  it('keeps an upstream status code', () => {
    expect(geminiCodec.encodeError(new GatewayError('upstream_error', 'Overloaded', { status: 529 }))).toEqual({ status: 529, body: { error: { code: 529, message: 'Overloaded', status: 'INTERNAL' } } });
  });
});

const textEvents: StreamEvent[] = [
  { type: 'start', id: 'resp_1', model: 'claude-x', created: 1 },
  { type: 'reasoning-start', index: 0 },
  { type: 'reasoning-delta', index: 0, delta: 'Hmm.' },
  { type: 'reasoning-signature', index: 0, signature: 'sig-r' },
  { type: 'reasoning-end', index: 0 },
  { type: 'text-start', index: 1 },
  { type: 'text-delta', index: 1, delta: 'Hello' },
  { type: 'text-delta', index: 1, delta: '' },
  { type: 'text-delta', index: 1, delta: ' world' },
  { type: 'text-end', index: 1 },
  { type: 'finish', finishReason: 'stop', rawFinishReason: 'end_turn', usage: { inputTokens: 5, outputTokens: 3 } },
];

function encodeAll(events: StreamEvent[], jsonArray = false): string {
  const enc = createGeminiStreamEncoder({ ...ctx, streamUsage: false }, { jsonArray });
  return events.map((e) => enc.encode(e)).join('') + enc.end();
}

describe('gemini codec: stream encoder', () => {
  it('writes one GenerateContentResponse per SSE event, CRLF-framed, with finishReason and usage last, no [DONE]', () => {
    const sse = (o: unknown) => `data: ${JSON.stringify(o)}\r\n\r\n`;
    const chunk = (parts: unknown[]) => ({ candidates: [{ content: { parts, role: 'model' }, index: 0 }], modelVersion: 'my-gemini', responseId: 'resp_1' });
    expect(encodeAll(textEvents)).toBe(
      sse(chunk([{ text: 'Hmm.', thought: true }])) +
        sse(chunk([{ text: '', thought: true, thoughtSignature: 'sig-r' }])) +
        sse(chunk([{ text: 'Hello' }])) +
        sse(chunk([{ text: ' world' }])) +
        sse({
          candidates: [{ content: { role: 'model' }, finishReason: 'STOP', index: 0 }],
          usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 3, totalTokenCount: 8 },
          modelVersion: 'my-gemini',
          responseId: 'resp_1',
        }),
    );
  });

  it('sends a function call whole once its arguments are complete, with a pending signature', () => {
    const out = encodeAll([
      { type: 'start', id: '', model: 'gpt', created: 1 },
      { type: 'reasoning-start', index: 0 },
      { type: 'reasoning-signature', index: 0, signature: 'sig-call' },
      { type: 'reasoning-end', index: 0 },
      { type: 'tool-call-start', index: 1, id: 'call_x', name: 'get_weather' },
      { type: 'tool-call-delta', index: 1, argumentsDelta: '{"ci' },
      { type: 'tool-call-delta', index: 1, argumentsDelta: 'ty":"Oslo"}' },
      { type: 'tool-call-end', index: 1 },
      { type: 'tool-call-start', index: 2, id: 'call_y', name: 'get_time' },
      { type: 'tool-call-delta', index: 2, argumentsDelta: '{}' },
      { type: 'finish', finishReason: 'tool_calls', usage: { inputTokens: 9, outputTokens: 4 } },
    ]);
    const events = out.split('\r\n\r\n').filter(Boolean).map((e) => JSON.parse(e.replace(/^data: /, '')));
    expect(events).toEqual([
      {
        candidates: [{ content: { parts: [{ functionCall: { id: 'call_x', name: 'get_weather', args: { city: 'Oslo' } }, thoughtSignature: 'sig-call' }], role: 'model' }, index: 0 }],
        modelVersion: 'my-gemini',
        responseId: 'req_123',
      },
      {
        candidates: [{ content: { parts: [{ functionCall: { id: 'call_y', name: 'get_time', args: {} } }], role: 'model' }, finishReason: 'STOP', index: 0 }],
        usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 4, totalTokenCount: 13 },
        modelVersion: 'my-gemini',
        responseId: 'req_123',
      },
    ]);
  });

  it('frames the same chunks as one JSON array without alt=sse', () => {
    const out = encodeAll(textEvents, true);
    expect(out.startsWith('[{')).toBe(true);
    expect(out.endsWith('}]')).toBe(true);
    const chunks = JSON.parse(out) as unknown[];
    expect(chunks).toHaveLength(5);
    expect(chunks[4]).toEqual({
      candidates: [{ content: { role: 'model' }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 3, totalTokenCount: 8 },
      modelVersion: 'my-gemini',
      responseId: 'resp_1',
    });
    expect(encodeAll([], true)).toBe('[]');
    expect(encodeGeminiJsonArrayStream([{ a: 1 }, { b: 2 }])).toBe('[{"a":1},\r\n{"b":2}]');
  });

  it('ends the stream with an error event in Google shape (SSE) or closes the array with it', () => {
    const err = new GatewayError('upstream_error', 'Upstream failed mid-stream', { status: 502 });
    const sse = createGeminiStreamEncoder({ ...ctx, streamUsage: true });
    sse.encode({ type: 'text-delta', index: 0, delta: 'Hi' });
    expect(sse.encodeError(err)).toBe('data: {"error":{"code":502,"message":"Upstream failed mid-stream","status":"UNAVAILABLE"}}\r\n\r\n');
    expect(sse.encode({ type: 'text-delta', index: 0, delta: 'more' })).toBe('');
    expect(sse.end()).toBe('');

    const arr = createGeminiStreamEncoder({ ...ctx, streamUsage: true }, { jsonArray: true });
    const first = arr.encode({ type: 'text-delta', index: 0, delta: 'Hi' });
    const text = first + arr.encodeError(err) + arr.end();
    expect(JSON.parse(text)).toEqual([
      { candidates: [{ content: { parts: [{ text: 'Hi' }], role: 'model' }, index: 0 }], modelVersion: 'my-gemini', responseId: 'req_123' },
      { error: { code: 502, message: 'Upstream failed mid-stream', status: 'UNAVAILABLE' } },
    ]);
    const upstreamErrorEvent = createGeminiStreamEncoder({ ...ctx, streamUsage: true }).encode({ type: 'error', message: 'overloaded', status: 529, errorType: 'overloaded_error' });
    expect(upstreamErrorEvent).toBe('data: {"error":{"code":529,"message":"overloaded","status":"INTERNAL"}}\r\n\r\n');
  });
});
