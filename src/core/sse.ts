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

  /** Feed a decoded text chunk; returns the events completed by it. */
  push(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const events: SseEvent[] = [];
    for (;;) {
      const match = BOUNDARY.exec(this.buffer);
      if (!match) break;
      const end = match.index + match[0].length;
      const raw = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end);
      const parsed = parseEventBlock(raw.slice(0, match.index), raw);
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
  let event: string | undefined;
  let data: string | undefined;
  for (const line of block.split(/\r\n|\n|\r/)) {
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
