import type { Usage } from '../../core/canonical.ts';
import type { SseEvent } from '../../core/sse.ts';
import type { StreamTap } from '../../core/codec.ts';
import { GeneratedTextBuffer } from '../../core/generated-text-buffer.ts';
import type { AdapterTarget } from '../../core/codec.ts';
import type { GeminiUsageMetadata } from '../../wire/gemini.ts';
import { convertGeminiUsage } from './convert-gemini-usage.ts';
import { geminiModelPath } from './gemini-endpoint.ts';

/** What Gemini-to-Gemini pass-through adds to the adapter's pieces: usage read from the passing bytes, JSON-array framing. */

/** countTokens has no stream form; generate calls use the adapter's geminiEndpoint. */
export function geminiCountTokensUrl(target: AdapterTarget): string {
  const root = target.baseUrl.replace(/\/+$/, '').replace(/\/v1(?:beta)?$/, '');
  return `${root}/v1beta/${geminiModelPath(target.upstreamModel)}:countTokens`;
}

export function extractGeminiUsage(body: unknown): Usage | undefined {
  const u = (body as { usageMetadata?: GeminiUsageMetadata } | null)?.usageMetadata;
  return u && typeof u === 'object' ? convertGeminiUsage(u) : undefined;
}

export function collectGeminiText(body: unknown): string {
  const candidates = (body as { candidates?: Array<{ content?: { parts?: Array<Record<string, unknown>> } }> }).candidates ?? [];
  let text = '';
  for (const c of candidates) {
    for (const p of c.content?.parts ?? []) {
      if (typeof p.text === 'string') text += p.text;
      else if (p.functionCall) text += JSON.stringify(p.functionCall);
    }
  }
  return text;
}

export function isGeminiStreamError(ev: SseEvent): boolean {
  return /^\s*\{\s*"error"\s*:/.test(ev.data);
}

const USAGE = /"usageMetadata"\s*:/;

/**
 * Reads usageMetadata from the chunks as they pass (the last one seen wins), and
 * re-frames them as a JSON array when the client called without `alt=sse`.
 */
export class GeminiStreamTap implements StreamTap {
  usage: Usage | undefined;
  sawContent = false;
  /** Chunks, kept for a token estimate in case no usage arrives. */
  private readonly generated = new GeneratedTextBuffer(geminiChunksText);
  private opened = false;

  constructor(private readonly jsonArray: boolean) {}

  process(events: SseEvent[]): string {
    let out = '';
    for (const ev of events) {
      if (!ev.data) continue;
      this.sawContent = true;
      this.generated.addData(ev.data);
      if (USAGE.test(ev.data)) {
        try {
          const u = extractGeminiUsage(JSON.parse(ev.data));
          if (u) this.usage = u;
        } catch {
          // passes through as sent
        }
      }
      out += this.frame(ev);
    }
    return out;
  }

  private frame(ev: SseEvent): string {
    if (!this.jsonArray) return ev.raw;
    const prefix = this.opened ? ',\r\n' : '[';
    this.opened = true;
    return prefix + ev.data;
  }

  /** An error after the stream started, framed like the rest. */
  frameError(body: unknown): string {
    const json = JSON.stringify(body);
    if (!this.jsonArray) return `data: ${json}\r\n\r\n`;
    const prefix = this.opened ? ',\r\n' : '[';
    this.opened = true;
    return `${prefix}${json}]`;
  }

  end(): string {
    if (!this.jsonArray) return '';
    return this.opened ? ']' : '[]';
  }

  generatedText(): string {
    return this.generated.toString();
  }
}

function geminiChunksText(datas: readonly string[]): string {
  let text = '';
  for (const c of datas) {
    try {
      text += collectGeminiText(JSON.parse(c));
    } catch {
      // skip
    }
  }
  return text;
}
