import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../../src/core/canonical.ts';
import { GatewayError } from '../../../src/core/errors.ts';
import { anthropicCodec } from '../../../src/protocols/anthropic/anthropic-codec.ts';

const ctx = { model: 'my-alias', requestId: 'req1', streamUsage: true };

function encodeAll(events: StreamEvent[]): string {
  const encoder = anthropicCodec.createStreamEncoder(ctx);
  return events.map((e) => encoder.encode(e)).join('') + encoder.end();
}

function ev(type: string, data: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
}

const messageStart = (id: string, usage = { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }) =>
  ev('message_start', { message: { id, type: 'message', role: 'assistant', model: 'my-alias', content: [], stop_reason: null, stop_sequence: null, usage } });

describe('AnthropicStreamEncoder', () => {
  it('writes the exact Anthropic event sequence for thinking, text and a tool call', () => {
    const out = encodeAll([
      { type: 'start', id: 'msg_01abc', model: 'claude', created: 1, usage: { inputTokens: 120, cachedInputTokens: 100 } },
      { type: 'reasoning-start', index: 0 },
      { type: 'reasoning-delta', index: 0, delta: 'Hmm.' },
      { type: 'reasoning-signature', index: 0, signature: 'sig' },
      { type: 'reasoning-end', index: 0 },
      { type: 'text-start', index: 1 },
      { type: 'text-delta', index: 1, delta: 'Hello' },
      { type: 'text-delta', index: 1, delta: '!' },
      { type: 'text-end', index: 1 },
      { type: 'tool-call-start', index: 2, id: 'toolu_1', name: 'get_weather' },
      { type: 'tool-call-delta', index: 2, argumentsDelta: '{"city":' },
      { type: 'tool-call-delta', index: 2, argumentsDelta: '"Paris"}' },
      { type: 'tool-call-end', index: 2 },
      { type: 'finish', finishReason: 'tool_calls', rawFinishReason: 'tool_use', usage: { inputTokens: 120, cachedInputTokens: 100, outputTokens: 30 } },
    ]);
    expect(out).toBe(
      messageStart('msg_01abc', { input_tokens: 20, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 100 }) +
        ev('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }) +
        ev('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'Hmm.' } }) +
        ev('content_block_delta', { index: 0, delta: { type: 'signature_delta', signature: 'sig' } }) +
        ev('content_block_stop', { index: 0 }) +
        ev('content_block_start', { index: 1, content_block: { type: 'text', text: '' } }) +
        ev('content_block_delta', { index: 1, delta: { type: 'text_delta', text: 'Hello' } }) +
        ev('content_block_delta', { index: 1, delta: { type: 'text_delta', text: '!' } }) +
        ev('content_block_stop', { index: 1 }) +
        ev('content_block_start', { index: 2, content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} } }) +
        ev('content_block_delta', { index: 2, delta: { type: 'input_json_delta', partial_json: '{"city":' } }) +
        ev('content_block_delta', { index: 2, delta: { type: 'input_json_delta', partial_json: '"Paris"}' } }) +
        ev('content_block_stop', { index: 2 }) +
        ev('message_delta', {
          delta: { stop_reason: 'tool_use', stop_sequence: null },
          usage: { input_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 100, output_tokens: 30 },
        }) +
        ev('message_stop', {}),
    );
  });

  it('opens blocks on their first delta, closes the open one when another starts, and renumbers from 0', () => {
    const out = encodeAll([
      { type: 'text-delta', index: 5, delta: 'a' },
      { type: 'reasoning-delta', index: 7, delta: 'r' },
      { type: 'text-delta', index: 9, delta: 'b' },
      { type: 'text-delta', index: 9, delta: '' },
      { type: 'tool-call-start', index: 11, id: 'call_1', name: 'f' },
      { type: 'tool-call-start', index: 12, id: 'call_2', name: 'g' },
      // a late fragment of the first call still reaches that call's block
      { type: 'tool-call-delta', index: 11, argumentsDelta: '{}' },
      { type: 'finish', finishReason: 'stop' },
    ]);
    expect(out).toBe(
      messageStart('msg_req1') +
        ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) +
        ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'a' } }) +
        ev('content_block_stop', { index: 0 }) +
        ev('content_block_start', { index: 1, content_block: { type: 'thinking', thinking: '', signature: '' } }) +
        ev('content_block_delta', { index: 1, delta: { type: 'thinking_delta', thinking: 'r' } }) +
        ev('content_block_stop', { index: 1 }) +
        ev('content_block_start', { index: 2, content_block: { type: 'text', text: '' } }) +
        ev('content_block_delta', { index: 2, delta: { type: 'text_delta', text: 'b' } }) +
        ev('content_block_stop', { index: 2 }) +
        ev('content_block_start', { index: 3, content_block: { type: 'tool_use', id: 'call_1', name: 'f', input: {} } }) +
        ev('content_block_stop', { index: 3 }) +
        ev('content_block_start', { index: 4, content_block: { type: 'tool_use', id: 'call_2', name: 'g', input: {} } }) +
        ev('content_block_delta', { index: 3, delta: { type: 'input_json_delta', partial_json: '{}' } }) +
        ev('content_block_stop', { index: 4 }) +
        ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 0 } }) +
        ev('message_stop', {}),
    );
  });

  it('sends redacted thinking as its own block and ignores deltas into it', () => {
    const out = encodeAll([
      { type: 'start', id: 'x', model: 'm', created: 1 },
      { type: 'reasoning-start', index: 0, redactedData: 'EmwK' },
      { type: 'reasoning-delta', index: 0, delta: 'ignored' },
      { type: 'reasoning-end', index: 0 },
      { type: 'finish', finishReason: 'length', rawFinishReason: 'length' },
    ]);
    expect(out).toBe(
      messageStart('msg_x') +
        ev('content_block_start', { index: 0, content_block: { type: 'redacted_thinking', data: 'EmwK' } }) +
        ev('content_block_stop', { index: 0 }) +
        ev('message_delta', { delta: { stop_reason: 'max_tokens', stop_sequence: null }, usage: { output_tokens: 0 } }) +
        ev('message_stop', {}),
    );
  });

  it('ends a stream that had no finish with end_turn, and an empty one with a whole empty message', () => {
    const encoder = anthropicCodec.createStreamEncoder(ctx);
    expect(encoder.end()).toBe(
      messageStart('msg_req1') + ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 0 } }) + ev('message_stop', {}),
    );
    expect(encoder.end()).toBe('');
  });

  it('writes errors as an Anthropic error event and nothing after', () => {
    const encoder = anthropicCodec.createStreamEncoder(ctx);
    const started = encoder.encode({ type: 'text-delta', index: 0, delta: 'partial' });
    expect(started).toContain('event: content_block_delta');
    expect(encoder.encode({ type: 'error', message: 'Overloaded', status: 529, errorType: 'overloaded_error' })).toBe(
      'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n',
    );
    expect(encoder.encode({ type: 'text-delta', index: 0, delta: 'more' })).toBe('');
    expect(encoder.end()).toBe('');
    const other = anthropicCodec.createStreamEncoder(ctx);
    expect(other.encodeError(new GatewayError('upstream_timeout', 'Upstream timed out.'))).toBe(
      'event: error\ndata: {"type":"error","error":{"type":"timeout_error","message":"Upstream timed out."}}\n\n',
    );
  });
});
