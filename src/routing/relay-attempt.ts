import type { FastifyReply } from 'fastify';
import type { GatewayError } from '../core/errors.ts';
import type { RequestMeter } from '../metering/request-meter.ts';
import type { ClientStream } from './client-stream.ts';
import type { Target } from './model-registry.ts';
import { AttemptSignal, midStreamFailure, upstreamFailure } from './upstream-call.ts';

export interface RelayIo {
  reply: FastifyReply;
  meter: RequestMeter;
  /** Extra response headers (x-request-id, warnings). */
  headers: Record<string, string>;
  /** Headers added to the attempt's upstream request: the W3C trace context when tracing is on. */
  upstreamHeaders?: Record<string, string>;
}

/** An upstream request's headers with the attempt's own (trace context) added. */
export function withAttemptHeaders(io: RelayIo, headers: Record<string, string>): Record<string, string> {
  return io.upstreamHeaders ? { ...headers, ...io.upstreamHeaders } : headers;
}

export type RelayResult = { kind: 'done' } | { kind: 'failed'; error: GatewayError };

/**
 * One try of one upstream, shared by the pass-through and converting relays:
 * its timeout, the client going away, and how a failure ends.
 */
export class RelayAttempt {
  readonly signal: AttemptSignal;
  private readonly onClose: () => void;
  /** When the call went out, and when the upstream had answered enough to go on (0: not yet). */
  private readonly sentAt = performance.now();
  private answeredAt = 0;

  constructor(
    private readonly io: RelayIo,
    private readonly target: Target,
  ) {
    this.signal = new AttemptSignal(target.upstream.firstByteTimeoutMs);
    this.onClose = (): void => {
      if (!io.reply.raw.writableFinished) this.signal.abort('client_closed');
    };
    io.reply.raw.once('close', this.onClose);
    io.meter.upstream = target.upstream.name;
    io.meter.upstreamModel = target.upstreamModel;
  }

  /**
   * The upstream has given what the gateway waited for (a whole buffered body, or the event that
   * starts a stream): the time until now was the upstream's, not the gateway's.
   */
  answered(): void {
    if (this.answeredAt !== 0) return;
    this.answeredAt = performance.now();
    this.io.meter.upstreamWaitMs += this.answeredAt - this.sentAt;
  }

  /**
   * `x-switchyard-overhead-ms` on the client's headers, just before they go out: the request's
   * time so far (Fastify's clock, from the first byte of the request) less the upstream waits.
   */
  stampOverhead(headers: Record<string, string>): void {
    this.answered();
    headers['x-switchyard-overhead-ms'] = Math.max(0, this.io.reply.elapsedTime - this.io.meter.upstreamWaitMs).toFixed(2);
  }

  /** Data arrived: from now on the attempt fails only after `idle_timeout` of silence. */
  gotData(): void {
    this.signal.idle(this.target.upstream.idleTimeoutMs);
  }

  /** A failure before anything reached the client: the caller may try another upstream. */
  failedBeforeStart(err: unknown): RelayResult {
    return { kind: 'failed', error: upstreamFailure(this.target.upstream, err, this.signal) };
  }

  /**
   * A failure while streaming. Before the first byte it can still fail over; a
   * client that left is metered as abandoned; otherwise the client's stream ends
   * with an error event in its own format and the call is recorded as failed.
   */
  async failedWhileStreaming(err: unknown, committed: boolean, client: ClientStream, encodeError: (e: GatewayError) => string): Promise<RelayResult> {
    const { meter } = this.io;
    if (this.signal.why === 'client_closed') {
      meter.finish('abandoned', 499, 'client_closed');
      return { kind: 'done' };
    }
    if (!committed) return this.failedBeforeStart(err);
    const midStream = midStreamFailure(this.target.upstream, err, this.signal);
    await client.write(encodeError(midStream));
    client.end();
    // What reached the client is charged; the record keeps the error.
    meter.finish('interrupted', midStream.status, midStream.code);
    return { kind: 'done' };
  }

  dispose(): void {
    // A failed attempt's wait counts too: another attempt (or the error) follows it.
    this.answered();
    this.signal.clear();
    this.io.reply.raw.off('close', this.onClose);
  }
}
