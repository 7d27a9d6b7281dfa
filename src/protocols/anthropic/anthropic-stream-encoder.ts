import type { StreamEvent, Usage } from '../../core/canonical.ts';
import type { StreamEncoder } from '../../core/codec.ts';
import { GatewayError } from '../../core/errors.ts';
import { encodeSse } from '../../core/sse.ts';
import { encodeAnthropicStreamError } from './anthropic-error.ts';
import { encodeAnthropicUsage, toAnthropicMessageId } from './encode-anthropic-message.ts';
import { mapToAnthropicStopReason } from './map-to-anthropic-stop-reason.ts';

type BlockKind = 'text' | 'thinking' | 'redacted_thinking' | 'tool_use';

interface OpenBlock {
  kind: BlockKind;
  /** The canonical block index it came from. */
  key: number;
  /** Anthropic's index: consecutive from 0, in the order blocks open. */
  index: number;
}

function sse(payload: { type: string } & Record<string, unknown>): string {
  return encodeSse(JSON.stringify(payload), payload.type);
}

/**
 * Canonical stream events -> Anthropic Messages SSE, as the API streams it:
 * message_start, then for each block content_block_start / content_block_delta... /
 * content_block_stop with consecutive indexes, then message_delta (stop_reason and
 * cumulative usage) and message_stop.
 *
 * Upstreams that are not Anthropic do not always mark block boundaries, so blocks
 * are opened on their first delta and the open block is closed when another one
 * starts; Anthropic allows one open block at a time.
 */
export class AnthropicStreamEncoder implements StreamEncoder {
  private started = false;
  private finished = false;
  private failed = false;
  private ended = false;
  private nextIndex = 0;
  private open: OpenBlock | undefined;
  /** Canonical tool block index -> Anthropic index, for argument deltas that arrive late. */
  private readonly toolIndexes = new Map<number, number>();

  constructor(private readonly ctx: { model: string; requestId: string; streamUsage: boolean }) {}

  encode(event: StreamEvent): string {
    if (this.failed || this.finished) return '';
    switch (event.type) {
      case 'start':
        return this.ensureStarted(event.id, event.usage);
      case 'text-start':
        return this.ensureStarted() + this.ensureOpen('text', event.index);
      case 'text-delta':
        if (!event.delta) return '';
        return this.ensureStarted() + this.ensureOpen('text', event.index) + this.delta({ type: 'text_delta', text: event.delta });
      case 'text-end':
        return this.closeIf('text', event.index);
      case 'reasoning-start':
        if (event.redactedData !== undefined) return this.ensureStarted() + this.ensureOpen('redacted_thinking', event.index, event.redactedData);
        return this.ensureStarted() + this.ensureOpen('thinking', event.index);
      case 'reasoning-delta':
        if (!event.delta || this.isOpen('redacted_thinking', event.index)) return '';
        return this.ensureStarted() + this.ensureOpen('thinking', event.index) + this.delta({ type: 'thinking_delta', thinking: event.delta });
      case 'reasoning-signature':
        if (!event.signature || this.isOpen('redacted_thinking', event.index)) return '';
        return this.ensureStarted() + this.ensureOpen('thinking', event.index) + this.delta({ type: 'signature_delta', signature: event.signature });
      case 'reasoning-end':
        return this.closeIf('thinking', event.index) + this.closeIf('redacted_thinking', event.index);
      case 'tool-call-start': {
        let out = this.ensureStarted() + this.closeOpen();
        const index = this.nextIndex++;
        this.toolIndexes.set(event.index, index);
        this.open = { kind: 'tool_use', key: event.index, index };
        out += sse({ type: 'content_block_start', index, content_block: { type: 'tool_use', id: event.id, name: event.name, input: {} } });
        return out;
      }
      case 'tool-call-delta': {
        const index = this.toolIndexes.get(event.index);
        if (index === undefined || !event.argumentsDelta) return '';
        // A delta for a call whose block was already closed (interleaved parallel calls) still goes to that
        // call's index: the SDKs accumulate by index, and dropping it would corrupt the arguments.
        return sse({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: event.argumentsDelta } });
      }
      case 'tool-call-end':
        return this.closeIf('tool_use', event.index);
      case 'finish': {
        const out = this.ensureStarted() + this.closeOpen() + this.messageDelta(mapToAnthropicStopReason(event.finishReason, event.rawFinishReason), event.usage);
        this.finished = true;
        return out;
      }
      case 'error':
        return this.encodeError(new GatewayError('upstream_error', event.message, { status: event.status, type: event.errorType, publicCode: null }));
    }
  }

  end(): string {
    if (this.failed || this.ended) return '';
    this.ended = true;
    let out = this.ensureStarted() + this.closeOpen();
    // No finish event came (the upstream's stream ended without one): still end the message properly.
    if (!this.finished) out += this.messageDelta('end_turn', undefined);
    this.finished = true;
    return out + sse({ type: 'message_stop' });
  }

  encodeError(err: GatewayError): string {
    if (this.failed) return '';
    this.failed = true;
    return encodeAnthropicStreamError(err);
  }

  private ensureStarted(id = '', usage?: Partial<Usage>): string {
    if (this.started) return '';
    this.started = true;
    return sse({
      type: 'message_start',
      message: {
        id: toAnthropicMessageId(id, this.ctx.requestId),
        type: 'message',
        role: 'assistant',
        model: this.ctx.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: encodeAnthropicUsage(usage),
      },
    });
  }

  private isOpen(kind: BlockKind, key: number): boolean {
    return this.open !== undefined && this.open.kind === kind && this.open.key === key;
  }

  private ensureOpen(kind: Exclude<BlockKind, 'tool_use'>, key: number, redactedData = ''): string {
    if (this.isOpen(kind, key)) return '';
    const out = this.closeOpen();
    const index = this.nextIndex++;
    this.open = { kind, key, index };
    const block =
      kind === 'text'
        ? { type: 'text', text: '' }
        : kind === 'thinking'
          ? { type: 'thinking', thinking: '', signature: '' }
          : { type: 'redacted_thinking', data: redactedData };
    return out + sse({ type: 'content_block_start', index, content_block: block });
  }

  private delta(delta: Record<string, string>): string {
    // Only called right after ensureOpen, so a block is open.
    return this.open ? sse({ type: 'content_block_delta', index: this.open.index, delta }) : '';
  }

  private closeIf(kind: BlockKind, key: number): string {
    return this.isOpen(kind, key) ? this.closeOpen() : '';
  }

  private closeOpen(): string {
    const open = this.open;
    if (!open) return '';
    this.open = undefined;
    return sse({ type: 'content_block_stop', index: open.index });
  }

  private messageDelta(stopReason: string, usage: Usage | undefined): string {
    // Anthropic's usage here is cumulative; with the whole usage known, the input counts are
    // repeated too (as the API does today), which matters when message_start could not know them.
    const u = encodeAnthropicUsage(usage);
    const wireUsage = usage
      ? { input_tokens: u.input_tokens, cache_creation_input_tokens: u.cache_creation_input_tokens, cache_read_input_tokens: u.cache_read_input_tokens, output_tokens: u.output_tokens }
      : { output_tokens: 0 };
    return sse({ type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: wireUsage });
  }
}
