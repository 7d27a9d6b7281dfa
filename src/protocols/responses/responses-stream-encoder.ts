import type { StreamEvent, Usage } from '../../core/canonical.ts';
import type { StreamEncoder } from '../../core/codec.ts';
import { GatewayError } from '../../core/errors.ts';
import { encodeSse } from '../../core/sse.ts';
import type {
  ResponsesItemStatusOut,
  ResponsesObjectOut,
  ResponsesOutputItemOut,
  ResponsesOutputTextOut,
  ResponsesStreamEventOut,
} from '../../wire/openai-responses.ts';
import {
  encodeResponsesFailure,
  encodeResponsesObject,
  resolveResponsesContext,
  type ResolvedResponsesContext,
  type ResponsesEncodeContext,
} from './encode-responses-object.ts';
import { mapToResponsesStatus } from './map-to-responses-status.ts';

type ItemKind = 'message' | 'reasoning' | 'function_call';

export interface ResponsesStreamEncoderOptions extends ResponsesEncodeContext {
  /** Ignored: a Responses stream always ends with its usage. */
  streamUsage?: boolean;
  /** Called with the final response (completed, incomplete or failed) as it goes out, for the route to store. */
  onResponse?: (response: ResponsesObjectOut) => void;
}

interface Item {
  kind: ItemKind;
  /** The canonical block index it came from. */
  key: number;
  outputIndex: number;
  id: string;
  /** Message text, reasoning summary text, or call arguments so far. */
  text: string;
  /** Reasoning: whether the summary part was announced (only once text arrives). */
  summaryOpen: boolean;
  signature?: string;
  callId: string;
  name: string;
  /** The finished item, once output_item.done went out. */
  done?: ResponsesOutputItemOut;
}

/**
 * Canonical stream events -> Responses API SSE, in the order OpenAI streams it and
 * the SDK's accumulator requires: response.created and response.in_progress, then
 * per output item output_item.added, its parts and deltas, their .done events and
 * output_item.done, and last response.completed (or response.incomplete) with the
 * whole response. Every event has an `event:` line and a sequence_number from 0.
 *
 * Items open on their first content, not on the canonical block start, so an
 * empty block leaves no empty item. They close when an item of another kind
 * opens or the stream finishes, not on the block's end: an upstream may report
 * the end before the finish reason says the answer was cut off (then the last
 * item is `incomplete`), and parallel tool calls may still get argument deltas
 * after their end, so calls stay open while further calls stream.
 */
export class ResponsesStreamEncoder implements StreamEncoder {
  private readonly ctx: ResolvedResponsesContext;
  private seq = 0;
  private createdAt = 0;
  private started = false;
  private finished = false;
  private failed = false;
  private readonly items: Item[] = [];
  private readonly byKey = new Map<number, Item>();
  /** Redacted thinking blocks: nothing a Responses client could show or send back. */
  private readonly skipped = new Set<number>();
  private final: ResponsesObjectOut | undefined;

  constructor(private readonly options: ResponsesStreamEncoderOptions) {
    this.ctx = resolveResponsesContext(options);
  }

  get responseId(): string {
    return this.ctx.responseId;
  }

  /** The response as the last event carried it (completed, incomplete or failed), for the route to store. */
  finalResponse(): ResponsesObjectOut | undefined {
    return this.final;
  }

  encode(event: StreamEvent): string {
    if (this.failed || this.finished) return '';
    switch (event.type) {
      case 'start':
        return this.ensureStarted(event.created);
      case 'text-start':
      case 'text-end':
      case 'reasoning-end':
      case 'tool-call-end':
        return this.ensureStarted();
      case 'text-delta': {
        if (!event.delta) return '';
        const [item, opened] = this.ensureItem('message', event.index);
        item.text += event.delta;
        return opened + this.emit({ type: 'response.output_text.delta', item_id: item.id, output_index: item.outputIndex, content_index: 0, delta: event.delta, logprobs: [] });
      }
      case 'reasoning-start':
        if (event.redactedData !== undefined) this.skipped.add(event.index);
        return this.ensureStarted();
      case 'reasoning-delta': {
        if (!event.delta || this.skipped.has(event.index)) return '';
        const [item, opened] = this.ensureItem('reasoning', event.index);
        let out = opened;
        if (!item.summaryOpen) {
          item.summaryOpen = true;
          out += this.emit({ type: 'response.reasoning_summary_part.added', item_id: item.id, output_index: item.outputIndex, summary_index: 0, part: { type: 'summary_text', text: '' } });
        }
        item.text += event.delta;
        return out + this.emit({ type: 'response.reasoning_summary_text.delta', item_id: item.id, output_index: item.outputIndex, summary_index: 0, delta: event.delta });
      }
      case 'reasoning-signature': {
        if (!event.signature || this.skipped.has(event.index)) return '';
        const [item, opened] = this.ensureItem('reasoning', event.index);
        item.signature = event.signature;
        return opened;
      }
      case 'tool-call-start': {
        if (this.byKey.get(event.index)?.kind === 'function_call') return '';
        const [item, closed] = this.openItem('function_call', event.index);
        item.callId = event.id;
        item.name = event.name;
        return closed + this.emit({ type: 'response.output_item.added', output_index: item.outputIndex, item: this.snapshot(item, 'in_progress') });
      }
      case 'tool-call-delta': {
        const item = this.byKey.get(event.index);
        // A delta after the call's output_item.done cannot be shown any more; upstreams send them only
        // while further calls stream, and calls stay open until then.
        if (!item || item.kind !== 'function_call' || item.done || !event.argumentsDelta) return '';
        item.text += event.argumentsDelta;
        return this.emit({ type: 'response.function_call_arguments.delta', item_id: item.id, output_index: item.outputIndex, delta: event.argumentsDelta });
      }
      case 'finish':
        return this.finish(event.finishReason, event.usage);
      case 'error':
        return this.encodeError(new GatewayError('upstream_error', event.message, { status: event.status, type: event.errorType, publicCode: null }));
    }
  }

  /** Responses streams have no [DONE]; a stream that ended without a finish event still gets its response.completed. */
  end(): string {
    if (this.failed || this.finished) return '';
    return this.finish('stop', undefined);
  }

  /**
   * An `error` event, as the SDK's ResponseErrorEvent (the SDK rejects the stream on it),
   * then response.failed with what was generated so far. Before response.created
   * there is no response to fail, so the error event is all there is.
   */
  encodeError(err: GatewayError): string {
    if (this.failed || this.finished) return '';
    this.failed = true;
    let out = this.emit({ type: 'error', code: err.publicCode, message: err.message, param: err.param });
    if (!this.started) return out;
    const output = this.items.map((i) => i.done ?? this.snapshot(i, 'incomplete'));
    this.final = encodeResponsesObject(this.ctx, { createdAt: this.createdAt, status: 'failed', output, error: encodeResponsesFailure(err) });
    this.options.onResponse?.(this.final);
    out += this.emit({ type: 'response.failed', response: this.final });
    return out;
  }

  private finish(reason: Parameters<typeof mapToResponsesStatus>[0], usage: Usage | undefined): string {
    let out = this.ensureStarted();
    const { status, incomplete_details } = mapToResponsesStatus(reason);
    const last = this.items[this.items.length - 1];
    const cut = status === 'incomplete' && last && !last.done && last.kind !== 'reasoning' ? last : undefined;
    out += this.closeWhere(() => true, cut);
    this.finished = true;
    this.final = encodeResponsesObject(this.ctx, {
      createdAt: this.createdAt,
      status,
      incompleteDetails: incomplete_details,
      output: this.items.map((i) => i.done ?? this.snapshot(i, 'completed')),
      usage,
    });
    this.options.onResponse?.(this.final);
    return out + this.emit({ type: status === 'incomplete' ? 'response.incomplete' : 'response.completed', response: this.final });
  }

  private ensureStarted(created?: number): string {
    if (this.started) return '';
    this.started = true;
    this.createdAt = this.options.createdAt ?? created ?? this.options.now?.() ?? 0;
    const response = encodeResponsesObject(this.ctx, { createdAt: this.createdAt, status: 'in_progress', output: [] });
    return this.emit({ type: 'response.created', response }) + this.emit({ type: 'response.in_progress', response });
  }

  /**
   * The open message or reasoning item of this block, opened (with its first part
   * for messages) if needed; returns it with the text that opening it wrote.
   */
  private ensureItem(kind: 'message' | 'reasoning', key: number): [Item, string] {
    const existing = this.byKey.get(key);
    if (existing && existing.kind === kind && !existing.done) return [existing, ''];
    const [item, closed] = this.openItem(kind, key);
    let out = closed + this.emit({ type: 'response.output_item.added', output_index: item.outputIndex, item: this.snapshot(item, 'in_progress') });
    if (kind === 'message') {
      out += this.emit({ type: 'response.content_part.added', item_id: item.id, output_index: item.outputIndex, content_index: 0, part: outputText('') });
    }
    return [item, out];
  }

  /**
   * A new item (the stream started) closes what it must not overlap: everything
   * for text and reasoning, text and reasoning for a call. Returns the item and
   * the text written before it.
   */
  private openItem(kind: ItemKind, key: number): [Item, string] {
    const out = this.ensureStarted() + this.closeWhere((i) => kind !== 'function_call' || i.kind !== 'function_call');
    const prefix = kind === 'message' ? 'msg' : kind === 'reasoning' ? 'rs' : 'fc';
    const item: Item = { kind, key, outputIndex: this.items.length, id: this.ctx.ids(prefix), text: '', summaryOpen: false, callId: '', name: '' };
    this.items.push(item);
    this.byKey.set(key, item);
    return [item, out];
  }

  private closeWhere(match: (item: Item) => boolean, incomplete?: Item): string {
    let out = '';
    for (const item of this.items) if (!item.done && match(item)) out += this.close(item, item === incomplete ? 'incomplete' : 'completed');
    return out;
  }

  private close(item: Item, status: ResponsesItemStatusOut): string {
    const at = { item_id: item.id, output_index: item.outputIndex };
    let out = '';
    if (item.kind === 'message') {
      out += this.emit({ type: 'response.output_text.done', ...at, content_index: 0, text: item.text, logprobs: [] });
      out += this.emit({ type: 'response.content_part.done', ...at, content_index: 0, part: outputText(item.text) });
    } else if (item.kind === 'reasoning') {
      if (item.summaryOpen) {
        out += this.emit({ type: 'response.reasoning_summary_text.done', ...at, summary_index: 0, text: item.text });
        out += this.emit({ type: 'response.reasoning_summary_part.done', ...at, summary_index: 0, part: { type: 'summary_text', text: item.text } });
      }
    } else {
      // Clients JSON.parse the arguments; a tool with no input still has an object.
      if (item.text === '') item.text = '{}';
      out += this.emit({ type: 'response.function_call_arguments.done', ...at, name: item.name, arguments: item.text });
    }
    item.done = this.snapshot(item, status);
    return out + this.emit({ type: 'response.output_item.done', output_index: item.outputIndex, item: item.done });
  }

  /** The item as output_item.added (in progress, nothing yet) or .done shows it. */
  private snapshot(item: Item, status: ResponsesItemStatusOut): ResponsesOutputItemOut {
    const opening = status === 'in_progress';
    switch (item.kind) {
      case 'message':
        return { id: item.id, type: 'message', status, role: 'assistant', content: opening ? [] : [outputText(item.text)] };
      case 'reasoning':
        return {
          id: item.id,
          type: 'reasoning',
          summary: opening || !item.summaryOpen ? [] : [{ type: 'summary_text', text: item.text }],
          ...(!opening && item.signature ? { encrypted_content: item.signature } : {}),
        };
      case 'function_call':
        return { id: item.id, type: 'function_call', status, arguments: opening ? '' : item.text, call_id: item.callId, name: item.name };
    }
  }

  private emit(event: ResponsesStreamEventOut): string {
    const { type, ...rest } = event;
    return encodeSse(JSON.stringify({ type, sequence_number: this.seq++, ...rest }), type);
  }
}

function outputText(text: string): ResponsesOutputTextOut {
  return { type: 'output_text', text, annotations: [], logprobs: [] };
}
