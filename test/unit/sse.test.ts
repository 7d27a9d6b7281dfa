import { describe, expect, it } from 'vitest';
import { encodeSse, SseParser } from '../../src/core/sse.ts';

describe('SseParser', () => {
  it('splits events across chunk boundaries and keeps raw text', () => {
    const p = new SseParser();
    expect(p.push('data: {"a":')).toEqual([]);
    const evs = p.push('1}\n\nevent: ping\ndata: x\n\ndata: [DO');
    expect(evs).toEqual([
      { event: undefined, data: '{"a":1}', raw: 'data: {"a":1}\n\n' },
      { event: 'ping', data: 'x', raw: 'event: ping\ndata: x\n\n' },
    ]);
    expect(p.push('NE]\n\n')).toEqual([{ event: undefined, data: '[DONE]', raw: 'data: [DONE]\n\n' }]);
  });

  it('handles CRLF, multi-line data, comments and a truncated tail', () => {
    const p = new SseParser();
    const evs = p.push(': keep-alive\r\n\r\ndata: one\r\ndata: two\r\n\r\n');
    expect(evs).toHaveLength(1);
    expect(evs[0].data).toBe('one\ntwo');
    p.push('data: partial');
    expect(p.flush()?.data).toBe('partial');
    expect(p.flush()).toBeUndefined();
  });

  it('encodes with and without an event name', () => {
    expect(encodeSse('{"x":1}')).toBe('data: {"x":1}\n\n');
    expect(encodeSse('a\nb', 'message_start')).toBe('event: message_start\ndata: a\ndata: b\n\n');
  });
});
