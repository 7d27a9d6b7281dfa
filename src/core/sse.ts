/**
 * Server-sent events: an incremental parser that yields whole events with their
 * raw text (so a pass-through can forward the exact bytes) and an encoder.
 * Spec: https://html.spec.whatwg.org/multipage/server-sent-events.html
 */
export interface SseEvent {
  /** The `event:` field, or undefined when absent. */
  event?: string;
  /** The `data:` lines joined with "\n". */
  data: string;
  /** The event exactly as received, including its terminating blank line. */
  raw: string;
}

const BOUNDARY = /\r\n\r\n|\n\n|\r\r/;

export class SseParser {
  private buffer = '';

  /** True when no partial event is held (the next chunk starts a new event). */
  get atBoundary(): boolean {
    return this.buffer.length === 0;
  }

  /** Feed a decoded text chunk; returns the events completed by it. */
  push(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const events: SseEvent[] = [];
    for (;;) {
      // Most servers frame with plain "\n\n": indexOf is much cheaper than the regex.
      let index: number;
      let length: number;
      if (this.buffer.includes('\r')) {
        const match = BOUNDARY.exec(this.buffer);
        if (!match) break;
        index = match.index;
        length = match[0].length;
      } else {
        index = this.buffer.indexOf('\n\n');
        if (index === -1) break;
        length = 2;
      }
      const end = index + length;
      const raw = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end);
      const parsed = parseEventBlock(raw.slice(0, index), raw);
      if (parsed) events.push(parsed);
    }
    return events;
  }

  /** Whatever was left without a terminating blank line (a truncated stream). */
  flush(): SseEvent | undefined {
    const rest = this.buffer;
    this.buffer = '';
    if (!rest.trim()) return undefined;
    return parseEventBlock(rest, rest + '\n\n');
  }

  get pending(): string {
    return this.buffer;
  }
}

function parseEventBlock(block: string, raw: string): SseEvent | undefined {
  // The common case, one `data: ...` line, needs no splitting.
  if (block.startsWith('data: ') && !block.includes('\n') && !block.includes('\r')) return { event: undefined, data: block.slice(6), raw };
  let event: string | undefined;
  let data: string | undefined;
  for (const line of block.includes('\r') ? block.split(/\r\n|\n|\r/) : block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data = data === undefined ? value : `${data}\n${value}`;
    else if (field === 'event') event = value;
  }
  if (data === undefined && event === undefined) return undefined;
  return { event, data: data ?? '', raw };
}

export function encodeSse(data: string, event?: string): string {
  const lines = data.split('\n').map((l) => `data: ${l}`).join('\n');
  return event === undefined ? `${lines}\n\n` : `event: ${event}\n${lines}\n\n`;
}
