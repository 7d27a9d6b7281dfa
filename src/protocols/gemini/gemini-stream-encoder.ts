import type { StreamEvent, Usage } from '../../core/canonical.ts';
import type { StreamEncoder } from '../../core/codec.ts';
import { GatewayError } from '../../core/errors.ts';
import type { GeminiCandidateOut, GeminiGenerateContentResponseOut, GeminiPartOut } from '../../wire/gemini.ts';
import { encodeGeminiUsage, parseArgs } from './encode-gemini-parts.ts';
import { encodeGeminiError } from './gemini-error.ts';
import { mapToGeminiFinishReason } from './map-to-gemini-finish-reason.ts';

export interface GeminiStreamEncoderOptions {
  /**
   * `streamGenerateContent` without `alt=sse`: one JSON array whose elements are sent as
   * they are ready (`[` first, `,\r\n` between, `]` at the end) instead of SSE events.
   */
  jsonArray?: boolean;
}

export interface GeminiStreamContext {
  model: string;
  requestId: string;
  /** Ignored: Gemini always reports usage in the last chunk. */
  streamUsage?: boolean;
}

/**
 * Canonical stream events -> streamGenerateContent chunks, each a whole
 * GenerateContentResponse, framed as Google frames them: `data: {...}\r\n\r\n` with
 * alt=sse (no [DONE]), or a JSON array. Text and thought deltas go out as they come; a
 * function call goes out whole, as Gemini sends it, once its arguments are complete
 * (tool-call-end). The last chunk carries finishReason and usageMetadata. A signature
 * carried alone (see encodeGeminiParts) rides on the next part, or on an empty text part
 * in the last chunk.
 */
export class GeminiStreamEncoder implements StreamEncoder {
  private responseId: string;
  private opened = false;
  private done = false;
  private pendingSignature: string | undefined;
  /** Canonical block index -> tool call being assembled. */
  private readonly tools = new Map<number, { id: string; name: string; args: string }>();
  /** Canonical reasoning block indexes that have had text. */
  private readonly thoughtBlocks = new Set<number>();

  constructor(
    private readonly ctx: GeminiStreamContext,
    private readonly opts: GeminiStreamEncoderOptions = {},
  ) {
    this.responseId = ctx.requestId;
  }

  encode(event: StreamEvent): string {
    if (this.done) return '';
    switch (event.type) {
      case 'start':
        if (event.id) this.responseId = event.id;
        return '';
      case 'text-delta':
        return event.delta ? this.chunk([this.take({ text: event.delta })]) : '';
      case 'reasoning-delta':
        if (!event.delta) return '';
        this.thoughtBlocks.add(event.index);
        return this.chunk([{ text: event.delta, thought: true }]);
      case 'reasoning-signature':
        // After thought text, the signature closes that thought; alone, it belongs to the next part.
        if (this.thoughtBlocks.has(event.index)) return this.chunk([{ text: '', thought: true, thoughtSignature: event.signature }]);
        this.pendingSignature = event.signature;
        return '';
      case 'tool-call-start':
        this.tools.set(event.index, { id: event.id, name: event.name, args: '' });
        return '';
      case 'tool-call-delta': {
        const tool = this.tools.get(event.index);
        if (tool) tool.args += event.argumentsDelta;
        return '';
      }
      case 'tool-call-end': {
        const tool = this.tools.get(event.index);
        if (!tool) return '';
        this.tools.delete(event.index);
        return this.chunk([this.toolPart(tool)]);
      }
      case 'finish':
        return this.finish(event.finishReason, event.rawFinishReason, event.usage);
      case 'error':
        return this.encodeError(new GatewayError('upstream_error', event.message, { status: event.status, type: event.errorType, publicCode: null }));
      default:
        return '';
    }
  }

  end(): string {
    if (!this.opts.jsonArray || this.done) return '';
    this.done = true;
    return this.opened ? ']' : '[]';
  }

  encodeError(err: GatewayError): string {
    if (this.done) return '';
    this.done = true;
    const json = JSON.stringify(encodeGeminiError(err).body);
    if (!this.opts.jsonArray) return `data: ${json}\r\n\r\n`;
    const prefix = this.opened ? ',\r\n' : '[';
    this.opened = true;
    return `${prefix}${json}]`;
  }

  private finish(reason: Extract<StreamEvent, { type: 'finish' }>['finishReason'], raw: string | undefined, usage: Usage | undefined): string {
    // Calls the upstream never closed still reach the client.
    const parts = [...this.tools.values()].map((t) => this.toolPart(t));
    this.tools.clear();
    if (this.pendingSignature !== undefined) parts.push(this.take({ text: '' }));
    const candidate: GeminiCandidateOut = {
      content: parts.length > 0 ? { parts, role: 'model' } : { role: 'model' },
      finishReason: mapToGeminiFinishReason(reason, raw),
      index: 0,
    };
    const out = this.frame(this.response(candidate, usage));
    if (!this.opts.jsonArray) this.done = true;
    return out;
  }

  private toolPart(tool: { id: string; name: string; args: string }): GeminiPartOut {
    return this.take({ functionCall: { id: tool.id, name: tool.name, args: parseArgs(tool.args) } });
  }

  private take(part: GeminiPartOut): GeminiPartOut {
    if (this.pendingSignature !== undefined) part.thoughtSignature = this.pendingSignature;
    this.pendingSignature = undefined;
    return part;
  }

  private chunk(parts: GeminiPartOut[]): string {
    return this.frame(this.response({ content: { parts, role: 'model' }, index: 0 }, undefined));
  }

  private response(candidate: GeminiCandidateOut, usage: Usage | undefined): GeminiGenerateContentResponseOut {
    const r: GeminiGenerateContentResponseOut = { candidates: [candidate], modelVersion: this.ctx.model, responseId: this.responseId };
    if (!usage) return r;
    return { candidates: r.candidates, usageMetadata: encodeGeminiUsage(usage), modelVersion: r.modelVersion, responseId: r.responseId };
  }

  private frame(chunk: GeminiGenerateContentResponseOut): string {
    const json = JSON.stringify(chunk);
    if (!this.opts.jsonArray) return `data: ${json}\r\n\r\n`;
    const prefix = this.opened ? ',\r\n' : '[';
    this.opened = true;
    return prefix + json;
  }
}

/** A stream encoder for one response; `{ jsonArray: true }` for streamGenerateContent without alt=sse. */
export function createGeminiStreamEncoder(ctx: GeminiStreamContext, opts: GeminiStreamEncoderOptions = {}): StreamEncoder {
  return new GeminiStreamEncoder(ctx, opts);
}

/** Whole chunks -> the body of a non-SSE streamGenerateContent answer (a JSON array). */
export function encodeGeminiJsonArrayStream(chunks: unknown[]): string {
  return `[${chunks.map((c) => JSON.stringify(c)).join(',\r\n')}]`;
}
