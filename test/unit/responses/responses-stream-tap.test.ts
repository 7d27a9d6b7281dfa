import { describe, expect, it } from 'vitest';
import type { ChatResult, StreamEvent } from '../../../src/core/canonical.ts';
import { SseParser, type SseEvent } from '../../../src/core/sse.ts';
import { encodeResponsesResult } from '../../../src/protocols/responses/encode-responses-result.ts';
import { ResponsesStreamEncoder } from '../../../src/protocols/responses/responses-stream-encoder.ts';
import {
  collectResponsesResultText,
  extractResponsesUsage,
  isResponsesStreamError,
  parseResponsesStreamError,
  ResponsesStreamTap,
} from '../../../src/providers/openai/responses-stream-tap.ts';

const ctx = { model: 'gpt-4.1', requestId: 'req_t', responseId: 'resp_t', createdAt: 1 };

/** A native Responses stream, as an OpenAI upstream sends it (the encoder writes the same wire format). */
function upstreamStream(events: StreamEvent[]): string {
  const enc = new ResponsesStreamEncoder(ctx);
  return events.map((e) => enc.encode(e)).join('') + enc.end();
}

const stream = upstreamStream([
  { type: 'reasoning-delta', index: 0, delta: 'Think.' },
  { type: 'text-delta', index: 1, delta: 'Hello' },
  { type: 'tool-call-start', index: 2, id: 'call_1', name: 'lookup' },
  { type: 'tool-call-delta', index: 2, argumentsDelta: '{"q":1}' },
  { type: 'finish', finishReason: 'tool_calls', usage: { inputTokens: 11, cachedInputTokens: 3, outputTokens: 7, reasoningTokens: 2 } },
]);

const parse = (text: string): SseEvent[] => new SseParser().push(text);

describe('ResponsesStreamTap', () => {
  it('forwards every event unchanged and reads usage from response.completed', () => {
    const tap = new ResponsesStreamTap();
    const events = parse(stream);
    expect(tap.process(events.slice(0, 2))).toBe(events[0].raw + events[1].raw);
    // response.created carries `usage: null`, and nothing generated yet.
    expect(tap.sawContent).toBe(false);
    expect(tap.usage).toBeUndefined();
    expect(tap.process(events.slice(2))).toBe(events.slice(2).map((e) => e.raw).join(''));
    expect(tap.sawContent).toBe(true);
    expect(tap.sawEnd).toBe(true);
    expect(tap.usage).toEqual({ inputTokens: 11, cachedInputTokens: 3, outputTokens: 7, reasoningTokens: 2 });
    expect(tap.generatedText()).toBe('Think.Hellolookup{"q":1}');
  });

  it('reads usage from response.incomplete and response.failed too', () => {
    for (const type of ['response.incomplete', 'response.failed']) {
      const tap = new ResponsesStreamTap();
      tap.process(parse(`event: ${type}\ndata: {"type":"${type}","sequence_number":9,"response":{"id":"resp_1","status":"x","usage":{"input_tokens":4,"output_tokens":5,"total_tokens":9}}}\n\n`));
      expect(tap.usage).toEqual({ inputTokens: 4, outputTokens: 5 });
    }
  });

  it('reads servers that send no event lines by the type in the data', () => {
    const tap = new ResponsesStreamTap();
    const noEventLines = parse(stream)
      .map((e) => `data: ${e.data}\n\n`)
      .join('');
    tap.process(parse(noEventLines));
    expect(tap.usage?.inputTokens).toBe(11);
    expect(tap.generatedText()).toBe('Think.Hellolookup{"q":1}');
  });

  it('lets chunks without a terminal event pass unread, and still estimates from them', () => {
    const tap = new ResponsesStreamTap();
    const events = parse(stream);
    const last = events.length - 1;
    const head = Buffer.from(events.slice(0, last).map((e) => e.raw).join(''));
    expect(tap.passesUnread(head)).toBe(true);
    tap.keepRaw(head);
    expect(tap.sawContent).toBe(true);
    const tail = Buffer.from(events[last].raw);
    expect(tap.passesUnread(tail)).toBe(false);
    tap.process([events[last]]);
    expect(tap.usage?.outputTokens).toBe(7);
    expect(tap.generatedText()).toBe('Think.Hellolookup{"q":1}');
  });
});

describe('isResponsesStreamError / parseResponsesStreamError', () => {
  const error = parse('event: error\ndata: {"type":"error","sequence_number":0,"code":"rate_limit_exceeded","message":"Slow down","param":null}\n\n')[0];
  const failed = parse(
    'event: response.failed\ndata: {"type":"response.failed","sequence_number":1,"response":{"id":"resp_1","status":"failed","error":{"code":"server_error","message":"The model failed."}}}\n\n',
  )[0];
  const body = parse('data: {"error":{"message":"Invalid key","type":"invalid_request_error","code":"invalid_api_key","param":null}}\n\n')[0];
  const created = parse(stream)[0];

  it('recognises error events, response.failed and OpenAI error bodies, not the response starting', () => {
    expect([error, failed, body, created].map(isResponsesStreamError)).toEqual([true, true, true, false]);
  });

  it('reads their message and code', () => {
    expect(parseResponsesStreamError(error.data)).toEqual({ message: 'Slow down', code: 'rate_limit_exceeded', param: null, type: undefined });
    expect(parseResponsesStreamError(failed.data)).toEqual({ message: 'The model failed.', code: 'server_error' });
    expect(parseResponsesStreamError(body.data)).toEqual({ message: 'Invalid key', type: 'invalid_request_error', code: 'invalid_api_key', param: null });
    expect(parseResponsesStreamError('not json')).toEqual({ message: 'not json' });
  });
});

describe('non-stream Responses bodies', () => {
  const result: ChatResult = {
    id: 'x',
    model: 'm',
    created: 1,
    content: [
      { type: 'reasoning', text: 'Hmm.' },
      { type: 'text', text: 'Answer.' },
      { type: 'tool_call', id: 'c', name: 'f', arguments: '{"a":1}' },
    ],
    finishReason: 'tool_calls',
    usage: { inputTokens: 9, cachedInputTokens: 1, cacheWriteTokens: 2, outputTokens: 4, reasoningTokens: 1 },
  };
  const body: unknown = JSON.parse(JSON.stringify(encodeResponsesResult(result, ctx)));

  it('extractResponsesUsage reads a Response or a terminal event', () => {
    expect(extractResponsesUsage(body)).toEqual({ inputTokens: 9, cachedInputTokens: 1, cacheWriteTokens: 2, outputTokens: 4, reasoningTokens: 1 });
    expect(extractResponsesUsage({ type: 'response.completed', response: body })).toEqual(extractResponsesUsage(body));
    expect(extractResponsesUsage({ usage: null })).toBeUndefined();
    expect(extractResponsesUsage('x')).toBeUndefined();
  });

  it('collectResponsesResultText gathers reasoning, text and calls', () => {
    expect(collectResponsesResultText(body)).toBe('Hmm.Answer.f{"a":1}');
    expect(collectResponsesResultText({ output: [{ type: 'message', content: [{ type: 'refusal', refusal: 'No.' }] }] })).toBe('No.');
    expect(collectResponsesResultText(null)).toBe('');
  });
});
