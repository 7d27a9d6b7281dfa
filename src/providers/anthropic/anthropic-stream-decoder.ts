import type { StreamEvent, Usage } from '../../core/canonical.ts';
import type { StreamDecoder } from '../../core/codec.ts';
import type { SseEvent } from '../../core/sse.ts';
import {
  ANTHROPIC_ERROR_STATUS,
  anthropicContentBlockDeltaSchema,
  anthropicContentBlockStartSchema,
  anthropicContentBlockStopSchema,
  anthropicErrorSchema,
  anthropicMessageDeltaSchema,
  anthropicMessageStartSchema,
  isAnthropicErrorType,
  mapAnthropicStopReason,
  type AnthropicContentBlock,
  type AnthropicUsage,
} from '../../wire/anthropic.ts';
import { convertAnthropicUsage, mergeAnthropicUsage } from './convert-anthropic-usage.ts';

type BlockKind = 'text' | 'reasoning' | 'tool' | 'skip';

/**
 * Anthropic Messages SSE -> canonical stream events. Anthropic's block indexes
 * are used as canonical indexes. The finish event is sent on message_stop (there
 * may be several message_delta events; their usage is cumulative). Server-tool
 * blocks and unknown event or delta types are skipped, as Anthropic asks of
 * clients; an `error` event becomes a canonical error with the status Anthropic
 * would have used outside a stream (overloaded_error -> 529).
 */
export class AnthropicStreamDecoder implements StreamDecoder {
  private started = false;
  private closed = false;
  private readonly blocks = new Map<number, { kind: BlockKind; open: boolean }>();
  private usage: AnthropicUsage | undefined;
  private stopReason: string | undefined;
  private sawMessageDelta = false;

  constructor(private readonly now: () => number = Date.now) {}

  decode(event: SseEvent): StreamEvent[] {
    if (this.closed) return [];
    if (event.event === 'ping') return [];
    const data = event.data.trim();
    if (data === '') return [];
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      return this.fail(`Upstream sent a stream event that is not JSON: ${data.slice(0, 200)}`);
    }
    const type = json !== null && typeof json === 'object' && typeof (json as { type?: unknown }).type === 'string' ? (json as { type: string }).type : event.event;

    switch (type) {
      case 'error':
        return this.upstreamError(json);
      case 'message_start':
        return this.messageStart(json);
      case 'content_block_start':
        return this.blockStart(json);
      case 'content_block_delta':
        return this.blockDelta(json);
      case 'content_block_stop':
        return this.blockStop(json);
      case 'message_delta': {
        const parsed = anthropicMessageDeltaSchema.safeParse(json);
        if (!parsed.success) return this.malformed(type, parsed.error.issues[0]?.message);
        this.sawMessageDelta = true;
        if (parsed.data.delta?.stop_reason) this.stopReason = parsed.data.delta.stop_reason;
        this.usage = mergeAnthropicUsage(this.usage, parsed.data.usage);
        return [];
      }
      case 'message_stop':
        return this.finish();
      default:
        // ping, and event types added after this was written.
        return [];
    }
  }

  end(): StreamEvent[] {
    if (this.closed) return [];
    // A message_delta carried the stop reason: only message_stop went missing.
    if (this.sawMessageDelta) return this.finish();
    return this.fail('Upstream stream ended before message_stop.');
  }

  private messageStart(json: unknown): StreamEvent[] {
    const parsed = anthropicMessageStartSchema.safeParse(json);
    if (!parsed.success) return this.malformed('message_start', parsed.error.issues[0]?.message);
    if (this.started) return [];
    this.started = true;
    const m = parsed.data.message;
    const ev: Extract<StreamEvent, { type: 'start' }> = { type: 'start', id: m.id ?? '', model: m.model ?? '', created: Math.floor(this.now() / 1000) };
    if (m.usage) {
      this.usage = mergeAnthropicUsage(undefined, m.usage);
      const u = convertAnthropicUsage(m.usage);
      const partial: Partial<Usage> = { inputTokens: u.inputTokens };
      if (u.cachedInputTokens !== undefined) partial.cachedInputTokens = u.cachedInputTokens;
      if (u.cacheWriteTokens !== undefined) partial.cacheWriteTokens = u.cacheWriteTokens;
      ev.usage = partial;
    }
    return [ev];
  }

  /** A block event before message_start: say `start` anyway so encoders have a message to put it in. */
  private ensureStarted(out: StreamEvent[]): void {
    if (this.started) return;
    this.started = true;
    out.push({ type: 'start', id: '', model: '', created: Math.floor(this.now() / 1000) });
  }

  private blockStart(json: unknown): StreamEvent[] {
    const parsed = anthropicContentBlockStartSchema.safeParse(json);
    if (!parsed.success) return this.malformed('content_block_start', parsed.error.issues[0]?.message);
    const out: StreamEvent[] = [];
    this.ensureStarted(out);
    const { index, content_block: block } = parsed.data;
    this.closeBlock(index, out);
    this.openBlock(index, block, out);
    return out;
  }

  private openBlock(index: number, block: AnthropicContentBlock, out: StreamEvent[]): void {
    switch (block.type) {
      case 'text':
        this.blocks.set(index, { kind: 'text', open: true });
        out.push({ type: 'text-start', index });
        if (block.text) out.push({ type: 'text-delta', index, delta: block.text });
        return;
      case 'thinking':
        this.blocks.set(index, { kind: 'reasoning', open: true });
        out.push({ type: 'reasoning-start', index });
        if (block.thinking) out.push({ type: 'reasoning-delta', index, delta: block.thinking });
        if (block.signature) out.push({ type: 'reasoning-signature', index, signature: block.signature });
        return;
      case 'redacted_thinking':
        this.blocks.set(index, { kind: 'reasoning', open: true });
        out.push({ type: 'reasoning-start', index, redactedData: block.data ?? '' });
        return;
      case 'tool_use': {
        this.blocks.set(index, { kind: 'tool', open: true });
        out.push({ type: 'tool-call-start', index, id: block.id ?? '', name: block.name ?? '' });
        // Anthropic streams the input as input_json_delta after an empty `{}`; a filled one is sent whole.
        const input = block.input;
        if (input !== null && typeof input === 'object' && Object.keys(input).length > 0) {
          out.push({ type: 'tool-call-delta', index, argumentsDelta: JSON.stringify(input) });
        }
        return;
      }
      default:
        this.blocks.set(index, { kind: 'skip', open: true });
    }
  }

  private blockDelta(json: unknown): StreamEvent[] {
    const parsed = anthropicContentBlockDeltaSchema.safeParse(json);
    if (!parsed.success) return this.malformed('content_block_delta', parsed.error.issues[0]?.message);
    const { index, delta } = parsed.data;
    const out: StreamEvent[] = [];
    this.ensureStarted(out);
    let block = this.blocks.get(index);
    if (block?.kind === 'skip') return out;
    switch (delta.type) {
      case 'text_delta':
        if (!block) block = this.implicitBlock(index, 'text', out);
        if (delta.text) out.push({ type: 'text-delta', index, delta: delta.text });
        break;
      case 'thinking_delta':
        if (!block) block = this.implicitBlock(index, 'reasoning', out);
        if (delta.thinking) out.push({ type: 'reasoning-delta', index, delta: delta.thinking });
        break;
      case 'signature_delta':
        if (!block) block = this.implicitBlock(index, 'reasoning', out);
        if (delta.signature) out.push({ type: 'reasoning-signature', index, signature: delta.signature });
        break;
      case 'input_json_delta':
        // A tool block's id and name come only with content_block_start; without it the input has no owner.
        if (block?.kind === 'tool' && delta.partial_json) out.push({ type: 'tool-call-delta', index, argumentsDelta: delta.partial_json });
        break;
      default:
        // citations_delta and newer delta types have no canonical counterpart.
        break;
    }
    return out;
  }

  private implicitBlock(index: number, kind: 'text' | 'reasoning', out: StreamEvent[]): { kind: BlockKind; open: boolean } {
    const block = { kind, open: true };
    this.blocks.set(index, block);
    out.push(kind === 'text' ? { type: 'text-start', index } : { type: 'reasoning-start', index });
    return block;
  }

  private blockStop(json: unknown): StreamEvent[] {
    const parsed = anthropicContentBlockStopSchema.safeParse(json);
    if (!parsed.success) return this.malformed('content_block_stop', parsed.error.issues[0]?.message);
    const out: StreamEvent[] = [];
    this.closeBlock(parsed.data.index, out);
    return out;
  }

  private closeBlock(index: number, out: StreamEvent[]): void {
    const block = this.blocks.get(index);
    if (!block || !block.open) return;
    block.open = false;
    if (block.kind === 'text') out.push({ type: 'text-end', index });
    else if (block.kind === 'reasoning') out.push({ type: 'reasoning-end', index });
    else if (block.kind === 'tool') out.push({ type: 'tool-call-end', index });
  }

  private finish(): StreamEvent[] {
    const out: StreamEvent[] = [];
    this.ensureStarted(out);
    for (const index of [...this.blocks.keys()].sort((a, b) => a - b)) this.closeBlock(index, out);
    this.closed = true;
    const ev: Extract<StreamEvent, { type: 'finish' }> = { type: 'finish', finishReason: mapAnthropicStopReason(this.stopReason) };
    if (this.stopReason) ev.rawFinishReason = this.stopReason;
    if (this.usage) ev.usage = convertAnthropicUsage(this.usage);
    out.push(ev);
    return out;
  }

  private upstreamError(json: unknown): StreamEvent[] {
    this.closed = true;
    const parsed = anthropicErrorSchema.safeParse(json);
    const type = parsed.success ? parsed.data.error.type : undefined;
    const ev: Extract<StreamEvent, { type: 'error' }> = {
      type: 'error',
      message: (parsed.success ? parsed.data.error.message : undefined) ?? 'Upstream sent an error event.',
      status: isAnthropicErrorType(type) ? ANTHROPIC_ERROR_STATUS[type] : 502,
    };
    if (type) ev.errorType = type;
    return [ev];
  }

  private malformed(type: string, detail: string | undefined): StreamEvent[] {
    return this.fail(`Upstream sent a malformed ${type} event${detail ? `: ${detail}` : ''}.`);
  }

  private fail(message: string): StreamEvent[] {
    this.closed = true;
    return [{ type: 'error', message, status: 502, errorType: 'upstream_error' }];
  }
}
