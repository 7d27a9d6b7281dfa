import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatResult, StreamEvent } from '../../../src/core/canonical.ts';
import { openAICodec } from '../../../src/protocols/openai/openai-codec.ts';

/**
 * Serves what the codec encodes to the official openai client, whose own
 * accumulation and validation (finish_reason, tool call fields, SSE framing)
 * prove the output well-formed.
 */
interface Reply {
  status?: number;
  json?: unknown;
  sse?: string;
}

let server: Server;
let client: OpenAI;
let reply: Reply = {};
const received: unknown[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      received.push(JSON.parse(raw));
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
  client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'sk-test', maxRetries: 0 });
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function encodeStream(events: StreamEvent[], streamUsage: boolean): string {
  const enc = openAICodec.createStreamEncoder({ model: 'my-alias', requestId: 'req_1', streamUsage });
  return events.map((e) => enc.encode(e)).join('') + enc.end();
}

const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
];

describe('openai SDK consumes the OpenAI codec output', () => {
  it('stream helper accumulates text, parallel tool calls and usage into a complete chat.completion', async () => {
    reply = {
      sse: encodeStream(
        [
          { type: 'start', id: 'msg_1', model: 'claude-sonnet', created: 1700000000 },
          { type: 'reasoning-start', index: 0 },
          { type: 'reasoning-delta', index: 0, delta: 'Two cities.' },
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
          { type: 'finish', finishReason: 'tool_calls', usage: { inputTokens: 40, cachedInputTokens: 8, outputTokens: 30 } },
        ],
        true,
      ),
    };
    const stream = client.chat.completions.stream({
      model: 'my-alias',
      messages: [{ role: 'user', content: 'Weather in Paris and Rome?' }],
      tools,
      stream_options: { include_usage: true },
    });
    const deltas: string[] = [];
    const argsDone: string[] = [];
    stream.on('content.delta', ({ delta }) => deltas.push(delta));
    stream.on('tool_calls.function.arguments.done', ({ arguments: args }) => argsDone.push(args));
    const final = await stream.finalChatCompletion();

    expect(deltas).toEqual(['Let me ', 'check.']);
    expect(argsDone).toEqual(['{"city":"Paris"}', '{"city":"Rome"}']);
    expect(final).toMatchObject({
      id: 'chatcmpl-msg_1',
      object: 'chat.completion',
      created: 1700000000,
      model: 'my-alias',
      choices: [
        {
          index: 0,
          finish_reason: 'tool_calls',
          logprobs: null,
          message: {
            role: 'assistant',
            content: 'Let me check.',
            tool_calls: [
              { id: 'toolu_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
              { id: 'toolu_b', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
            ],
          },
        },
      ],
      usage: {
        prompt_tokens: 40,
        completion_tokens: 30,
        total_tokens: 70,
        prompt_tokens_details: { cached_tokens: 8 },
        completion_tokens_details: { reasoning_tokens: 0 },
      },
    });
    expect(received.at(-1)).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('stream helper works without usage, and iterating yields every chunk', async () => {
    reply = {
      sse: encodeStream(
        [
          { type: 'start', id: 'msg_2', model: 'gemini', created: 1700000001 },
          { type: 'text-start', index: 0 },
          { type: 'text-delta', index: 0, delta: 'Hi' },
          { type: 'text-end', index: 0 },
          { type: 'finish', finishReason: 'stop', usage: { inputTokens: 3, outputTokens: 1 } },
        ],
        false,
      ),
    };
    const stream = client.chat.completions.stream({ model: 'my-alias', messages: [{ role: 'user', content: 'Hi' }] });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    const final = await stream.finalChatCompletion();
    expect(chunks.map((c) => c.choices[0]?.finish_reason ?? null)).toEqual([null, null, 'stop']);
    expect(final.choices[0]?.message.content).toBe('Hi');
    expect(final.choices[0]?.finish_reason).toBe('stop');
    expect(final.usage).toBeUndefined();
  });

  it('surfaces an error event mid-stream as an APIError', async () => {
    const enc = openAICodec.createStreamEncoder({ model: 'my-alias', requestId: 'req_3', streamUsage: false });
    reply = {
      sse:
        enc.encode({ type: 'start', id: 'msg_3', model: 'claude', created: 1 }) +
        enc.encode({ type: 'text-delta', index: 0, delta: 'Par' }) +
        enc.encode({ type: 'error', message: 'Overloaded', errorType: 'overloaded_error' }) +
        enc.end(),
    };
    const stream = client.chat.completions.stream({ model: 'my-alias', messages: [{ role: 'user', content: 'x' }] });
    await expect(stream.finalChatCompletion()).rejects.toMatchObject({ message: 'Overloaded', type: 'overloaded_error' });
  });

  it('create() parses encodeResult output', async () => {
    const result: ChatResult = {
      id: 'msg_4',
      model: 'claude',
      created: 1700000004,
      content: [
        { type: 'text', text: 'Calling.' },
        { type: 'tool_call', id: 'toolu_c', name: 'get_weather', arguments: '{"city":"Oslo"}' },
      ],
      finishReason: 'tool_calls',
      usage: { inputTokens: 12, outputTokens: 9, reasoningTokens: 3 },
    };
    reply = { json: openAICodec.encodeResult(result, { model: 'my-alias', requestId: 'req_4' }) };
    const completion = await client.chat.completions.create({ model: 'my-alias', messages: [{ role: 'user', content: 'Oslo?' }], tools });
    expect(completion).toEqual({
      id: 'chatcmpl-msg_4',
      object: 'chat.completion',
      created: 1700000004,
      model: 'my-alias',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Calling.',
            refusal: null,
            tool_calls: [{ id: 'toolu_c', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }],
          },
          logprobs: null,
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 3 } },
    });
  });

  it('create() raises the encoded error body as an APIError with status, type and code', async () => {
    const { GatewayError } = await import('../../../src/core/errors.ts');
    const encoded = openAICodec.encodeError(new GatewayError('model_not_found', 'The model `x` does not exist.', { param: 'model' }));
    reply = { status: encoded.status, json: encoded.body };
    const err = await client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err).toMatchObject({ status: 404, type: 'invalid_request_error', code: 'model_not_found', param: 'model' });
  });
});
