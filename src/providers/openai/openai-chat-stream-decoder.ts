import type { FinishReason, StreamEvent, Usage } from '../../core/canonical.ts';
import type { StreamDecoder } from '../../core/codec.ts';
import type { SseEvent } from '../../core/sse.ts';
import { openAIChatChunkSchema, type OpenAIChatChunk } from '../../wire/openai-chat.ts';
import { convertOpenAIUsage } from './convert-openai-usage.ts';
import { finishReasonWithToolCalls, mapOpenAIFinishReason } from './map-openai-finish-reason.ts';
import { parseOpenAIError } from './openai-error.ts';

type ChunkToolCall = NonNullable<NonNullable<NonNullable<OpenAIChatChunk['choices']>[number]['delta']>['tool_calls']>[number];

interface ToolState {
  /** Canonical block index, once started. */
  index: number | undefined;
  id: string | undefined;
  /** Arguments that arrived before the tool's name (the start event needs the name). */
  pendingArgs: string;
}

type OpenBlock = { kind: 'text' | 'reasoning' | 'tool'; index: number };

/**
 * `chat.completion.chunk` events -> canonical stream events. One block is open
 * at a time (Anthropic-style consumers need that): a new kind of delta ends the
 * open block. The finish event waits for the usage chunk, which OpenAI sends
 * after the finish_reason chunk when stream_options.include_usage is set.
 */
export class OpenAIChatStreamDecoder implements StreamDecoder {
  private started = false;
  private closed = false;
  private streamId = '';
  private nextIndex = 0;
  private open: OpenBlock | undefined;
  /** By OpenAI's tool call index. */
  private readonly tools = new Map<number, ToolState>();
  private finish: { reason: FinishReason; raw: string } | undefined;
  private usage: Usage | undefined;

  decode(event: SseEvent): StreamEvent[] {
    if (this.closed) return [];
    const data = event.data.trim();
    if (data === '') return [];
    // The usage chunk, if any, came before [DONE]: nothing more will.
    if (data === '[DONE]') return this.finish ? this.emitFinish([]) : [];
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      return this.fail(`Upstream sent a stream event that is not JSON: ${data.slice(0, 200)}`);
    }
    if (event.event === 'error' || (json !== null && typeof json === 'object' && 'error' in json)) {
      return this.fail(parseOpenAIError(data));
    }
    const parsed = openAIChatChunkSchema.safeParse(json);
    if (!parsed.success) return this.fail(`Upstream sent a malformed chat completion chunk: ${parsed.error.issues[0]?.message ?? ''}`);
    const chunk = parsed.data;

    const out: StreamEvent[] = [];
    if (!this.started) {
      this.started = true;
      this.streamId = chunk.id ?? '';
      out.push({ type: 'start', id: this.streamId, model: chunk.model ?? '', created: chunk.created ?? 0 });
    }
    // Converted routes ask for one choice; anything else is ignored.
    const choice = chunk.choices?.find((c) => (c.index ?? 0) === 0);
    if (choice) {
      const d = choice.delta;
      if (d) {
        const reasoning = d.reasoning_content ?? d.reasoning;
        if (reasoning) this.appendBlock('reasoning', reasoning, out);
        if (d.content) this.appendBlock('text', d.content, out);
        if (d.refusal) this.appendBlock('text', d.refusal, out);
        (d.tool_calls ?? []).forEach((tc, position) => this.toolDelta(tc, position, out));
      }
      if (choice.finish_reason && !this.finish) {
        this.closeOpen(out);
        const hasToolCalls = [...this.tools.values()].some((t) => t.index !== undefined);
        this.finish = {
          reason: finishReasonWithToolCalls(mapOpenAIFinishReason(choice.finish_reason), hasToolCalls),
          raw: choice.finish_reason,
        };
      }
    }
    if (chunk.usage) {
      this.usage = convertOpenAIUsage(chunk.usage);
      if (this.finish) return this.emitFinish(out);
    }
    return out;
  }

  end(): StreamEvent[] {
    if (this.closed) return [];
    const out: StreamEvent[] = [];
    this.closeOpen(out);
    if (this.finish) return this.emitFinish(out);
    this.closed = true;
    out.push({ type: 'error', message: 'Upstream stream ended before a finish_reason.', status: 502, errorType: 'upstream_error' });
    return out;
  }

  private emitFinish(out: StreamEvent[]): StreamEvent[] {
    if (!this.finish) return out;
    this.closed = true;
    const ev: StreamEvent = { type: 'finish', finishReason: this.finish.reason, rawFinishReason: this.finish.raw };
    if (this.usage) ev.usage = this.usage;
    out.push(ev);
    return out;
  }

  private fail(info: string | { message: string; type?: string; code?: string | null }): StreamEvent[] {
    this.closed = true;
    if (typeof info === 'string') return [{ type: 'error', message: info, status: 502, errorType: 'upstream_error' }];
    const ev: StreamEvent = { type: 'error', message: info.message };
    if (info.type) ev.errorType = info.type;
    const status = Number(info.code);
    if (Number.isInteger(status) && status >= 400 && status < 600) ev.status = status;
    return [ev];
  }

  private appendBlock(kind: 'text' | 'reasoning', delta: string, out: StreamEvent[]): void {
    if (this.open?.kind !== kind) {
      this.closeOpen(out);
      const index = this.nextIndex++;
      this.open = { kind, index };
      out.push(kind === 'text' ? { type: 'text-start', index } : { type: 'reasoning-start', index });
    }
    const index = this.open.index;
    out.push(kind === 'text' ? { type: 'text-delta', index, delta } : { type: 'reasoning-delta', index, delta });
  }

  private toolDelta(tc: ChunkToolCall, position: number, out: StreamEvent[]): void {
    const key = tc.index ?? position;
    let state = this.tools.get(key);
    if (!state) {
      state = { index: undefined, id: undefined, pendingArgs: '' };
      this.tools.set(key, state);
    }
    if (tc.id && !state.id) state.id = tc.id;
    const args = tc.function?.arguments ?? '';
    const name = tc.function?.name;
    if (state.index === undefined) {
      state.pendingArgs += args;
      if (name) this.startTool(key, state, name, out);
      return;
    }
    // Deltas for an earlier call after another block began go to that call's own index.
    if (args) out.push({ type: 'tool-call-delta', index: state.index, argumentsDelta: args });
  }

  private startTool(key: number, state: ToolState, name: string, out: StreamEvent[]): void {
    this.closeOpen(out);
    const index = this.nextIndex++;
    state.index = index;
    this.open = { kind: 'tool', index };
    // Some compatible servers omit ids; tool results must still be able to refer to the call.
    out.push({ type: 'tool-call-start', index, id: state.id ?? `call_${this.streamId}_${key}`, name });
    if (state.pendingArgs) out.push({ type: 'tool-call-delta', index, argumentsDelta: state.pendingArgs });
    state.pendingArgs = '';
  }

  private closeOpen(out: StreamEvent[]): void {
    const open = this.open;
    if (!open) return;
    this.open = undefined;
    if (open.kind === 'text') out.push({ type: 'text-end', index: open.index });
    else if (open.kind === 'reasoning') out.push({ type: 'reasoning-end', index: open.index });
    else out.push({ type: 'tool-call-end', index: open.index });
  }
}
