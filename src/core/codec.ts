/**
 * The two converter contracts of the pipeline (see ../shared/GUIDE.md):
 *   client ──► IngressCodec ──► ChatRequest ──► UpstreamAdapter ──► provider
 * With N client formats and M upstream types that is N + M converters.
 * Both are pure: no I/O, no clocks except where passed in, no globals.
 */
import type { ChatRequest, ChatResult, StreamEvent, Usage, Warning } from './canonical.ts';
import type { GatewayError } from './errors.ts';
import type { SseEvent } from './sse.ts';

/** The wire formats clients speak: OpenAI chat, the OpenAI Responses API, Anthropic Messages, Gemini generateContent. */
export type ClientProtocol = 'openai' | 'responses' | 'anthropic' | 'gemini';

/** A client wire format (OpenAI chat, Responses, Anthropic Messages, Gemini generateContent). */
export interface IngressCodec {
  readonly protocol: ClientProtocol;
  /**
   * Client JSON body -> canonical request. Throws GatewayError('invalid_request_error' |
   * 'missing_field', ..., { param }) for bad input. `ctx.model` and `ctx.stream` are given
   * when they come from the URL (Gemini puts both in the path).
   */
  decodeRequest(body: unknown, ctx?: { model?: string; stream?: boolean }): ChatRequest;
  /** Canonical result -> the client's response JSON. `model` is the name the client asked for. */
  encodeResult(result: ChatResult, ctx: { model: string; requestId: string }): unknown;
  /** A fresh encoder for one streamed response. */
  createStreamEncoder(ctx: { model: string; requestId: string; streamUsage: boolean }): StreamEncoder;
  /** Error -> the client's error body and HTTP status. */
  encodeError(err: GatewayError): { status: number; body: unknown };
}

/** Turns canonical stream events into the client's wire text (SSE, or a JSON-array fragment for Gemini without alt=sse). */
export interface StreamEncoder {
  /** Text to write for this event ('' when nothing is due yet). */
  encode(event: StreamEvent): string;
  /** Text that closes the stream after the last event (e.g. `data: [DONE]\n\n`). */
  end(): string;
  /** Text for an error after the stream started, in the client's format; the stream ends after it. */
  encodeError(err: GatewayError): string;
}

export interface AdapterTarget {
  /** base_url without a trailing slash, as configured. */
  baseUrl: string;
  apiKey?: string;
  /** Model name the upstream knows. */
  upstreamModel: string;
  /** Extra configured headers. */
  headers: Record<string, string>;
  /** Azure api-version. */
  apiVersion?: string;
}

export interface UpstreamHttpRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** Parameters this upstream cannot honour: logged and listed in x-switchyard-warnings. */
  warnings: Warning[];
}

/** An upstream's error body read as message/type/code/param, for errors re-rendered in the client's format. */
export interface UpstreamErrorInfo {
  message: string;
  type?: string;
  code?: string | null;
  param?: string | null;
}

/** One upstream type (OpenAI-compatible, Azure, Anthropic, Gemini). */
export interface UpstreamAdapter {
  readonly type: 'openai' | 'azure' | 'anthropic' | 'gemini';
  /** Canonical request -> the provider's HTTP call (stream or not per `req.stream`). */
  buildRequest(req: ChatRequest, target: AdapterTarget): UpstreamHttpRequest;
  /** The provider's non-stream response JSON -> canonical result. */
  parseResult(body: unknown): ChatResult;
  /** A fresh decoder for one streamed response. */
  createStreamDecoder(): StreamDecoder;
  /** The provider's error body -> message/type/code, for errors re-rendered in the client's format. */
  parseError(text: string): UpstreamErrorInfo;
}

export interface StreamDecoder {
  /** One SSE event from the provider -> zero or more canonical events. */
  decode(event: SseEvent): StreamEvent[];
  /** Called when the provider's stream ended; returns any closing events (e.g. a finish the provider implied). */
  end(): StreamEvent[];
}

/** Watches a same-protocol stream as its bytes pass to the client. */
/** Same-protocol pass-through: implemented per provider, driven by the relay. */
export interface StreamTap {
  /** Raw text to forward for these events (events may be dropped). */
  process(events: SseEvent[]): string;
  readonly usage: Usage | undefined;
  /** Whether an event carries generated content (for time to first token). */
  readonly sawContent: boolean;
  /** Text generated so far, for a token estimate when no usage came. */
  generatedText(): string;
  /** Text that closes the client's stream (Gemini's JSON-array streaming needs a `]`). */
  end?(): string;
  /**
   * Fast path: true when a chunk of whole events holds nothing this tap must
   * read or change (no usage, nothing to drop), so the relay forwards its bytes
   * unparsed and hands them to keepRaw() for a later estimate.
   */
  passesUnread?(chunk: Buffer): boolean;
  keepRaw?(chunk: Buffer): void;
}
