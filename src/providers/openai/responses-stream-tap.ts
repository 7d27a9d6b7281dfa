import type { Usage } from '../../core/canonical.ts';
import type { StreamTap, UpstreamErrorInfo } from '../../core/codec.ts';
import { GeneratedTextBuffer } from '../../core/generated-text-buffer.ts';
import type { SseEvent } from '../../core/sse.ts';
import { convertResponsesUsage, responsesResponseSchema, responsesUsageSchema } from '../../wire/openai-responses.ts';

/** The events that carry the whole response, usage included. */
const TERMINAL = new Set(['response.completed', 'response.incomplete', 'response.failed']);

/**
 * Watches a Responses API stream from an upstream that serves it natively, as it
 * passes to a Responses client unchanged: takes usage from the last event
 * (response.completed / .incomplete / .failed carry `response.usage`), and keeps
 * the delta events for a token estimate in case none arrives. Only the terminal
 * events are JSON-parsed; Responses always reports usage, so nothing is dropped.
 */
export class ResponsesStreamTap implements StreamTap {
  usage: Usage | undefined;
  sawContent = false;
  /** Whether a terminal event went by (the upstream finished the response). */
  sawEnd = false;
  /** The whole Response of the terminal event, for the gateway's own store. */
  response: Record<string, unknown> | undefined;
  private readonly generated = new GeneratedTextBuffer(collectResponsesStreamText, (ev) => isGeneratedEvent(eventType(ev)));

  process(events: SseEvent[]): string {
    let out = '';
    for (const ev of events) {
      const type = eventType(ev);
      if (type !== undefined && TERMINAL.has(type)) {
        this.sawEnd = true;
        const json = parseJson(ev.data);
        const usage = extractResponsesUsage(json);
        if (usage) this.usage = usage;
        const response = (json as { response?: unknown } | undefined)?.response;
        if (response && typeof response === 'object') this.response = response as Record<string, unknown>;
      } else if (isGeneratedEvent(type)) {
        if (type !== 'response.output_item.added') this.sawContent = true;
        this.generated.addData(ev.data);
      }
      out += ev.raw;
    }
    return out;
  }

  /** No terminal event in the chunk: only deltas and bookkeeping, which pass unread. */
  passesUnread(chunk: Buffer): boolean {
    return TERMINAL_BYTES.every((b) => chunk.indexOf(b) === -1);
  }

  keepRaw(chunk: Buffer): void {
    this.generated.addRaw(chunk);
    if (chunk.indexOf(DELTA_BYTES) !== -1) this.sawContent = true;
  }

  generatedText(): string {
    return this.generated.toString();
  }
}

const TERMINAL_BYTES = [...TERMINAL].map((t) => Buffer.from(t));
const DELTA_BYTES = Buffer.from('.delta');

/** Deltas of generated content, and added items (a call's name is generated too). Audio deltas are base64 bytes, not text. */
function isGeneratedEvent(type: string | undefined): boolean {
  return type !== undefined && ((type.endsWith('.delta') && type !== 'response.audio.delta') || type === 'response.output_item.added');
}

/** OpenAI names each event on its `event:` line; a server that leaves it out still has `type` in the data. */
function eventType(ev: SseEvent): string | undefined {
  if (ev.event !== undefined) return ev.event;
  const json = parseJson(ev.data);
  return json !== null && typeof json === 'object' && typeof (json as { type?: unknown }).type === 'string' ? (json as { type: string }).type : undefined;
}

function parseJson(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}

/**
 * Is this first event of a stream a failure rather than the response starting?
 * OpenAI fails before creation with an `error` event, a failed generation ends
 * with response.failed, and some servers send a plain `{"error":{...}}` body.
 */
export function isResponsesStreamError(ev: SseEvent): boolean {
  const type = eventType(ev);
  if (type === 'error' || type === 'response.failed') return true;
  return type === undefined && /^\s*\{\s*"error"\s*:/.test(ev.data);
}

/** The message and code of a Responses stream error event (`error`, `response.failed`, or an OpenAI error body). */
export function parseResponsesStreamError(data: string): UpstreamErrorInfo {
  const json = parseJson(data);
  if (json === null || typeof json !== 'object') return { message: data.trim().slice(0, 2000) || 'upstream error' };
  const o = json as Record<string, unknown>;
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  if (o.type === 'response.failed') {
    const error = responsesResponseSchema.safeParse(o.response).data?.error;
    return { message: error?.message ?? 'upstream response failed', code: error?.code ?? null };
  }
  const nested = o.error !== null && typeof o.error === 'object' ? (o.error as Record<string, unknown>) : undefined;
  const source = nested ?? o;
  return {
    message: str(source.message) ?? 'upstream error',
    type: str(source.type) === 'error' ? undefined : str(source.type),
    code: str(source.code) ?? null,
    param: str(source.param) ?? null,
  };
}

/**
 * Usage of a Responses body -> canonical. Takes a Response object (non-stream
 * body) or a stream event that wraps one (`{"type":"response.completed","response":{...}}`).
 * Runs on every relayed answer, so it reads only `usage`.
 */
export function extractResponsesUsage(json: unknown): Usage | undefined {
  if (json === null || typeof json !== 'object') return undefined;
  const o = json as { usage?: unknown; response?: unknown };
  const raw = o.usage ?? (o.response !== null && typeof o.response === 'object' ? (o.response as { usage?: unknown }).usage : undefined);
  const parsed = responsesUsageSchema.safeParse(raw);
  if (!parsed.success) return undefined;
  const u = parsed.data;
  if (u.input_tokens == null && u.output_tokens == null) return undefined;
  return convertResponsesUsage(u);
}

/** Text a Response generated (message text and refusals, reasoning, call names and arguments), for token estimates. */
export function collectResponsesResultText(json: unknown): string {
  const parsed = responsesResponseSchema.safeParse(json);
  if (!parsed.success) return '';
  let text = '';
  for (const item of parsed.data.output ?? []) {
    for (const part of item.content ?? []) text += (part.text ?? '') + (part.refusal ?? '');
    for (const s of item.summary ?? []) text += s.text ?? '';
    text += (item.name ?? '') + (item.arguments ?? '');
  }
  return text;
}

/** Text of a stream's delta events (and the names of calls it added), for token estimates. */
export function collectResponsesStreamText(datas: readonly string[]): string {
  let text = '';
  for (const data of datas) {
    const json = parseJson(data);
    if (json === null || typeof json !== 'object') continue;
    const ev = json as { type?: unknown; delta?: unknown; item?: { type?: unknown; name?: unknown } };
    if (typeof ev.delta === 'string') text += ev.delta;
    else if (ev.type === 'response.output_item.added' && ev.item?.type === 'function_call' && typeof ev.item.name === 'string') text += ev.item.name;
  }
  return text;
}
