import { describe, expect, it } from 'vitest';
import type { ChatRequest } from '../../../src/core/canonical.ts';
import { GatewayError } from '../../../src/core/errors.ts';
import { openAICodec } from '../../../src/protocols/openai/openai-codec.ts';

const decode = (body: unknown, ctx?: { model?: string; stream?: boolean }): ChatRequest => openAICodec.decodeRequest(body, ctx);

function decodeError(body: unknown): GatewayError {
  try {
    decode(body);
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected a GatewayError');
}

describe('openAICodec.decodeRequest', () => {
  it('maps a minimal request', () => {
    expect(decode({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'Hello' }] })).toEqual({
      model: 'claude-sonnet',
      system: [],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }],
      stream: false,
    });
  });

  it('moves every system and developer message into system, in order', () => {
    const req = decode({
      model: 'm',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }, { type: 'text', text: 'No emoji.' }] },
        { role: 'user', content: 'Hi', name: 'alice' },
        { role: 'system', content: 'Late instruction.' },
        { role: 'system', content: '' },
      ],
    });
    expect(req.system).toEqual([
      { type: 'text', text: 'Be brief.' },
      { type: 'text', text: 'Answer in French.' },
      { type: 'text', text: 'No emoji.' },
      { type: 'text', text: 'Late instruction.' },
    ]);
    expect(req.messages).toEqual([{ role: 'user', name: 'alice', content: [{ type: 'text', text: 'Hi' }] }]);
  });

  it('maps text and image parts: data URLs to base64, http URLs to url, detail kept', () => {
    const req = decode({
      model: 'm',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in these?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'high' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
            { type: 'image_url', image_url: { url: 'data:image/svg+xml,%3Csvg%2F%3E', detail: null } },
          ],
        },
      ],
    });
    expect(req.messages[0]?.content).toEqual([
      { type: 'text', text: 'What is in these?' },
      { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: 'iVBORw0KGgo=' }, detail: 'high' },
      { type: 'image', source: { kind: 'url', url: 'https://example.com/cat.jpg' } },
      { type: 'image', source: { kind: 'base64', mediaType: 'image/svg+xml', data: Buffer.from('<svg/>').toString('base64') } },
    ]);
  });

  it('maps a tool-call conversation across turns, with tool names on the results', () => {
    const req = decode({
      model: 'm',
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: null,
          reasoning_content: 'Two cities: two calls.',
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '18C' },
        { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: '24C' }, { type: 'text', text: 'sunny' }] },
        { role: 'assistant', content: 'Paris 18C, Rome 24C.' },
        { role: 'user', content: 'Thanks' },
      ],
    });
    expect(req.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Rome?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'reasoning', text: 'Two cities: two calls.' },
          { type: 'tool_call', id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
          { type: 'tool_call', id: 'call_2', name: 'get_weather', arguments: '{"city":"Rome"}' },
        ],
      },
      {
        role: 'tool',
        content: [
          { type: 'tool_result', toolCallId: 'call_1', name: 'get_weather', content: [{ type: 'text', text: '18C' }] },
          {
            type: 'tool_result',
            toolCallId: 'call_2',
            name: 'get_weather',
            content: [
              { type: 'text', text: '24C' },
              { type: 'text', text: 'sunny' },
            ],
          },
        ],
      },
      { role: 'assistant', content: [{ type: 'text', text: 'Paris 18C, Rome 24C.' }] },
      { role: 'user', content: [{ type: 'text', text: 'Thanks' }] },
    ]);
  });

  it('maps assistant text parts and refusals to text', () => {
    const req = decode({
      model: 'm',
      messages: [
        { role: 'user', content: 'x' },
        { role: 'assistant', content: [{ type: 'text', text: 'A' }, { type: 'refusal', refusal: 'B' }] },
        { role: 'assistant', content: null, refusal: 'I cannot help with that.' },
      ],
    });
    expect(req.messages.slice(1)).toEqual([
      { role: 'assistant', content: [{ type: 'text', text: 'A' }, { type: 'text', text: 'B' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'I cannot help with that.' }] },
    ]);
  });

  it('maps every sampling, tool and format parameter', () => {
    const req = decode({
      model: 'm',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 50,
      max_completion_tokens: 100,
      temperature: 0.2,
      top_p: 0.9,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      seed: 42,
      n: 1,
      user: 'u-1',
      stop: 'END',
      tools: [
        {
          type: 'function',
          function: { name: 'get_weather', description: 'Weather by city', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: true },
        },
        { type: 'function', function: { name: 'now' } },
      ],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      parallel_tool_calls: false,
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' }, strict: true } },
      reasoning_effort: 'low',
      logprobs: false,
    });
    expect(req).toEqual({
      model: 'm',
      system: [],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }],
      stream: true,
      streamUsage: true,
      maxTokens: 100,
      temperature: 0.2,
      topP: 0.9,
      presencePenalty: 0.5,
      frequencyPenalty: -0.5,
      seed: 42,
      n: 1,
      user: 'u-1',
      stop: ['END'],
      tools: [
        { name: 'get_weather', description: 'Weather by city', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: true },
        { name: 'now', parameters: { type: 'object', properties: {} } },
      ],
      toolChoice: { type: 'tool', name: 'get_weather' },
      parallelToolCalls: false,
      responseFormat: { type: 'json_schema', name: 'answer', schema: { type: 'object' }, strict: true },
      reasoning: { effort: 'low' },
    } satisfies ChatRequest);
  });

  it('maps the small variants: stop array, string tool_choice, json_object, effort none, stream without usage', () => {
    const base = { model: 'm', messages: [{ role: 'user', content: 'x' }] };
    expect(decode({ ...base, stop: ['a', 'b'] }).stop).toEqual(['a', 'b']);
    expect(decode({ ...base, tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: 'required' }).toolChoice).toEqual({ type: 'required' });
    expect(decode({ ...base, response_format: { type: 'json_object' } }).responseFormat).toEqual({ type: 'json_object' });
    expect(decode({ ...base, reasoning_effort: 'none' }).reasoning).toEqual({ enabled: false });
    expect(decode({ ...base, max_tokens: 7 }).maxTokens).toBe(7);
    const streamed = decode({ ...base, stream: true });
    expect([streamed.stream, streamed.streamUsage]).toEqual([true, false]);
    expect(decode(base, { model: 'from-url', stream: true })).toMatchObject({ model: 'from-url', stream: true });
  });

  it('maps the legacy functions / function_call fields, pairing function results with their calls', () => {
    const req = decode({
      model: 'm',
      messages: [
        { role: 'user', content: 'Weather?' },
        { role: 'assistant', content: null, function_call: { name: 'get_weather', arguments: '{}' } },
        { role: 'function', name: 'get_weather', content: 'rain' },
      ],
      functions: [{ name: 'get_weather', parameters: { type: 'object', properties: {} } }],
      function_call: { name: 'get_weather' },
    });
    expect(req.tools).toEqual([{ name: 'get_weather', parameters: { type: 'object', properties: {} } }]);
    expect(req.toolChoice).toEqual({ type: 'tool', name: 'get_weather' });
    expect(req.messages.slice(1)).toEqual([
      { role: 'assistant', content: [{ type: 'tool_call', id: 'call_legacy_1', name: 'get_weather', arguments: '{}' }] },
      { role: 'tool', content: [{ type: 'tool_result', toolCallId: 'call_legacy_1', name: 'get_weather', content: [{ type: 'text', text: 'rain' }] }] },
    ]);
  });

  it('rejects what it cannot convert, naming the parameter', () => {
    const audio = decodeError({
      model: 'm',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }, { type: 'input_audio', input_audio: { data: 'AAA', format: 'wav' } }] }],
    });
    expect([audio.status, audio.type, audio.param, audio.publicCode]).toEqual([400, 'invalid_request_error', 'messages[0].content[1].type', 'unsupported_value']);
    expect(decodeError({ model: 'm', messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'f' } }] }] }).param).toBe('messages[0].content[0].type');
  });

  it('reports malformed fields with OpenAI-style param paths', () => {
    const missing = decodeError({ model: 'm', messages: [{ role: 'tool', content: 'x' }] });
    expect([missing.status, missing.message, missing.param, missing.publicCode]).toEqual([
      400,
      "Missing required parameter: 'messages[0].tool_call_id'.",
      'messages[0].tool_call_id',
      'missing_required_parameter',
    ]);
    const badType = decodeError({ model: 'm', messages: [{ role: 'user', content: 'x' }], temperature: 'hot' });
    expect([badType.param, badType.publicCode]).toEqual(['temperature', 'invalid_type']);
    const badRole = decodeError({ model: 'm', messages: [{ role: 'user', content: 'x' }, { role: 'robot', content: 'x' }] });
    expect([badRole.param, badRole.publicCode]).toEqual(['messages[1].role', 'invalid_value']);
    const badPart = decodeError({ model: 'm', messages: [{ role: 'user', content: [{ type: 'video', url: 'x' }] }] });
    expect(badPart.param).toBe('messages[0].content[0].type');
  });

  it('keeps the existing validation of model and messages', () => {
    expect(decodeError({ messages: [] }).param).toBe('model');
    expect(decodeError({ model: 'm', messages: [] }).publicCode).toBe('empty_array');
  });
});
