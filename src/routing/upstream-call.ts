import { EventEmitter } from 'node:events';
import { request, type Dispatcher } from 'undici';
import type { UpstreamErrorInfo } from '../core/codec.ts';
import { GatewayError, isRetryableUpstreamStatus, redactSecrets } from '../core/errors.ts';
import type { Upstream } from './upstreams.ts';

export type AbortReason = 'timeout' | 'idle' | 'client_closed';

/**
 * One attempt's abort handle: fires on the upstream's timeout, when the client
 * goes away, or when the caller gives up on this attempt. It is an EventEmitter
 * that undici accepts as a `signal` ('abort' event, `aborted`, `reason`): in Node 20
 * an AbortController with its EventTarget listener costs about 6 µs per request,
 * this about 0.3 µs.
 */
export class AttemptSignal extends EventEmitter {
  aborted = false;
  /** What undici rejects the request with. */
  reason: Error | undefined;
  /** Why the attempt was aborted. */
  why: AbortReason | undefined;
  private timer: NodeJS.Timeout | undefined;

  private idleMs = 0;
  private deadline = 0;

  constructor(timeoutMs: number) {
    super();
    this.timer = setTimeout(() => this.abort('timeout'), timeoutMs);
    this.timer.unref();
  }

  /**
   * From now on the attempt fails after `ms` without data (the stream went idle).
   * Called per chunk, so it only moves a deadline; the timer re-checks it when it fires.
   */
  idle(ms: number): void {
    if (this.aborted) return;
    this.deadline = Date.now() + ms;
    if (this.idleMs === ms && this.timer) return;
    this.idleMs = ms;
    this.clear();
    this.armIdle(ms);
  }

  private armIdle(delay: number): void {
    this.timer = setTimeout(() => {
      const left = this.deadline - Date.now();
      if (left > 0) this.armIdle(left);
      else this.abort('idle');
    }, delay);
    this.timer.unref();
  }

  get signal(): EventEmitter {
    return this;
  }

  abort(why: AbortReason): void {
    if (this.aborted) return;
    this.aborted = true;
    this.why = why;
    this.reason = new Error(why);
    this.clear();
    this.emit('abort');
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

export interface UpstreamRequest {
  url: string;
  method?: 'GET' | 'POST' | 'DELETE';
  headers: Record<string, string>;
  body?: string | Buffer;
}

/** Sends a request; connection failures become 502 and the timeout 504, both retryable. */
export async function callUpstream(upstream: Upstream, req: UpstreamRequest, attempt: AttemptSignal): Promise<Dispatcher.ResponseData> {
  try {
    return await request(req.url, {
      method: req.method ?? 'POST',
      headers: req.headers,
      body: req.body,
      dispatcher: upstream.dispatcher,
      signal: attempt.signal,
    });
  } catch (err) {
    throw upstreamFailure(upstream, err, attempt);
  }
}

/** Maps a thrown transport error (or abort) to a GatewayError without leaking credentials. */
export function upstreamFailure(upstream: Upstream, err: unknown, attempt: AttemptSignal): GatewayError {
  if (err instanceof GatewayError) return err;
  if (attempt.why === 'timeout') {
    return new GatewayError('upstream_timeout', `Upstream ${upstream.name} did not answer within ${upstream.firstByteTimeoutMs / 1000} s.`, { cause: err });
  }
  if (attempt.why === 'idle') {
    return new GatewayError('upstream_timeout', `Upstream ${upstream.name} stalled: no data for ${upstream.idleTimeoutMs / 1000} s.`, { cause: err });
  }
  if (attempt.why === 'client_closed') {
    return new GatewayError('upstream_error', 'Client closed the request.', { status: 499, retryable: false, cause: err });
  }
  const { code, detail } = describeTransportError(upstream, err);
  return new GatewayError('upstream_unreachable', `Upstream ${upstream.name} is unreachable (${code}): ${detail}`, { cause: err });
}

function describeTransportError(upstream: Upstream, err: unknown): { code: string; detail: string } {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  return {
    code: e.cause?.code ?? e.code ?? 'ERROR',
    detail: redactSecrets(e.cause?.message ?? e.message ?? String(err), upstream.secrets),
  };
}

/** A failure after the client's stream started: the timeout keeps its 504, anything else is a 502 saying where it broke. */
export function midStreamFailure(upstream: Upstream, err: unknown, attempt: AttemptSignal): GatewayError {
  if (attempt.why === 'timeout' || attempt.why === 'idle' || err instanceof GatewayError) return upstreamFailure(upstream, err, attempt);
  const { code, detail } = describeTransportError(upstream, err);
  return new GatewayError('upstream_error', `Upstream ${upstream.name} failed mid-stream (${code}): ${detail}`, { cause: err });
}

/** Reads an upstream error response into a GatewayError keeping its status and message, credentials removed. */
export async function upstreamHttpError(
  upstream: Upstream,
  status: number,
  body: Dispatcher.ResponseData['body'],
  parse: (text: string) => UpstreamErrorInfo,
  headers?: Dispatcher.ResponseData['headers'],
): Promise<GatewayError> {
  let text = '';
  try {
    text = await body.text();
  } catch {
    text = '';
  }
  const retryAfter = headers?.['retry-after'];
  return upstreamHttpErrorFromText(upstream, status, text, parse, Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
}

/** An upstream error body (already read) as a GatewayError: the upstream's status, type, code and message, credentials removed. */
export function upstreamHttpErrorFromText(
  upstream: Upstream,
  status: number,
  text: string,
  parse: (text: string) => UpstreamErrorInfo,
  retryAfter: string | undefined,
): GatewayError {
  const clean = redactSecrets(text, upstream.secrets);
  const info = parse(clean);
  const message = redactSecrets(info.message, upstream.secrets);
  // A 401/403 from the upstream is the gateway's credential problem, not the caller's key: dispatch decides what the caller sees.
  return new GatewayError('upstream_error', message, {
    status: status >= 400 && status <= 599 ? status : 502,
    type: info.type ?? (status >= 500 ? 'server_error' : 'invalid_request_error'),
    publicCode: info.code ?? null,
    param: info.param ?? null,
    retryable: isRetryableUpstreamStatus(status),
    upstreamStatus: status,
    upstreamBody: clean.slice(0, 4000),
    retryAfterSeconds: status === 429 || status === 503 ? parseRetryAfter(retryAfter) : undefined,
  });
}

/** `retry-after` as seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Number(v.trim());
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - Date.now()) / 1000);
}
