import { describe, expect, it } from 'vitest';
import { SseParser } from '../../../src/core/sse.ts';
import { openAICodec } from '../../../src/protocols/openai/openai-codec.ts';
import { openAIAdapter } from '../../../src/providers/openai/openai-adapter.ts';

const target = { baseUrl: 'https://api.openai.com/v1', apiKey: 'k', upstreamModel: 'gpt-4o', headers: {} };

describe('OpenAI codec and adapter round trips', () => {
  it('a tool-call conversation across turns comes back out as the same OpenAI messages', () => {
    const messages = [
      { role: 'system', content: 'You are a weather bot.' },
      { role: 'user', content: 'Weather in Paris and Rome?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '18C' },
      { role: 'tool', tool_call_id: 'call_2', content: '24C' },
      { role: 'assistant', content: 'Paris 18C, Rome 24C.' },
      { role: 'user', content: [{ type: 'text', text: 'And this?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'auto' } }] },
    ];
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
    const clientBody = { model: 'alias', messages, tools, tool_choice: 'auto', stream: true, stream_options: { include_usage: true }, max_completion_tokens: 300 };

    const canonical = openAICodec.decodeRequest(clientBody);
    const sent = JSON.parse(openAIAdapter.buildRequest(canonical, target).body) as unknown;
    expect(sent).toEqual({ ...clientBody, model: 'gpt-4o' });
  });

  it('a non-stream completion comes back out as the same chat.completion', () => {
    const upstream = {
      id: 'chatcmpl-abc',
      object: 'chat.completion',
      created: 1700000000,
      model: 'alias',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: null,
            refusal: null,
            tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
          },
          logprobs: null,
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: 50, completion_tokens: 10, total_tokens: 60, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } },
    };
    expect(openAICodec.encodeResult(openAIAdapter.parseResult(upstream), { model: 'alias', requestId: 'r' })).toEqual(upstream);
  });

  it('a streamed tool call comes back out as the same chunks', () => {
    const head = { id: 'chatcmpl-s1', object: 'chat.completion.chunk', created: 1700000002, model: 'alias' };
    const c = (delta: unknown, finish_reason: string | null = null) =>
      `data: ${JSON.stringify({ ...head, choices: [{ index: 0, delta, logprobs: null, finish_reason }], usage: null })}\n\n`;
    const upstream =
      c({ role: 'assistant', content: '' }) +
      c({ content: 'Checking.' }) +
      c({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }) +
      c({ tool_calls: [{ index: 0, function: { arguments: '{"city"' } }] }) +
      c({ tool_calls: [{ index: 0, function: { arguments: ':"Paris"}' } }] }) +
      c({}, 'tool_calls') +
      `data: ${JSON.stringify({ ...head, choices: [], usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } } })}\n\n` +
      'data: [DONE]\n\n';

    const decoder = openAIAdapter.createStreamDecoder();
    const encoder = openAICodec.createStreamEncoder({ model: 'alias', requestId: 'r', streamUsage: true });
    let out = '';
    // Byte-sized pieces: the parser and decoder must not depend on event boundaries in the transport.
    const parser = new SseParser();
    for (let i = 0; i < upstream.length; i += 7) {
      for (const ev of parser.push(upstream.slice(i, i + 7))) for (const e of decoder.decode(ev)) out += encoder.encode(e);
    }
    for (const e of decoder.end()) out += encoder.encode(e);
    out += encoder.end();
    expect(out).toBe(upstream);
  });
});
