import type { Dispatcher } from 'undici';
import type { UpstreamErrorInfo } from '../core/codec.ts';
import { GatewayError } from '../core/errors.ts';
import type { RequestMeter } from '../metering/request-meter.ts';
import { ClientStream, drainGate } from './client-stream.ts';
import type { Target } from './model-registry.ts';
import { RelayAttempt, type RelayIo, type RelayResult, withAttemptHeaders } from './relay-attempt.ts';
import { upstreamHttpErrorFromText } from './upstream-call.ts';
import { UpstreamExchange } from './upstream-exchange.ts';

/** The answer a buffered call sends to the client. */
export interface ApiAnswer {
  body: string | Buffer;
  contentType: string;
}

/** What an endpoint that is not a chat stream (embeddings, images, audio, moderations) contributes to its relay. */
export interface ApiCallSpec {
  url: string;
  method?: 'POST' | 'GET' | 'DELETE';
  headers: Record<string, string>;
  /** Built fresh for each attempt: a multipart form is rebuilt from its spooled parts. */
  body: Dispatcher.DispatchOptions['body'];
  parseError(text: string): UpstreamErrorInfo;
  /**
   * `buffer` (default): the whole answer is read, metered by `settle`, and sent at once.
   * `stream`: bytes go to the client as they arrive (speech audio), metered up front.
   */
  mode?: 'buffer' | 'stream';
  /**
   * Reads what a buffered answer cost into the meter and returns what the client gets
   * (the upstream's bytes unchanged, or converted for a cross-format upstream).
   * Throwing a GatewayError fails the attempt (a body that is not what the endpoint returns).
   */
  settle?(text: string, contentType: string, meter: RequestMeter): ApiAnswer | Promise<ApiAnswer>;
}

/**
 * One upstream call of a non-chat endpoint: errors before the answer started can
 * fail over; a buffered answer goes out in one write, a streamed one with
 * backpressure, and a client that leaves aborts the upstream call.
 */
export async function relayApiCall(io: RelayIo, target: Target, spec: ApiCallSpec): Promise<RelayResult> {
  const { reply, meter } = io;
  const upstream = target.upstream;
  const attempt = new RelayAttempt(io, target);
  try {
    const ex = new UpstreamExchange(upstream, spec.url, spec.method ?? 'POST', withAttemptHeaders(io, spec.headers), spec.body, attempt.signal);
    await ex.head();
    attempt.gotData();
    if (ex.status >= 400) {
      return { kind: 'failed', error: upstreamHttpErrorFromText(upstream, ex.status, await ex.text(), spec.parseError, ex.retryAfter) };
    }
    const contentType = ex.contentType || 'application/octet-stream';
    if (spec.mode === 'stream') {
      const client = new ClientStream(reply.raw);
      attempt.stampOverhead(io.headers);
      reply.hijack();
      client.open(ex.status, { ...io.headers, 'content-type': contentType });
      const drain = drainGate(reply.raw, () => ex.resume());
      try {
        await ex.pipe((chunk) => {
          attempt.gotData();
          meter.markFirstToken();
          if (client.writeBytes(chunk)) return true;
          return drain.wait();
        });
      } catch (err) {
        if (attempt.signal.why === 'client_closed') {
          meter.finish('abandoned', 499, 'client_closed');
          return { kind: 'done' };
        }
        // Part of the audio went out: the client sees a cut connection, the record keeps the error.
        const failure = attempt.failedBeforeStart(err);
        reply.raw.destroy();
        meter.finish('interrupted', failure.kind === 'failed' ? failure.error.status : 502, failure.kind === 'failed' ? failure.error.code : 'upstream_error');
        return { kind: 'done' };
      } finally {
        drain.dispose();
      }
      client.end();
      meter.finish(client.isClosed && !reply.raw.writableFinished ? 'abandoned' : 'ok', ex.status);
      return { kind: 'done' };
    }

    const text = await ex.text();
    attempt.answered();
    const answer = spec.settle ? await spec.settle(text, contentType, meter) : { body: text, contentType };
    meter.markFirstToken();
    reply.hijack();
    io.headers['content-type'] = answer.contentType;
    attempt.stampOverhead(io.headers);
    reply.raw.writeHead(ex.status, io.headers);
    reply.raw.end(answer.body);
    meter.finish('ok', ex.status);
    return { kind: 'done' };
  } catch (err) {
    if (err instanceof GatewayError && err.code === 'upstream_error' && attempt.signal.why === undefined) return { kind: 'failed', error: err };
    return attempt.failedBeforeStart(err);
  } finally {
    attempt.dispose();
  }
}

/** JSON of a buffered answer, or a failed attempt naming the upstream. */
export function parseUpstreamJson(text: string, upstreamName: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new GatewayError('upstream_error', `Upstream ${upstreamName} returned a body that is not JSON.`);
  }
}

/** The dispatch attempt of a non-chat endpoint: the spec is built per target (model name, credentials, a fresh form). */
export function apiAttempt(build: (target: Target, io: RelayIo) => ApiCallSpec | Promise<ApiCallSpec>) {
  return async (io: RelayIo, target: Target): Promise<RelayResult> => relayApiCall(io, target, await build(target, io));
}
