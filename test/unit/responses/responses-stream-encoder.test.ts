import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../../src/core/canonical.ts';
import { GatewayError } from '../../../src/core/errors.ts';
import { SseParser } from '../../../src/core/sse.ts';
import { extractResponsesEcho } from '../../../src/protocols/responses/responses-echo.ts';
import { ResponsesStreamEncoder } from '../../../src/protocols/responses/responses-stream-encoder.ts';

const ctx = { model: 'my-alias', requestId: 'req_abc', responseId: 'resp_abc', createdAt: 1741290958, now: () => 1741290960 };

interface Wire {
  event: string | undefined;
  data: Record<string, unknown>;
}

function run(events: StreamEvent[], enc = new ResponsesStreamEncoder(ctx)): { text: string; wire: Wire[]; enc: ResponsesStreamEncoder } {
  const text = events.map((e) => enc.encode(e)).join('') + enc.end();
  const wire = new SseParser().push(text).map((e) => ({ event: e.event, data: JSON.parse(e.data) as Record<string, unknown> }));
  return { text, wire, enc };
}

const types = (wire: Wire[]): string[] => wire.map((w) => w.data.type as string);

const textStream: StreamEvent[] = [
  { type: 'start', id: 'chatcmpl-1', model: 'gpt-4o', created: 1700000000 },
  { type: 'text-start', index: 0 },
  { type: 'text-delta', index: 0, delta: 'Hi' },
  { type: 'text-delta', index: 0, delta: ' there' },
  { type: 'text-end', index: 0 },
  { type: 'finish', finishReason: 'stop', usage: { inputTokens: 12, cachedInputTokens: 2, outputTokens: 3 } },
];

describe('ResponsesStreamEncoder', () => {
  it('streams text in OpenAI event order, with event lines and sequence numbers from 0', () => {
    const { text, wire } = run(textStream);
    expect(types(wire)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(wire.map((w) => w.event)).toEqual(types(wire));
    expect(wire.map((w) => w.data.sequence_number)).toEqual(wire.map((_, i) => i));

    const blocks = text.split('\n\n');
    expect(blocks[2]).toBe(
      'event: response.output_item.added\n' +
        'data: {"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"id":"msg_abc_0","type":"message","status":"in_progress","role":"assistant","content":[]}}',
    );
    expect(blocks[3]).toBe(
      'event: response.content_part.added\n' +
        'data: {"type":"response.content_part.added","sequence_number":3,"item_id":"msg_abc_0","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[],"logprobs":[]}}',
    );
    expect(blocks[4]).toBe(
      'event: response.output_text.delta\n' +
        'data: {"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_abc_0","output_index":0,"content_index":0,"delta":"Hi","logprobs":[]}',
    );
    expect(wire[6].data).toEqual({ type: 'response.output_text.done', sequence_number: 6, item_id: 'msg_abc_0', output_index: 0, content_index: 0, text: 'Hi there', logprobs: [] });
    expect(wire[7].data).toEqual({
      type: 'response.content_part.done',
      sequence_number: 7,
      item_id: 'msg_abc_0',
      output_index: 0,
      content_index: 0,
      part: { type: 'output_text', text: 'Hi there', annotations: [], logprobs: [] },
    });
    const message = { id: 'msg_abc_0', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Hi there', annotations: [], logprobs: [] }] };
    expect(wire[8].data).toEqual({ type: 'response.output_item.done', sequence_number: 8, output_index: 0, item: message });
    // Responses streams end with the last event: no [DONE].
    expect(text.endsWith('\n\n')).toBe(true);
    expect(text).not.toContain('[DONE]');
  });

  it('opens with the in-progress response and closes with the whole response and its usage', () => {
    const { wire } = run(textStream, new ResponsesStreamEncoder({ ...ctx, echo: extractResponsesEcho({ instructions: 'Be brief.', temperature: 0.3, metadata: { a: 'b' } }) }));
    const created = wire[0].data.response as Record<string, unknown>;
    expect(created).toEqual({
      id: 'resp_abc',
      object: 'response',
      created_at: 1741290958,
      status: 'in_progress',
      background: false,
      error: null,
      incomplete_details: null,
      instructions: 'Be brief.',
      max_output_tokens: null,
      max_tool_calls: null,
      model: 'my-alias',
      output: [],
      parallel_tool_calls: true,
      previous_response_id: null,
      prompt_cache_key: null,
      reasoning: { effort: null, summary: null },
      safety_identifier: null,
      service_tier: 'default',
      store: true,
      temperature: 0.3,
      text: { format: { type: 'text' }, verbosity: 'medium' },
      tool_choice: 'auto',
      tools: [],
      top_logprobs: 0,
      top_p: 1,
      truncation: 'disabled',
      usage: null,
      user: null,
      metadata: { a: 'b' },
    });
    expect(wire[1].data).toEqual({ type: 'response.in_progress', sequence_number: 1, response: created });
    expect(wire[9].data).toEqual({
      type: 'response.completed',
      sequence_number: 9,
      response: {
        ...created,
        status: 'completed',
        completed_at: 1741290960,
        output: [{ id: 'msg_abc_0', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Hi there', annotations: [], logprobs: [] }] }],
        usage: {
          input_tokens: 12,
          input_tokens_details: { cached_tokens: 2, cache_write_tokens: 0 },
          output_tokens: 3,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: 15,
        },
      },
    });
  });

  it('streams reasoning, text and parallel tool calls as separate output items', () => {
    const { wire, enc } = run([
      { type: 'start', id: 'msg_1', model: 'claude', created: 1 },
      { type: 'reasoning-start', index: 0 },
      { type: 'reasoning-delta', index: 0, delta: 'Two ' },
      { type: 'reasoning-delta', index: 0, delta: 'cities.' },
      { type: 'reasoning-signature', index: 0, signature: 'sig-1' },
      { type: 'reasoning-end', index: 0 },
      { type: 'text-start', index: 1 },
      { type: 'text-delta', index: 1, delta: 'Checking.' },
      { type: 'text-end', index: 1 },
      { type: 'tool-call-start', index: 2, id: 'call_a', name: 'get_weather' },
      { type: 'tool-call-delta', index: 2, argumentsDelta: '{"city":' },
      { type: 'tool-call-end', index: 2 },
      { type: 'tool-call-start', index: 3, id: 'call_b', name: 'get_weather' },
      { type: 'tool-call-delta', index: 3, argumentsDelta: '{"city":"Rome"}' },
      // A late delta of the first call, after the second began (interleaved parallel calls).
      { type: 'tool-call-delta', index: 2, argumentsDelta: '"Paris"}' },
      { type: 'tool-call-end', index: 3 },
      { type: 'finish', finishReason: 'tool_calls', usage: { inputTokens: 40, outputTokens: 30, reasoningTokens: 8 } },
    ]);
    expect(types(wire)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.reasoning_summary_part.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.done',
      'response.reasoning_summary_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(wire.map((w) => w.data.sequence_number)).toEqual(wire.map((_, i) => i));
    expect(wire[2].data).toEqual({ type: 'response.output_item.added', sequence_number: 2, output_index: 0, item: { id: 'rs_abc_0', type: 'reasoning', summary: [] } });
    expect(wire[3].data).toEqual({
      type: 'response.reasoning_summary_part.added',
      sequence_number: 3,
      item_id: 'rs_abc_0',
      output_index: 0,
      summary_index: 0,
      part: { type: 'summary_text', text: '' },
    });
    expect(wire[4].data).toEqual({ type: 'response.reasoning_summary_text.delta', sequence_number: 4, item_id: 'rs_abc_0', output_index: 0, summary_index: 0, delta: 'Two ' });
    expect(wire[6].data).toEqual({ type: 'response.reasoning_summary_text.done', sequence_number: 6, item_id: 'rs_abc_0', output_index: 0, summary_index: 0, text: 'Two cities.' });
    expect(wire[8].data.item).toEqual({ id: 'rs_abc_0', type: 'reasoning', summary: [{ type: 'summary_text', text: 'Two cities.' }], encrypted_content: 'sig-1' });
    expect(wire[15].data).toEqual({
      type: 'response.output_item.added',
      sequence_number: 15,
      output_index: 2,
      item: { id: 'fc_abc_2', type: 'function_call', status: 'in_progress', arguments: '', call_id: 'call_a', name: 'get_weather' },
    });
    expect(wire[16].data).toEqual({ type: 'response.function_call_arguments.delta', sequence_number: 16, item_id: 'fc_abc_2', output_index: 2, delta: '{"city":' });
    expect(wire[20].data).toEqual({
      type: 'response.function_call_arguments.done',
      sequence_number: 20,
      item_id: 'fc_abc_2',
      output_index: 2,
      name: 'get_weather',
      arguments: '{"city":"Paris"}',
    });
    const final = enc.finalResponse();
    expect(final?.status).toBe('completed');
    expect(final?.output.map((o) => [o.type, o.id])).toEqual([
      ['reasoning', 'rs_abc_0'],
      ['message', 'msg_abc_1'],
      ['function_call', 'fc_abc_2'],
      ['function_call', 'fc_abc_3'],
    ]);
    expect(final?.output[3]).toEqual({ id: 'fc_abc_3', type: 'function_call', status: 'completed', arguments: '{"city":"Rome"}', call_id: 'call_b', name: 'get_weather' });
    expect(wire[24].data.response).toEqual(final);
  });

  it('gives text after a tool call its own output item', () => {
    const { wire } = run([
      { type: 'tool-call-start', index: 0, id: 'call_1', name: 'now' },
      { type: 'tool-call-end', index: 0 },
      { type: 'text-delta', index: 1, delta: 'Done.' },
      { type: 'finish', finishReason: 'stop' },
    ]);
    const added = wire.filter((w) => w.data.type === 'response.output_item.added').map((w) => [w.data.output_index, (w.data.item as { type: string }).type]);
    expect(added).toEqual([
      [0, 'function_call'],
      [1, 'message'],
    ]);
    // A call without arguments still has a JSON object.
    expect(wire.find((w) => w.data.type === 'response.function_call_arguments.done')?.data.arguments).toBe('{}');
    expect((wire[wire.length - 1].data.response as { usage: unknown }).usage).toBeNull();
  });

  it('ends a cut-off answer with response.incomplete and marks the last item incomplete', () => {
    const { wire } = run([
      { type: 'text-delta', index: 0, delta: 'Once upon a' },
      { type: 'text-end', index: 0 },
      { type: 'finish', finishReason: 'length', usage: { inputTokens: 5, outputTokens: 3 } },
    ]);
    const last = wire[wire.length - 1].data;
    expect(last.type).toBe('response.incomplete');
    const response = last.response as { status: string; incomplete_details: unknown; output: Array<{ status: string }> };
    expect([response.status, response.incomplete_details, response.output[0].status]).toEqual(['incomplete', { reason: 'max_output_tokens' }, 'incomplete']);
    expect((wire.find((w) => w.data.type === 'response.output_item.done')?.data.item as { status: string }).status).toBe('incomplete');
  });

  it('skips empty deltas and redacted thinking, and opens the stream even without a start event', () => {
    const { wire } = run([
      { type: 'reasoning-start', index: 0, redactedData: 'opaque' },
      { type: 'reasoning-delta', index: 0, delta: 'hidden' },
      { type: 'reasoning-end', index: 0 },
      { type: 'text-start', index: 1 },
      { type: 'text-delta', index: 1, delta: '' },
      { type: 'text-end', index: 1 },
      { type: 'finish', finishReason: 'stop' },
    ]);
    expect(types(wire)).toEqual(['response.created', 'response.in_progress', 'response.completed']);
  });

  it('completes a stream that ended without a finish event', () => {
    const { wire } = run([{ type: 'text-delta', index: 0, delta: 'Hi' }]);
    expect(types(wire).slice(-2)).toEqual(['response.output_item.done', 'response.completed']);
  });

  it('ends with an error event, then response.failed with what was generated so far', () => {
    const enc = new ResponsesStreamEncoder(ctx);
    let text = enc.encode({ type: 'text-delta', index: 0, delta: 'Hel' });
    text += enc.encodeError(new GatewayError('upstream_timeout', 'Upstream timed out.', { publicCode: 'upstream_timeout' }));
    text += enc.encode({ type: 'text-delta', index: 0, delta: 'lo' });
    text += enc.end();
    const wire = new SseParser().push(text).map((e) => JSON.parse(e.data) as Record<string, unknown>);
    expect(wire.map((w) => w.type)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added', 'response.output_text.delta', 'error', 'response.failed']);
    expect(wire[5]).toEqual({ type: 'error', sequence_number: 5, code: 'upstream_timeout', message: 'Upstream timed out.', param: null });
    expect(wire[6]).toMatchObject({
      type: 'response.failed',
      sequence_number: 6,
      response: {
        status: 'failed',
        error: { code: 'server_error', message: 'Upstream timed out.' },
        output: [{ id: 'msg_abc_0', type: 'message', status: 'incomplete', role: 'assistant', content: [{ type: 'output_text', text: 'Hel', annotations: [], logprobs: [] }] }],
        usage: null,
      },
    });
    expect(wire[6].response).not.toHaveProperty('completed_at');
    expect(enc.finalResponse()?.status).toBe('failed');
  });

  it('turns a canonical error event into the same ending; before any output it is a lone error event', () => {
    const { wire } = run([
      { type: 'text-delta', index: 0, delta: 'x' },
      { type: 'error', message: 'overloaded', status: 429, errorType: 'rate_limit_error' },
    ]);
    expect(types(wire).slice(-2)).toEqual(['error', 'response.failed']);
    expect((wire[wire.length - 1].data.response as { error: unknown }).error).toEqual({ code: 'rate_limit_exceeded', message: 'overloaded' });

    const enc = new ResponsesStreamEncoder(ctx);
    const lone = enc.encodeError(new GatewayError('upstream_error', 'boom', { publicCode: null }));
    expect(lone).toBe('event: error\ndata: {"type":"error","sequence_number":0,"code":null,"message":"boom","param":null}\n\n');
    expect(enc.end()).toBe('');
  });
});
