import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatResult, StreamEvent } from '../../../src/core/canonical.ts';
import { GatewayError } from '../../../src/core/errors.ts';
import { decodeResponsesRequest } from '../../../src/protocols/responses/decode-responses-request.ts';
import { encodeResponsesResult } from '../../../src/protocols/responses/encode-responses-result.ts';
import { extractResponsesEcho } from '../../../src/protocols/responses/responses-echo.ts';
import { ResponsesStreamEncoder } from '../../../src/protocols/responses/responses-stream-encoder.ts';

/**
 * Serves what the Responses codec encodes to the official openai client: its
 * stream accumulator (ResponseAccumulator) throws on events out of order or
 * pointing at missing items, so finalResponse() working proves the stream well-formed.
 */
let server: Server;
let client: OpenAI;
let answer: (body: unknown) => { sse?: string; json?: unknown; status?: number } = () => ({ json: {} });
const received: unknown[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      const body: unknown = JSON.parse(raw);
      received.push(body);
      const reply = answer(body);
      if (reply.sse !== undefined) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.end(reply.sse);
      } else {
        res.writeHead(reply.status ?? 200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(reply.json));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'x', maxRetries: 0 });
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const ctx = { model: 'my-alias', requestId: 'req_sdk', responseId: 'resp_sdk', createdAt: 1741290958 };

/** What the route does: decode (to prove the SDK's request decodes), then encode the canonical answer against the request's echo. */
function streamReply(events: StreamEvent[], extra?: (enc: ResponsesStreamEncoder) => string): (body: unknown) => { sse: string } {
  return (body) => {
    decodeResponsesRequest(body);
    const enc = new ResponsesStreamEncoder({ ...ctx, echo: extractResponsesEcho(body) });
    return { sse: events.map((e) => enc.encode(e)).join('') + (extra ? extra(enc) : '') + enc.end() };
  };
}

const tools: OpenAI.Responses.Tool[] = [
  { type: 'function', name: 'get_weather', description: 'Weather now', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false }, strict: true },
  { type: 'web_search_preview' },
];

describe('openai SDK consumes the Responses codec output', () => {
  it('responses.stream().finalResponse() accumulates reasoning, text, tool calls and usage', async () => {
    answer = streamReply([
      { type: 'start', id: 'msg_1', model: 'claude-sonnet', created: 1700000000 },
      { type: 'reasoning-start', index: 0 },
      { type: 'reasoning-delta', index: 0, delta: 'Two cities.' },
      { type: 'reasoning-signature', index: 0, signature: 'sig-1' },
      { type: 'reasoning-end', index: 0 },
      { type: 'text-start', index: 1 },
      { type: 'text-delta', index: 1, delta: 'Let me ' },
      { type: 'text-delta', index: 1, delta: 'check.' },
      { type: 'text-end', index: 1 },
      { type: 'tool-call-start', index: 2, id: 'toolu_a', name: 'get_weather' },
      { type: 'tool-call-delta', index: 2, argumentsDelta: '{"city":' },
      { type: 'tool-call-delta', index: 2, argumentsDelta: '"Paris"}' },
      { type: 'tool-call-end', index: 2 },
      { type: 'tool-call-start', index: 3, id: 'toolu_b', name: 'get_weather' },
      { type: 'tool-call-delta', index: 3, argumentsDelta: '{"city":"Rome"}' },
      { type: 'tool-call-end', index: 3 },
      { type: 'finish', finishReason: 'tool_calls', usage: { inputTokens: 40, cachedInputTokens: 8, outputTokens: 30, reasoningTokens: 5 } },
    ]);
    const stream = client.responses.stream({ model: 'my-alias', instructions: 'Be brief.', input: 'Weather in Paris and Rome?', tools, reasoning: { effort: 'low', summary: 'auto' } });
    const deltas: string[] = [];
    stream.on('response.output_text.delta', (e) => deltas.push(e.snapshot));
    const final = await stream.finalResponse();

    expect(deltas).toEqual(['Let me ', 'Let me check.']);
    expect(final.id).toBe('resp_sdk');
    expect(final.status).toBe('completed');
    expect(final.output_text).toBe('Let me check.');
    expect(final.instructions).toBe('Be brief.');
    expect(final.tools.map((t) => t.type)).toEqual(['function']);
    // The stream helper adds `parsed` / `parsed_arguments` of its own for strict tools.
    expect(final.output).toMatchObject([
      { id: 'rs_sdk_0', type: 'reasoning', summary: [{ type: 'summary_text', text: 'Two cities.' }], encrypted_content: 'sig-1' },
      { id: 'msg_sdk_1', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Let me check.', annotations: [], logprobs: [] }] },
      { id: 'fc_sdk_2', type: 'function_call', status: 'completed', arguments: '{"city":"Paris"}', call_id: 'toolu_a', name: 'get_weather' },
      { id: 'fc_sdk_3', type: 'function_call', status: 'completed', arguments: '{"city":"Rome"}', call_id: 'toolu_b', name: 'get_weather' },
    ]);
    expect(final.usage).toEqual({
      input_tokens: 40,
      input_tokens_details: { cached_tokens: 8, cache_write_tokens: 0 },
      output_tokens: 30,
      output_tokens_details: { reasoning_tokens: 5 },
      total_tokens: 70,
    });
  });

  it('responses.create({ stream: true }) yields every event with increasing sequence numbers', async () => {
    answer = streamReply([
      { type: 'text-delta', index: 0, delta: 'Hi' },
      { type: 'finish', finishReason: 'length', usage: { inputTokens: 3, outputTokens: 1 } },
    ]);
    const stream = await client.responses.create({ model: 'my-alias', input: 'Hello', max_output_tokens: 1, stream: true });
    const seen: Array<[string, number]> = [];
    for await (const ev of stream) seen.push([ev.type, ev.sequence_number]);
    expect(seen.map(([t]) => t)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.incomplete',
    ]);
    expect(seen.map(([, n]) => n)).toEqual(seen.map((_, i) => i));
  });

  it('responses.stream() rejects on an error mid-stream', async () => {
    answer = streamReply([{ type: 'text-delta', index: 0, delta: 'Hel' }], (enc) => enc.encodeError(new GatewayError('upstream_timeout', 'Upstream timed out.', { publicCode: 'upstream_timeout' })));
    const stream = client.responses.stream({ model: 'my-alias', input: 'Hello' });
    await expect(stream.finalResponse()).rejects.toMatchObject({ type: 'error', code: 'upstream_timeout', message: 'Upstream timed out.' });
  });

  it('responses.create() reads a non-stream Response: output_text, function calls and usage', async () => {
    const result: ChatResult = {
      id: 'x',
      model: 'gemini-2.5',
      created: 1700000000,
      content: [
        { type: 'text', text: 'Calling.' },
        { type: 'tool_call', id: 'call_1', name: 'get_weather', arguments: '{"city":"Oslo"}' },
      ],
      finishReason: 'tool_calls',
      usage: { inputTokens: 20, outputTokens: 10 },
    };
    answer = (body) => ({ json: encodeResponsesResult(result, { ...ctx, echo: extractResponsesEcho(body) }) });
    const res = await client.responses.create({ model: 'my-alias', input: [{ role: 'user', content: 'Weather in Oslo?' }], tools, tool_choice: 'auto', store: false });
    expect(res.output_text).toBe('Calling.');
    // `store` is on the wire (OpenAI sends it) though the SDK's Response type leaves it out.
    expect((res as unknown as { store: boolean }).store).toBe(false);
    const calls = res.output.filter((o): o is OpenAI.Responses.ResponseFunctionToolCall => o.type === 'function_call');
    expect(calls.map((c) => [c.call_id, c.name, JSON.parse(c.arguments)])).toEqual([['call_1', 'get_weather', { city: 'Oslo' }]]);
    expect(res.usage?.total_tokens).toBe(30);
    expect(received.at(-1)).toMatchObject({ model: 'my-alias', store: false });
  });

  it('a follow-up turn the SDK builds from a response (output items + function_call_output) decodes', async () => {
    const result: ChatResult = {
      id: 'x',
      model: 'm',
      created: 1,
      content: [
        { type: 'reasoning', text: 'Need weather.', signature: 'sig' },
        { type: 'tool_call', id: 'call_1', name: 'get_weather', arguments: '{"city":"Oslo"}' },
      ],
      finishReason: 'tool_calls',
    };
    answer = () => ({ json: encodeResponsesResult(result, ctx) });
    const first = await client.responses.create({ model: 'my-alias', input: 'Weather in Oslo?', tools });
    let decoded: ReturnType<typeof decodeResponsesRequest> | undefined;
    answer = (body) => {
      decoded = decodeResponsesRequest(body);
      return { json: encodeResponsesResult({ ...result, content: [{ type: 'text', text: 'It is 3C.' }], finishReason: 'stop' }, ctx) };
    };
    const second = await client.responses.create({
      model: 'my-alias',
      input: [{ role: 'user', content: 'Weather in Oslo?' }, ...(first.output as OpenAI.Responses.ResponseInputItem[]), { type: 'function_call_output', call_id: 'call_1', output: '3C' }],
      tools,
    });
    expect(second.output_text).toBe('It is 3C.');
    expect(decoded?.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Oslo?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'reasoning', text: 'Need weather.', signature: 'sig' },
          { type: 'tool_call', id: 'call_1', name: 'get_weather', arguments: '{"city":"Oslo"}' },
        ],
      },
      { role: 'tool', content: [{ type: 'tool_result', toolCallId: 'call_1', name: 'get_weather', content: [{ type: 'text', text: '3C' }] }] },
    ]);
  });
});
