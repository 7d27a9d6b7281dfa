import type { Usage } from '../../core/canonical.ts';
import { GeneratedTextBuffer } from '../../core/generated-text-buffer.ts';
import type { SseEvent } from '../../core/sse.ts';
import type { StreamTap } from '../../core/codec.ts';
import { extractOpenAIUsage } from './convert-openai-usage.ts';

const USAGE_OBJECT = /"usage"\s*:\s*\{/;
const EMPTY_CHOICES = /"choices"\s*:\s*\[\s*\]/;

/**
 * Watches an OpenAI chat stream as it passes through: takes the usage chunk
 * (dropping it when only the gateway asked for it), keeps the content events for
 * a token estimate if no usage arrives, and reads nothing else. Only events that
 * mention usage are JSON-parsed.
 */
export class OpenAIStreamTap implements StreamTap {
  usage: Usage | undefined;
  sawDone = false;
  sawContent = false;
  /** Content events, kept for a token estimate in case no usage arrives. */
  private readonly generated = new GeneratedTextBuffer(collectOpenAIStreamText);

  constructor(private readonly clientWantsUsage: boolean) {}

  /** Returns the raw text to forward for these events. */
  process(events: SseEvent[]): string {
    let out = '';
    for (const ev of events) {
      if (ev.data === '[DONE]') {
        this.sawDone = true;
        out += ev.raw;
        continue;
      }
      if (USAGE_OBJECT.test(ev.data)) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(ev.data);
        } catch {
          parsed = undefined;
        }
        const usage = extractOpenAIUsage(parsed);
        if (usage) this.usage = usage;
        // The final usage-only chunk (empty choices) exists only because the gateway asked for it.
        if (!this.clientWantsUsage && usage && EMPTY_CHOICES.test(ev.data)) continue;
      }
      this.generated.addData(ev.data);
      this.sawContent = true;
      out += ev.raw;
    }
    return out;
  }

  /** No usage object and no end marker: nothing here for the tap. */
  passesUnread(chunk: Buffer): boolean {
    return chunk.indexOf(USAGE_BYTES) === -1 && chunk.indexOf(DONE_BYTES) === -1;
  }

  keepRaw(chunk: Buffer): void {
    this.generated.addRaw(chunk);
    this.sawContent = true;
  }

  generatedText(): string {
    return this.generated.toString();
  }
}

const USAGE_BYTES = Buffer.from('"usage":{');
const DONE_BYTES = Buffer.from('[DONE]');

/** Is this the first event of a stream an error object rather than a chunk? */
export function isOpenAIStreamError(ev: SseEvent): boolean {
  return ev.event === 'error' || /^\s*\{\s*"error"\s*:/.test(ev.data);
}

/** Text the stream generated so far (content, reasoning, tool arguments), for token estimates. */
export function collectOpenAIStreamText(contentEvents: readonly string[]): string {
  let text = '';
  for (const data of contentEvents) {
    let chunk: { choices?: Array<{ delta?: Record<string, unknown> }> };
    try {
      chunk = JSON.parse(data) as typeof chunk;
    } catch {
      continue;
    }
    for (const c of (chunk.choices ?? []) as Array<{ delta?: Record<string, unknown>; text?: unknown }>) {
      // Legacy completions stream `text`; chat streams `delta`.
      if (typeof c.text === 'string') text += c.text;
      const d = c.delta ?? {};
      if (typeof d.content === 'string') text += d.content;
      if (typeof d.reasoning_content === 'string') text += d.reasoning_content;
      if (typeof d.reasoning === 'string') text += d.reasoning;
      const calls = d.tool_calls;
      if (Array.isArray(calls)) {
        for (const call of calls as Array<{ function?: { name?: string; arguments?: string } }>) {
          text += (call.function?.name ?? '') + (call.function?.arguments ?? '');
        }
      }
    }
  }
  return text;
}

/** Text of a non-stream chat completion, for token estimates. */
export function collectOpenAIResultText(body: unknown): string {
  let text = '';
  const choices = (body as { choices?: Array<{ message?: Record<string, unknown>; text?: unknown }> }).choices ?? [];
  for (const c of choices) {
    if (typeof c.text === 'string') text += c.text;
    const m = c.message ?? {};
    if (typeof m.content === 'string') text += m.content;
    if (typeof m.reasoning_content === 'string') text += m.reasoning_content;
    const calls = m.tool_calls;
    if (Array.isArray(calls)) {
      for (const call of calls as Array<{ function?: { name?: string; arguments?: string } }>) {
        text += (call.function?.name ?? '') + (call.function?.arguments ?? '');
      }
    }
  }
  return text;
}
