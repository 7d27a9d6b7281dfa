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

describe('SseParser fast paths', () => {
  it('gives the same events for LF-only and CRLF framing, and for mixed single- and multi-line events', () => {
    const lf = 'data: {"a":1}\n\nevent: message_start\ndata: {"b":2}\n\ndata: x\ndata: y\n\n: ping\n\ndata:nospace\n\n';
    const crlf = lf.replace(/\n/g, '\r\n');
    const strip = (evs: Array<{ event?: string; data: string }>) => evs.map((e) => ({ event: e.event, data: e.data }));
    const a = new SseParser().push(lf);
    const b = new SseParser().push(crlf);
    expect(strip(a)).toEqual([
      { event: undefined, data: '{"a":1}' },
      { event: 'message_start', data: '{"b":2}' },
      { event: undefined, data: 'x\ny' },
      { event: undefined, data: 'nospace' },
    ]);
    expect(strip(b)).toEqual(strip(a));
    expect(a.map((e) => e.raw).join('')).toBe(lf.replace(': ping\n\n', ''));
  });

  it('finds a boundary split across pushes', () => {
    const p = new SseParser();
    expect(p.push('data: a\n')).toEqual([]);
    expect(p.push('\ndata: b\r')).toEqual([{ event: undefined, data: 'a', raw: 'data: a\n\n' }]);
    expect(p.push('\n\r\n')).toEqual([{ event: undefined, data: 'b', raw: 'data: b\r\n\r\n' }]);
  });
});
