import type { ChatResult, StreamEvent } from '../../core/canonical.ts';
import type { IngressCodec, StreamEncoder, StreamTap } from '../../core/codec.ts';
import type { GatewayError } from '../../core/errors.ts';
import { GeneratedTextBuffer } from '../../core/generated-text-buffer.ts';
import { encodeSse, type SseEvent } from '../../core/sse.ts';

const DONE = 'data: [DONE]\n\n';

/**
 * The reply of one conversation turn as it goes to the client, in the OpenAI
 * chat format, whichever way the turn was relayed: its text (for the history)
 * and whether it completed. It adds the conversation's id to a `chat.completion`
 * and, after a stream's `data: [DONE]`, one trailer event
 * `{"id":<trailerId>,"conversationId","message":"[DONE]","fullContent"}` (the
 * relay's conversation API). Each attempt starts afresh: a failed-over attempt
 * leaves nothing behind.
 */
export class ConversationAnswer {
  /** The reply's text: choice 0's content. */
  content = '';
  /** The upstream finished the reply and the client was still there to get it. */
  completed = false;
  readonly codec: IngressCodec;

  constructor(
    private readonly conversationId: string,
    private readonly trailerId: string,
    /** The client went away (its reply is not complete). */
    private readonly clientGone: () => boolean,
    base: IngressCodec,
  ) {
    this.codec = {
      protocol: base.protocol,
      decodeRequest: (body, ctx) => base.decodeRequest(body, ctx),
      encodeError: (err) => base.encodeError(err),
      encodeResult: (result, ctx) => this.encodeResult(base.encodeResult(result, ctx), result),
      createStreamEncoder: (ctx) => this.wrapEncoder(base.createStreamEncoder(ctx)),
    };
  }

  /** The stream's last event, after `[DONE]`. */
  trailer(): string {
    return encodeSse(JSON.stringify({ id: this.trailerId, conversationId: this.conversationId, message: '[DONE]', fullContent: this.content }));
  }

  clientBody(text: string, json: unknown): string {
    const choice = (json as { choices?: Array<{ message?: { content?: unknown } }> }).choices?.[0];
    const content = choice?.message?.content;
    this.content = typeof content === 'string' ? content : '';
    this.completed = choice !== undefined;
    // A splice, not a re-encode: the upstream's bytes stay as they were.
    const open = text.indexOf('{');
    if (open === -1) return text;
    return `${text.slice(0, open + 1)}"conversationId":${JSON.stringify(this.conversationId)},${text.slice(open + 1)}`;
  }

  wrapTap(inner: StreamTap): StreamTap {
    this.content = '';
    this.completed = false;
    let finished = false;
    let sawDone = false;
    // The reply is read once, at the end, from the events kept as they passed (the fast path stays unparsed).
    const reply = new GeneratedTextBuffer(
      (datas) => {
        const read = readChunkContent(datas);
        if (read.finished) finished = true;
        return read.text;
      },
      (ev) => ev.data !== '[DONE]',
    );
    const tap: StreamTap = {
      process: (events: SseEvent[]) => {
        for (const ev of events) {
          if (ev.data === '[DONE]') sawDone = true;
          else reply.addData(ev.data);
        }
        return inner.process(events);
      },
      get usage() {
        return inner.usage;
      },
      get sawContent() {
        return inner.sawContent;
      },
      generatedText: () => inner.generatedText(),
      end: () => {
        const closing = inner.end?.() ?? '';
        this.content = reply.toString();
        this.completed = (finished || sawDone) && !this.clientGone();
        if (!this.completed) return closing;
        return closing + (sawDone ? '' : DONE) + this.trailer();
      },
    };
    const { passesUnread, keepRaw } = inner;
    if (passesUnread && keepRaw) {
      tap.passesUnread = (chunk) => passesUnread.call(inner, chunk);
      tap.keepRaw = (chunk) => {
        reply.addRaw(chunk);
        keepRaw.call(inner, chunk);
      };
    }
    return tap;
  }

  private encodeResult(encoded: unknown, result: ChatResult): unknown {
    this.content = result.content.map((p) => (p.type === 'text' ? p.text : '')).join('');
    this.completed = true;
    return { conversationId: this.conversationId, ...(encoded as object) };
  }

  private wrapEncoder(inner: StreamEncoder): StreamEncoder {
    this.content = '';
    this.completed = false;
    let finished = false;
    let failed = false;
    return {
      encode: (ev: StreamEvent) => {
        if (ev.type === 'text-delta') this.content += ev.delta;
        else if (ev.type === 'finish') finished = true;
        else if (ev.type === 'error') failed = true;
        return inner.encode(ev);
      },
      end: () => {
        const closing = inner.end();
        this.completed = finished && !failed && !this.clientGone();
        return this.completed ? closing + this.trailer() : closing;
      },
      encodeError: (err: GatewayError) => {
        failed = true;
        return inner.encodeError(err);
      },
    };
  }
}

/** Choice 0's content deltas of some `chat.completion.chunk` events, and whether its finish_reason came. */
export function readChunkContent(datas: readonly string[]): { text: string; finished: boolean } {
  let text = '';
  let finished = false;
  for (const data of datas) {
    let chunk: { choices?: Array<{ index?: number; delta?: { content?: unknown }; finish_reason?: unknown }> };
    try {
      chunk = JSON.parse(data) as typeof chunk;
    } catch {
      continue;
    }
    for (const c of chunk.choices ?? []) {
      if ((c.index ?? 0) !== 0) continue;
      if (typeof c.delta?.content === 'string') text += c.delta.content;
      if (c.finish_reason) finished = true;
    }
  }
  return { text, finished };
}
