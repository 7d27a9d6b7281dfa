import { StringDecoder } from 'node:string_decoder';
import type { Usage } from '../core/canonical.ts';
import type { StreamTap, UpstreamErrorInfo } from '../core/codec.ts';
import { GatewayError } from '../core/errors.ts';
import { type SseEvent, SseParser } from '../core/sse.ts';
import { ClientStream, drainGate, SSE_HEADERS } from './client-stream.ts';
import type { Target } from './model-registry.ts';
import { RelayAttempt, type RelayIo, type RelayResult, withAttemptHeaders } from './relay-attempt.ts';
import { upstreamHttpErrorFromText } from './upstream-call.ts';
import { UpstreamExchange } from './upstream-exchange.ts';

/** What a protocol contributes to a same-protocol relay. */
export interface PassthroughSpec {
  url: string;
  headers: Record<string, string>;
  body: string | Buffer;
  stream: boolean;
  parseError(text: string): UpstreamErrorInfo;
  /** A stream whose first event is an error has not really started: it can still fail over. */
  isStreamError(ev: SseEvent): boolean;
  createTap(): StreamTap;
  /** Usage of a non-stream answer, if reported. */
  extractUsage(body: unknown): Usage | undefined;
  /** Generated text of a non-stream answer, for estimates. */
  resultText(body: unknown): string;
  /** Prompt tokens counted by the gateway, for estimates. */
  countPromptTokens(): Promise<number>;
  countTextTokens(text: string): Promise<number>;
  /** Renders an error after the stream started, in the client's format. */
  encodeStreamError(err: GatewayError): string;
  /** Content type of the streamed answer when it is not SSE. */
  streamContentType?: string;
  /** The non-stream answer as the client gets it (default: the upstream's bytes); server-kept conversations add their id. */
  clientBody?(text: string, json: unknown): string;
}

export type { RelayIo, RelayResult } from './relay-attempt.ts';

/**
 * Forwards a same-protocol call without decoding it: the body goes up with only
 * the gateway's edits, and the answer comes back byte for byte while the tap
 * reads usage. Returns `failed` (nothing sent to the client yet) so the caller
 * can try another upstream.
 */
export async function relayPassthrough(io: RelayIo, target: Target, spec: PassthroughSpec): Promise<RelayResult> {
  const { reply, meter } = io;
  const upstream = target.upstream;
  const attempt = new RelayAttempt(io, target);

  const estimate = async (text: string): Promise<Usage> => ({
    inputTokens: await spec.countPromptTokens(),
    outputTokens: await spec.countTextTokens(text),
  });

  try {
    const ex = new UpstreamExchange(upstream, spec.url, 'POST', withAttemptHeaders(io, spec.headers), spec.body, attempt.signal);
    await ex.head();
    if (ex.status >= 400) {
      attempt.gotData();
      return { kind: 'failed', error: upstreamHttpErrorFromText(upstream, ex.status, await ex.text(), spec.parseError, ex.retryAfter) };
    }
    const contentType = ex.contentType;

    if (!spec.stream || !contentType.includes('text/event-stream')) {
      attempt.gotData();
      const text = await ex.text();
      attempt.answered();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        return { kind: 'failed', error: new GatewayError('upstream_error', `Upstream ${upstream.name} returned a body that is not JSON.`) };
      }
      // An error body in a 200; a Responses object carries `"error": null` when all is well.
      const error = json && typeof json === 'object' ? (json as { error?: unknown }).error : undefined;
      if (error && typeof error === 'object' && !('choices' in (json as object)) && !('content' in (json as object)) && !('output' in (json as object))) {
        const info = spec.parseError(text);
        return { kind: 'failed', error: new GatewayError('upstream_error', info.message, { publicCode: info.code ?? null }) };
      }
      if (spec.stream) {
        return { kind: 'failed', error: new GatewayError('upstream_error', `Upstream ${upstream.name} answered a stream request without streaming.`) };
      }
      meter.usage = spec.extractUsage(json);
      if (!meter.usage) meter.estimate = () => estimate(spec.resultText(json));
      meter.markFirstToken();
      // Straight to the socket: Fastify's send pipeline has nothing to add to bytes already encoded.
      reply.hijack();
      const raw = reply.raw;
      io.headers['content-type'] = contentType || 'application/json';
      attempt.stampOverhead(io.headers);
      raw.writeHead(ex.status, io.headers);
      raw.end(spec.clientBody ? spec.clientBody(text, json) : text);
      meter.finish('ok', ex.status);
      return { kind: 'done' };
    }

    // Streaming: hold the response until the first event shows the upstream really started.
    const parser = new SseParser();
    // Decodes across chunks: a character split between two upstream chunks stays whole.
    const decoder = new StringDecoder('utf8');
    const tap = spec.createTap();
    const client = new ClientStream(reply.raw);
    meter.estimate = () => estimate(tap.generatedText());
    let committed = false;
    let refused: RelayResult | undefined;
    const commit = (): void => {
      attempt.stampOverhead(io.headers);
      reply.hijack();
      client.open(200, { ...SSE_HEADERS, ...(spec.streamContentType ? { 'content-type': spec.streamContentType } : {}), ...io.headers });
      if (!spec.streamContentType) client.keepAlive(upstream.keepaliveMs);
      committed = true;
    };
    const firstEventError = (ev: SseEvent): RelayResult | undefined => {
      if (!spec.isStreamError(ev)) return undefined;
      const info = spec.parseError(ev.data);
      return { kind: 'failed', error: new GatewayError('upstream_error', info.message, { publicCode: info.code ?? null }) };
    };
    const drain = drainGate(reply.raw, () => ex.resume());
    try {
      const unread = tap.passesUnread && tap.keepRaw ? tap : undefined;
      /** The UTF-8 decoder holds no partial character (the last chunk it saw ended in a newline). */
      let decoderClean = true;
      await ex.pipe((chunk) => {
        attempt.gotData();
        // Fast path: whole LF-framed events the tap has no need to read go out as the same bytes, unparsed.
        const whole = endsWithBlankLine(chunk);
        if (committed && unread && whole && decoderClean && parser.atBoundary && chunk.indexOf(CR) === -1 && unread.passesUnread?.(chunk)) {
          unread.keepRaw?.(chunk);
          meter.markFirstToken();
          if (client.writeBytes(chunk)) return true;
          return drain.wait();
        }
        decoderClean = chunk.length > 0 && chunk[chunk.length - 1] === LF;
        const events = parser.push(decoder.write(chunk));
        if (events.length === 0) return true;
        if (!committed) {
          refused = firstEventError(events[0]);
          if (refused) {
            ex.abort(new Error('first event is an error'));
            return false;
          }
          commit();
        }
        const out = tap.process(events);
        if (tap.sawContent) meter.markFirstToken();
        if (client.writeNow(out)) return true;
        // The client reads slower than the upstream writes: pause the upstream until it drains.
        return drain.wait();
      });
      const tail = decoder.end();
      if (tail) parser.push(tail);
      // An event the upstream left without its closing blank line.
      const rest = parser.flush();
      if (!committed) {
        if (!rest) {
          return { kind: 'failed', error: new GatewayError('upstream_error', `Upstream ${upstream.name} closed the stream without sending an event.`) };
        }
        const refusedLast = firstEventError(rest);
        if (refusedLast) return refusedLast;
        commit();
      }
      if (rest) client.writeNow(tap.process([rest]));
      meter.usage = tap.usage;
      client.end(tap.end?.());
      meter.finish(client.isClosed && !reply.raw.writableFinished ? 'abandoned' : 'ok', 200);
      return { kind: 'done' };
    } catch (err) {
      if (refused) return refused;
      meter.usage = tap.usage;
      return await attempt.failedWhileStreaming(err, committed, client, spec.encodeStreamError);
    } finally {
      drain.dispose();
    }
  } catch (err) {
    return attempt.failedBeforeStart(err);
  } finally {
    attempt.dispose();
  }
}

const CR = 0x0d;
const LF = 0x0a;

/** The chunk ends an event (LF framing); a split UTF-8 character cannot end in a newline. */
function endsWithBlankLine(chunk: Buffer): boolean {
  const n = chunk.length;
  return n >= 2 && chunk[n - 1] === LF && chunk[n - 2] === LF;
}
