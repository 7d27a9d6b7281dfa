import type { FinishReason, StreamEvent, Usage } from '../../core/canonical.ts';
import type { StreamDecoder } from '../../core/codec.ts';
import type { SseEvent } from '../../core/sse.ts';
import { geminiGenerateContentResponseSchema, type GeminiGenerateContentResponse, type GeminiPart } from '../../wire/gemini.ts';
import { convertGeminiUsage } from './convert-gemini-usage.ts';
import { parseGeminiError } from './gemini-error.ts';
import { geminiResponseKey, geminiToolCallId } from './gemini-tool-call-id.ts';
import { createdOf, finishOf, type GeminiParseOptions } from './parse-gemini-response.ts';

type OpenBlock = { kind: 'text' | 'reasoning'; index: number };

/**
 * `streamGenerateContent?alt=sse` events -> canonical stream events. Each event's data
 * is a whole GenerateContentResponse holding the next parts of candidates[0]:
 * - text parts extend one text block, thought parts one reasoning block (a new kind of
 *   part ends the open block);
 * - a functionCall part arrives whole: tool-call start, one delta with all arguments, end;
 * - thoughtSignature: on a thought part, a reasoning-signature of that block; on a text
 *   or functionCall part, a text-less reasoning block with the signature just before it
 *   (same layout as parseGeminiResponse);
 * - usageMetadata is a running total on every chunk: the latest one wins. The finish
 *   event goes out with the chunk that has the finishReason when that chunk has usage,
 *   else with the next chunk that has usage, else when the stream ends.
 * An event `{"error":{...}}` (Google's way of failing a started stream) becomes an error event.
 */
export class GeminiStreamDecoder implements StreamDecoder {
  private started = false;
  private closed = false;
  private key = '';
  private nextIndex = 0;
  private calls = 0;
  private open: OpenBlock | undefined;
  private finish: { reason: FinishReason; raw?: string } | undefined;
  private usage: Usage | undefined;

  constructor(private readonly opts: GeminiParseOptions = {}) {}

  decode(event: SseEvent): StreamEvent[] {
    if (this.closed) return [];
    const data = event.data.trim();
    if (data === '' || data === '[DONE]') return [];
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      return this.fail(`Upstream sent a stream event that is not JSON: ${data.slice(0, 200)}`);
    }
    // Tolerate a JSON-array framed body handed over as one event.
    const chunks = Array.isArray(json) ? json : [json];
    const out: StreamEvent[] = [];
    for (const chunk of chunks) {
      if (this.closed) break;
      if (chunk !== null && typeof chunk === 'object' && 'error' in chunk) {
        out.push(...this.fail(parseGeminiError(JSON.stringify(chunk))));
        break;
      }
      const parsed = geminiGenerateContentResponseSchema.safeParse(chunk);
      if (!parsed.success) {
        out.push(...this.fail(`Upstream sent a malformed GenerateContentResponse chunk: ${parsed.error.issues[0]?.message ?? ''}`));
        break;
      }
      this.chunk(parsed.data, out);
    }
    return out;
  }

  end(): StreamEvent[] {
    if (this.closed) return [];
    const out: StreamEvent[] = [];
    this.closeOpen(out);
    if (this.finish) return this.emitFinish(out);
    this.closed = true;
    out.push({ type: 'error', message: 'Upstream stream ended before a finishReason.', status: 502, errorType: 'upstream_error' });
    return out;
  }

  private chunk(r: GeminiGenerateContentResponse, out: StreamEvent[]): void {
    if (!this.started) {
      this.started = true;
      this.key = geminiResponseKey(r.responseId);
      out.push({ type: 'start', id: r.responseId ?? `gemini-${this.key}`, model: r.modelVersion ?? '', created: createdOf(r, this.opts) });
    }
    if (r.usageMetadata) this.usage = convertGeminiUsage(r.usageMetadata);
    if (this.finish) {
      // Parts after the finish would be a protocol break; a late usage-only chunk completes the finish.
      if (r.usageMetadata) this.emitFinish(out);
      return;
    }
    const candidate = r.candidates?.[0];
    for (const part of candidate?.content?.parts ?? []) this.part(part, out);
    if (candidate?.finishReason || (!candidate && r.promptFeedback?.blockReason)) {
      this.closeOpen(out);
      const f = finishOf(r, this.calls > 0);
      this.finish = { reason: f.finishReason, raw: f.rawFinishReason };
      if (r.usageMetadata) this.emitFinish(out);
    }
  }

  private part(part: GeminiPart, out: StreamEvent[]): void {
    const signature = part.thoughtSignature ?? undefined;
    if (part.functionCall) {
      this.closeOpen(out);
      if (signature) this.signatureBlock(signature, out);
      const fc = part.functionCall;
      const index = this.nextIndex++;
      out.push({ type: 'tool-call-start', index, id: fc.id ?? geminiToolCallId(this.key, this.calls), name: fc.name });
      out.push({ type: 'tool-call-delta', index, argumentsDelta: JSON.stringify(fc.args ?? {}) });
      out.push({ type: 'tool-call-end', index });
      this.calls++;
      return;
    }
    if (typeof part.text !== 'string') {
      if (signature) {
        this.closeOpen(out);
        this.signatureBlock(signature, out);
      }
      return;
    }
    if (part.thought === true) {
      const index = this.ensureOpen('reasoning', out);
      if (part.text !== '') out.push({ type: 'reasoning-delta', index, delta: part.text });
      if (signature) out.push({ type: 'reasoning-signature', index, signature });
      return;
    }
    if (signature) {
      this.closeOpen(out);
      this.signatureBlock(signature, out);
    }
    if (part.text === '') return;
    const index = this.ensureOpen('text', out);
    out.push({ type: 'text-delta', index, delta: part.text });
  }

  private signatureBlock(signature: string, out: StreamEvent[]): void {
    const index = this.nextIndex++;
    out.push({ type: 'reasoning-start', index }, { type: 'reasoning-signature', index, signature }, { type: 'reasoning-end', index });
  }

  private ensureOpen(kind: OpenBlock['kind'], out: StreamEvent[]): number {
    if (this.open?.kind === kind) return this.open.index;
    this.closeOpen(out);
    const index = this.nextIndex++;
    this.open = { kind, index };
    out.push(kind === 'text' ? { type: 'text-start', index } : { type: 'reasoning-start', index });
    return index;
  }

  private closeOpen(out: StreamEvent[]): void {
    const open = this.open;
    if (!open) return;
    this.open = undefined;
    out.push(open.kind === 'text' ? { type: 'text-end', index: open.index } : { type: 'reasoning-end', index: open.index });
  }

  private emitFinish(out: StreamEvent[]): StreamEvent[] {
    if (!this.finish || this.closed) return out;
    this.closed = true;
    const ev: StreamEvent = { type: 'finish', finishReason: this.finish.reason };
    if (this.finish.raw !== undefined) ev.rawFinishReason = this.finish.raw;
    if (this.usage) ev.usage = this.usage;
    out.push(ev);
    return out;
  }

  private fail(info: string | { message: string; type?: string; status?: number }): StreamEvent[] {
    this.closed = true;
    if (typeof info === 'string') return [{ type: 'error', message: info, status: 502, errorType: 'upstream_error' }];
    const ev: StreamEvent = { type: 'error', message: info.message };
    if (info.type) ev.errorType = info.type;
    if (info.status !== undefined) ev.status = info.status;
    return [ev];
  }
}
