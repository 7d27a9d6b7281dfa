import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../../src/core/canonical.ts';
import { SseParser } from '../../../src/core/sse.ts';
import { AnthropicStreamDecoder } from '../../../src/providers/anthropic/anthropic-stream-decoder.ts';

const now = () => 1_700_000_000_000;

function decodeText(sse: string, opts: { end?: boolean } = {}): StreamEvent[] {
  const parser = new SseParser();
  const decoder = new AnthropicStreamDecoder(now);
  const events = parser.push(sse);
  const rest = parser.flush();
  if (rest) events.push(rest);
  const out = events.flatMap((e) => decoder.decode(e));
  if (opts.end !== false) out.push(...decoder.end());
  return out;
}

const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/anthropic/${name}`, import.meta.url), 'utf8');

function ev(type: string, data: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
}

describe('AnthropicStreamDecoder', () => {
  it('decodes the documented basic text stream', () => {
    expect(decodeText(fixture('stream-text.sse'))).toEqual([
      { type: 'start', id: 'msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY', model: 'claude-sonnet-4-5-20250929', created: 1_700_000_000, usage: { inputTokens: 25 } },
      { type: 'text-start', index: 0 },
      { type: 'text-delta', index: 0, delta: 'Hello' },
      { type: 'text-delta', index: 0, delta: '!' },
      { type: 'text-end', index: 0 },
      { type: 'finish', finishReason: 'stop', rawFinishReason: 'end_turn', usage: { inputTokens: 25, outputTokens: 15 } },
    ]);
  });

  it('decodes the documented tool use stream into a text block and a tool call with streamed arguments', () => {
    const out = decodeText(fixture('stream-tool-use.sse'));
    const text = out.filter((e): e is Extract<StreamEvent, { type: 'text-delta' }> => e.type === 'text-delta').map((e) => e.delta);
    expect(text.join('')).toBe("Okay, let's check the weather for San Francisco, CA:");
    expect(out.filter((e) => e.type !== 'text-delta')).toEqual([
      { type: 'start', id: 'msg_014p7gG3wDgGV9EUtLvnow3U', model: 'claude-sonnet-4-5-20250929', created: 1_700_000_000, usage: { inputTokens: 472 } },
      { type: 'text-start', index: 0 },
      { type: 'text-end', index: 0 },
      { type: 'tool-call-start', index: 1, id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather' },
      { type: 'tool-call-delta', index: 1, argumentsDelta: '{"location":' },
      { type: 'tool-call-delta', index: 1, argumentsDelta: ' "San' },
      { type: 'tool-call-delta', index: 1, argumentsDelta: ' Francisc' },
      { type: 'tool-call-delta', index: 1, argumentsDelta: 'o,' },
      { type: 'tool-call-delta', index: 1, argumentsDelta: ' CA"' },
      { type: 'tool-call-delta', index: 1, argumentsDelta: ', ' },
      { type: 'tool-call-delta', index: 1, argumentsDelta: '"unit": "fah' },
      { type: 'tool-call-delta', index: 1, argumentsDelta: 'renheit"}' },
      { type: 'tool-call-end', index: 1 },
      { type: 'finish', finishReason: 'tool_calls', rawFinishReason: 'tool_use', usage: { inputTokens: 472, outputTokens: 89 } },
    ]);
  });

  it('decodes the documented thinking stream (no usage in it), with the signature', () => {
    const out = decodeText(fixture('stream-thinking.sse'));
    expect(out[0]).toEqual({ type: 'start', id: 'msg_01...', model: 'claude-sonnet-4-5-20250929', created: 1_700_000_000 });
    expect(out.slice(1, 3)).toEqual([
      { type: 'reasoning-start', index: 0 },
      { type: 'reasoning-delta', index: 0, delta: 'Let me solve this step by step:\n\n1. First break down 27 * 453' },
    ]);
    expect(out.slice(-6)).toEqual([
      { type: 'reasoning-signature', index: 0, signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds...' },
      { type: 'reasoning-end', index: 0 },
      { type: 'text-start', index: 1 },
      { type: 'text-delta', index: 1, delta: '27 * 453 = 12,231' },
      { type: 'text-end', index: 1 },
      { type: 'finish', finishReason: 'stop', rawFinishReason: 'end_turn' },
    ]);
  });

  it('turns the documented error event into a canonical error with the status Anthropic uses for it', () => {
    expect(decodeText(fixture('stream-error.sse'))).toEqual([{ type: 'error', message: 'Overloaded', status: 529, errorType: 'overloaded_error' }]);
    expect(decodeText(ev('error', { error: { type: 'rate_limit_error', message: 'slow down' } }))).toEqual([
      { type: 'error', message: 'slow down', status: 429, errorType: 'rate_limit_error' },
    ]);
  });

  it('takes cumulative usage from message_delta over message_start, with cache reads and writes', () => {
    const sse =
      ev('message_start', {
        message: { id: 'msg_1', model: 'm', content: [], usage: { input_tokens: 10, cache_creation_input_tokens: 100, cache_read_input_tokens: 1000, output_tokens: 1 } },
      }) +
      ev('message_delta', { delta: { stop_reason: 'max_tokens', stop_sequence: null }, usage: { output_tokens: 50 } }) +
      ev('message_delta', { delta: { stop_reason: 'max_tokens', stop_sequence: null }, usage: { input_tokens: 12, output_tokens: 64, output_tokens_details: { thinking_tokens: 40 } } }) +
      ev('message_stop', {});
    expect(decodeText(sse)).toEqual([
      { type: 'start', id: 'msg_1', model: 'm', created: 1_700_000_000, usage: { inputTokens: 1110, cachedInputTokens: 1000, cacheWriteTokens: 100 } },
      {
        type: 'finish',
        finishReason: 'length',
        rawFinishReason: 'max_tokens',
        usage: { inputTokens: 1112, cachedInputTokens: 1000, cacheWriteTokens: 100, outputTokens: 64, reasoningTokens: 40 },
      },
    ]);
  });

  it('handles redacted thinking, server-tool blocks, unknown events and a filled tool input', () => {
    const sse =
      ev('message_start', { message: { id: 'msg_2', model: 'm', content: [] } }) +
      ev('content_block_start', { index: 0, content_block: { type: 'redacted_thinking', data: 'EmwK' } }) +
      ev('content_block_stop', { index: 0 }) +
      ev('content_block_start', { index: 1, content_block: { type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: {} } }) +
      ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '{"query":"x"}' } }) +
      ev('content_block_stop', { index: 1 }) +
      ev('some_future_event', { anything: true }) +
      ev('content_block_start', { index: 2, content_block: { type: 'tool_use', id: 'toolu_9', name: 'f', input: { a: 1 } } }) +
      ev('content_block_stop', { index: 2 }) +
      ev('content_block_start', { index: 3, content_block: { type: 'text', text: '' } }) +
      ev('content_block_delta', { index: 3, delta: { type: 'citations_delta', citation: { type: 'char_location' } } }) +
      ev('content_block_delta', { index: 3, delta: { type: 'text_delta', text: 'ok' } }) +
      ev('content_block_stop', { index: 3 }) +
      ev('message_delta', { delta: { stop_reason: 'pause_turn' }, usage: { output_tokens: 3 } }) +
      ev('message_stop', {});
    expect(decodeText(sse)).toEqual([
      { type: 'start', id: 'msg_2', model: 'm', created: 1_700_000_000 },
      { type: 'reasoning-start', index: 0, redactedData: 'EmwK' },
      { type: 'reasoning-end', index: 0 },
      { type: 'tool-call-start', index: 2, id: 'toolu_9', name: 'f' },
      { type: 'tool-call-delta', index: 2, argumentsDelta: '{"a":1}' },
      { type: 'tool-call-end', index: 2 },
      { type: 'text-start', index: 3 },
      { type: 'text-delta', index: 3, delta: 'ok' },
      { type: 'text-end', index: 3 },
      { type: 'finish', finishReason: 'other', rawFinishReason: 'pause_turn', usage: { inputTokens: 0, outputTokens: 3 } },
    ]);
  });

  it('is robust to deltas without a block start and to a stream cut before message_stop', () => {
    const sse = ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hi' } });
    expect(decodeText(sse)).toEqual([
      { type: 'start', id: '', model: '', created: 1_700_000_000 },
      { type: 'text-start', index: 0 },
      { type: 'text-delta', index: 0, delta: 'Hi' },
      { type: 'error', message: 'Upstream stream ended before message_stop.', status: 502, errorType: 'upstream_error' },
    ]);
    // message_delta arrived: only message_stop is missing, which is not worth failing the answer over.
    const cut = ev('message_start', { message: { id: 'msg_3', model: 'm', content: [] } }) + ev('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 2 } });
    expect(decodeText(cut).slice(-1)).toEqual([{ type: 'finish', finishReason: 'stop', rawFinishReason: 'end_turn', usage: { inputTokens: 0, outputTokens: 2 } }]);
  });

  it('reports malformed events as errors and ignores everything after an error', () => {
    expect(decodeText('event: message_start\ndata: {not json\n\n', { end: false })).toEqual([
      { type: 'error', message: 'Upstream sent a stream event that is not JSON: {not json', status: 502, errorType: 'upstream_error' },
    ]);
    const decoder = new AnthropicStreamDecoder(now);
    expect(decoder.decode({ event: 'content_block_delta', data: '{"type":"content_block_delta","index":"x"}', raw: '' })[0]).toMatchObject({ type: 'error', status: 502 });
    expect(decoder.decode({ event: 'message_stop', data: '{"type":"message_stop"}', raw: '' })).toEqual([]);
    expect(decoder.end()).toEqual([]);
  });
});
