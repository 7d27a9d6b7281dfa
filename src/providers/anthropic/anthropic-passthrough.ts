import type { Usage } from '../../core/canonical.ts';
import { GeneratedTextBuffer } from '../../core/generated-text-buffer.ts';
import type { SseEvent } from '../../core/sse.ts';
import type { StreamTap } from '../../core/codec.ts';
import type { AnthropicUsage } from '../../wire/anthropic.ts';
import { convertAnthropicUsage, mergeAnthropicUsage } from './convert-anthropic-usage.ts';

/** What Anthropic-to-Anthropic pass-through adds to the adapter's pieces: usage read from the passing bytes. */

export function extractAnthropicUsage(body: unknown): Usage | undefined {
  const u = (body as { usage?: AnthropicUsage } | null)?.usage;
  return u && typeof u === 'object' ? convertAnthropicUsage(u) : undefined;
}

export function collectAnthropicResultText(body: unknown): string {
  const content = (body as { content?: Array<Record<string, unknown>> }).content ?? [];
  return content
    .map((b) => (typeof b.text === 'string' ? b.text : typeof b.thinking === 'string' ? b.thinking : b.type === 'tool_use' ? `${String(b.name)}${JSON.stringify(b.input ?? {})}` : ''))
    .join('');
}

export function isAnthropicStreamError(ev: SseEvent): boolean {
  return ev.event === 'error';
}

/**
 * Reads usage from message_start and message_delta as the bytes pass; only those
 * two event types are parsed. Content deltas are kept raw for an estimate.
 */
export class AnthropicStreamTap implements StreamTap {
  private wireUsage: AnthropicUsage | undefined;
  sawContent = false;
  /** Content deltas, kept for a token estimate in case no usage arrives. */
  private readonly generated = new GeneratedTextBuffer(anthropicDeltaText, (ev) => ev.event === 'content_block_delta');

  get usage(): Usage | undefined {
    return this.wireUsage && convertAnthropicUsage(this.wireUsage);
  }

  process(events: SseEvent[]): string {
    let out = '';
    for (const ev of events) {
      out += ev.raw;
      if (ev.event === 'content_block_delta') {
        this.sawContent = true;
        this.generated.addData(ev.data);
      } else if (ev.event === 'message_start' || ev.event === 'message_delta') {
        try {
          const data = JSON.parse(ev.data) as { message?: { usage?: AnthropicUsage }; usage?: AnthropicUsage };
          this.wireUsage = mergeAnthropicUsage(this.wireUsage, ev.event === 'message_start' ? data.message?.usage : data.usage);
        } catch {
          // a malformed event passes through untouched; the client sees it as the upstream sent it
        }
      }
    }
    return out;
  }

  /** Only message_start and message_delta carry usage; a chunk without either passes unread. */
  passesUnread(chunk: Buffer): boolean {
    return chunk.indexOf(MESSAGE_START) === -1 && chunk.indexOf(MESSAGE_DELTA) === -1;
  }

  keepRaw(chunk: Buffer): void {
    this.generated.addRaw(chunk);
    this.sawContent = true;
  }

  generatedText(): string {
    return this.generated.toString();
  }
}

function anthropicDeltaText(datas: readonly string[]): string {
  let text = '';
  for (const data of datas) {
    try {
      const d = (JSON.parse(data) as { delta?: { text?: string; thinking?: string; partial_json?: string } }).delta ?? {};
      text += d.text ?? d.thinking ?? d.partial_json ?? '';
    } catch {
      // skip
    }
  }
  return text;
}

const MESSAGE_START = Buffer.from('message_start');
const MESSAGE_DELTA = Buffer.from('message_delta');
