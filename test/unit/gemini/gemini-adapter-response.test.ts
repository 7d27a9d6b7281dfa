import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../../src/core/canonical.ts';
import { SseParser } from '../../../src/core/sse.ts';
import { createGeminiAdapter } from '../../../src/providers/gemini/gemini-adapter.ts';
import { parseGeminiError } from '../../../src/providers/gemini/gemini-error.ts';
import { mapGeminiFinishReason } from '../../../src/providers/gemini/map-gemini-finish-reason.ts';

const NOW = Date.UTC(2025, 5, 22, 10, 0, 0);
const CREATED = NOW / 1000;
const adapter = createGeminiAdapter({ now: () => NOW });

function fixture(name: string): string {
  return readFileSync(new URL(`../../fixtures/gemini/${name}`, import.meta.url), 'utf8');
}

function decodeSse(text: string, splitAt?: number[]): StreamEvent[] {
  const parser = new SseParser();
  const decoder = adapter.createStreamDecoder();
  const pieces: string[] = [];
  let from = 0;
  for (const at of splitAt ?? []) {
    pieces.push(text.slice(from, at));
    from = at;
  }
  pieces.push(text.slice(from));
  const events: StreamEvent[] = [];
  for (const piece of pieces) for (const ev of parser.push(piece)) events.push(...decoder.decode(ev));
  events.push(...decoder.end());
  return events;
}

describe('gemini adapter: parseResult', () => {
  it('reads a text answer', () => {
    expect(adapter.parseResult(JSON.parse(fixture('generate-content-text.json')))).toEqual({
      id: 'mFhXaPXgBZa1nvgP0eKj-AU',
      model: 'gemini-2.5-flash',
      created: CREATED,
      content: [{ type: 'text', text: 'AI learns patterns from data and uses them to make predictions.' }],
      finishReason: 'stop',
      rawFinishReason: 'STOP',
      usage: { inputTokens: 8, outputTokens: 12 },
    });
  });

  it('reads function calls: made-up ids from the responseId, signature kept before its call, STOP -> tool_calls', () => {
    expect(adapter.parseResult(JSON.parse(fixture('generate-content-function-call.json')))).toEqual({
      id: 'pVhXaKuaLc2Hz7IP1NqVmAk',
      model: 'gemini-2.5-flash',
      created: CREATED,
      content: [
        { type: 'reasoning', text: '', signature: 'CiQB0e2Kb6Hs2e3rSgRkeOLfbSRFuVvIAo6YWb1QkYg1/4lAI9Q=' },
        { type: 'tool_call', id: 'call_pVhXaKuaLc2Hz7IP1NqVmAk_0', name: 'get_current_weather', arguments: '{"location":"Boston, MA"}' },
        { type: 'tool_call', id: 'call_pVhXaKuaLc2Hz7IP1NqVmAk_1', name: 'get_current_weather', arguments: '{"location":"San Francisco, CA"}' },
      ],
      finishReason: 'tool_calls',
      rawFinishReason: 'STOP',
      usage: { inputTokens: 71, outputTokens: 94, reasoningTokens: 60 },
    });
  });

  it('reads thought parts as reasoning and counts thinking and cached tokens', () => {
    expect(adapter.parseResult(JSON.parse(fixture('generate-content-thinking.json')))).toEqual({
      id: 'q1hXaN-8HOK2nvgPq7DU4Qo',
      model: 'gemini-2.5-pro',
      created: CREATED,
      content: [
        { type: 'reasoning', text: '**Counting the primes**\n\nI list the primes below 10: 2, 3, 5 and 7.' },
        { type: 'text', text: 'There are 4 prime numbers below 10: 2, 3, 5 and 7.' },
      ],
      finishReason: 'stop',
      rawFinishReason: 'STOP',
      usage: { inputTokens: 11, cachedInputTokens: 4, outputTokens: 259, reasoningTokens: 237 },
    });
  });

  it('uses a Gemini-given functionCall id as is, and reports a blocked prompt as content_filter', () => {
    const withId = adapter.parseResult({
      candidates: [{ content: { role: 'model', parts: [{ functionCall: { id: 'fc_9', name: 'f', args: { a: 1 } } }] }, finishReason: 'STOP' }],
      responseId: 'r1',
    });
    expect(withId.content).toEqual([{ type: 'tool_call', id: 'fc_9', name: 'f', arguments: '{"a":1}' }]);
    const blocked = adapter.parseResult({ promptFeedback: { blockReason: 'PROHIBITED_CONTENT' }, usageMetadata: { promptTokenCount: 5, totalTokenCount: 5 }, modelVersion: 'gemini-2.5-flash', responseId: 'r2' });
    expect(blocked).toEqual({ id: 'r2', model: 'gemini-2.5-flash', created: CREATED, content: [], finishReason: 'content_filter', rawFinishReason: 'PROHIBITED_CONTENT', usage: { inputTokens: 5, outputTokens: 0 } });
  });

  it('throws on a body that is not a GenerateContentResponse', () => {
    expect(() => adapter.parseResult({ candidates: 'nope' })).toThrow(/malformed GenerateContentResponse/);
  });
});

describe('gemini finish reasons', () => {
  it.each([
    ['STOP', false, 'stop'],
    ['STOP', true, 'tool_calls'],
    ['MAX_TOKENS', false, 'length'],
    ['SAFETY', false, 'content_filter'],
    ['RECITATION', false, 'content_filter'],
    ['BLOCKLIST', false, 'content_filter'],
    ['PROHIBITED_CONTENT', false, 'content_filter'],
    ['SPII', false, 'content_filter'],
    ['MALFORMED_FUNCTION_CALL', false, 'other'],
    ['OTHER', false, 'other'],
    ['LANGUAGE', false, 'other'],
  ] as const)('%s (tool calls: %s) -> %s', (raw, calls, expected) => {
    expect(mapGeminiFinishReason(raw, calls)).toBe(expected);
  });
});

describe('gemini adapter: parseError', () => {
  it('reads google.rpc error bodies, also wrapped in an array', () => {
    expect(parseGeminiError(fixture('error-api-key-invalid.json'))).toEqual({
      message: 'API key not valid. Please pass a valid API key.',
      type: 'invalid_request_error',
      code: 'INVALID_ARGUMENT',
      status: 400,
    });
    expect(parseGeminiError(`[${fixture('error-resource-exhausted.json')}]`)).toEqual({
      message:
        'You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.',
      type: 'rate_limit_error',
      code: 'RESOURCE_EXHAUSTED',
      status: 429,
    });
    expect(parseGeminiError('<html>Bad Gateway</html>')).toEqual({ message: '<html>Bad Gateway</html>' });
  });
});

describe('gemini adapter: stream decoder', () => {
  it('decodes a text stream (CRLF framing, usage on the finish chunk), however the bytes are cut', () => {
    const text = fixture('stream-text.sse');
    const expected: StreamEvent[] = [
      { type: 'start', id: 'sFhXaL7kGrWrnvgPm4Wd-Ao', model: 'gemini-2.5-flash', created: CREATED },
      { type: 'text-start', index: 0 },
      { type: 'text-delta', index: 0, delta: 'AI learns' },
      { type: 'text-delta', index: 0, delta: ' patterns from data and uses them' },
      { type: 'text-delta', index: 0, delta: ' to make predictions.' },
      { type: 'text-end', index: 0 },
      { type: 'finish', finishReason: 'stop', rawFinishReason: 'STOP', usage: { inputTokens: 8, outputTokens: 12 } },
    ];
    expect(decodeSse(text)).toEqual(expected);
    expect(decodeSse(text, [1, 37, 300, 301, 302, 700])).toEqual(expected);
  });

  it('decodes thoughts and a whole function call with its signature', () => {
    expect(decodeSse(fixture('stream-function-call.sse'))).toEqual([
      { type: 'start', id: 'vFhXaMHnKZ2tnvgPsM3-gQ0', model: 'gemini-2.5-flash', created: CREATED },
      { type: 'reasoning-start', index: 0 },
      { type: 'reasoning-delta', index: 0, delta: '**Planning the answer**\n\nThe user wants the weather; I will call the tool.' },
      { type: 'reasoning-end', index: 0 },
      { type: 'reasoning-start', index: 1 },
      { type: 'reasoning-signature', index: 1, signature: 'CiQB0e2Kb6Hs2e3rSgRkeOLfbSRFuVvIAo6YWb1QkYg1/4lAI9Q=' },
      { type: 'reasoning-end', index: 1 },
      { type: 'tool-call-start', index: 2, id: 'call_vFhXaMHnKZ2tnvgPsM3-gQ0_0', name: 'get_current_weather' },
      { type: 'tool-call-delta', index: 2, argumentsDelta: '{"location":"Boston, MA"}' },
      { type: 'tool-call-end', index: 2 },
      { type: 'finish', finishReason: 'tool_calls', rawFinishReason: 'STOP', usage: { inputTokens: 71, outputTokens: 56, reasoningTokens: 39 } },
    ]);
  });

  it('keeps a trailing signature (Gemini 3 closes with an empty signed text part)', () => {
    expect(decodeSse(fixture('stream-signature-last.sse'))).toEqual([
      { type: 'start', id: 'ag4pavQTzLrj4Q-XkKnZBA', model: 'gemini-3-flash-preview', created: CREATED },
      { type: 'text-start', index: 0 },
      { type: 'text-delta', index: 0, delta: 'Four.' },
      { type: 'text-end', index: 0 },
      { type: 'reasoning-start', index: 1 },
      { type: 'reasoning-signature', index: 1, signature: 'EhsKGQHXKx9zhBDb3rPpO9u1Yy5c0q2bV7V1' },
      { type: 'reasoning-end', index: 1 },
      { type: 'finish', finishReason: 'stop', rawFinishReason: 'STOP', usage: { inputTokens: 51, outputTokens: 2 } },
    ]);
  });

  it('waits for usage that comes after the finish chunk', () => {
    const sse =
      'data: {"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"finishReason":"MAX_TOKENS","index":0}],"responseId":"r"}\r\n\r\n' +
      'data: {"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":4},"responseId":"r"}\r\n\r\n';
    expect(decodeSse(sse).slice(-2)).toEqual([
      { type: 'text-end', index: 0 },
      { type: 'finish', finishReason: 'length', rawFinishReason: 'MAX_TOKENS', usage: { inputTokens: 3, outputTokens: 1 } },
    ]);
  });

  it('turns an error event into an error, and a stream cut before finishReason into an error', () => {
    expect(decodeSse('data: {"error": {"code": 503,"message": "The model is overloaded. Please try again later.","status": "UNAVAILABLE"}}\r\n\r\n')).toEqual([
      { type: 'error', message: 'The model is overloaded. Please try again later.', errorType: 'server_error', status: 503 },
    ]);
    const cut = decodeSse('data: {"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"},"index":0}],"responseId":"r"}\r\n\r\n');
    expect(cut.slice(-2)).toEqual([
      { type: 'text-end', index: 0 },
      { type: 'error', message: 'Upstream stream ended before a finishReason.', status: 502, errorType: 'upstream_error' },
    ]);
    expect(decodeSse('data: {not json\r\n\r\n')).toEqual([{ type: 'error', message: 'Upstream sent a stream event that is not JSON: {not json', status: 502, errorType: 'upstream_error' }]);
  });

  it('gives the streamed and the non-streamed reading of one response the same tool call ids', () => {
    const body = JSON.parse(fixture('generate-content-function-call.json'));
    const ids = adapter.parseResult(body).content.flatMap((p) => (p.type === 'tool_call' ? [p.id] : []));
    const streamed = decodeSse(`data: ${JSON.stringify(body)}\r\n\r\n`).flatMap((e) => (e.type === 'tool-call-start' ? [e.id] : []));
    expect(streamed).toEqual(ids);
  });
});
