import type { Dispatcher } from 'undici';
import type { AttemptSignal } from './upstream-call.ts';
import type { Upstream } from './upstreams.ts';

/**
 * One upstream call through undici's `dispatch()` with a raw handler: status and
 * raw header buffers, then body chunks as they arrive, with pause/resume for
 * backpressure. `request()` builds a Readable, a header object and several
 * promises per response on top of the same callbacks; the pass-through needs
 * none of that (measured: about half the CPU of a `request()` relay).
 *
 * Use: `await head()`, then either `await text()` for the whole body or
 * `await pipe(onChunk)` to receive chunks; `abort()` (wired to the attempt's
 * signal) fails whatever is pending.
 */
export class UpstreamExchange implements Dispatcher.DispatchHandler {
  status = 0;
  /** Lower-case header names to values, only for the few the gateway reads. */
  contentType = '';
  retryAfter: string | undefined;
  private abortFn: ((err?: Error) => void) | undefined;
  private resumeFn: (() => void) | undefined;
  private failure: Error | undefined;
  private complete = false;
  private headResolve: (() => void) | undefined;
  private headReject: ((err: Error) => void) | undefined;
  private endResolve: (() => void) | undefined;
  private endReject: ((err: Error) => void) | undefined;
  private buffered: Buffer[] = [];
  private onChunk: ((chunk: Buffer) => boolean) | undefined;
  private readonly onAbort: () => void;

  constructor(
    upstream: Upstream,
    url: string,
    method: 'GET' | 'POST' | 'DELETE',
    headers: Record<string, string>,
    body: Dispatcher.DispatchOptions['body'],
    private readonly signal: AttemptSignal,
  ) {
    this.onAbort = (): void => this.abort(signal.reason ?? new Error('aborted'));
    signal.once('abort', this.onAbort);
    const { origin, path } = splitUrl(url);
    upstream.dispatcher.dispatch({ origin, path, method, headers, body }, this);
  }

  // ------------------------------------------------------------ undici's handler

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
    if (this.signal.aborted) abort(this.signal.reason ?? new Error('aborted'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true;
    this.status = statusCode;
    this.resumeFn = resume;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i];
      // Compare lengths first: most headers are neither.
      if (name.length === 12 && name.toString('latin1').toLowerCase() === 'content-type') this.contentType = rawHeaders[i + 1].toString('latin1');
      else if (name.length === 11 && name.toString('latin1').toLowerCase() === 'retry-after') this.retryAfter = rawHeaders[i + 1].toString('latin1');
    }
    const resolve = this.headResolve;
    this.headResolve = undefined;
    this.headReject = undefined;
    resolve?.();
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.onChunk) return this.onChunk(chunk);
    this.buffered.push(chunk);
    return true;
  }

  onComplete(): void {
    this.complete = true;
    this.signal.off('abort', this.onAbort);
    const resolve = this.endResolve;
    this.endResolve = undefined;
    this.endReject = undefined;
    resolve?.();
  }

  onError(err: Error): void {
    this.failure ??= err;
    this.signal.off('abort', this.onAbort);
    const headReject = this.headReject;
    const endReject = this.endReject;
    this.headReject = this.endReject = undefined;
    this.headResolve = this.endResolve = undefined;
    headReject?.(this.failure);
    endReject?.(this.failure);
  }

  // ------------------------------------------------------------ the relay's side

  /** Resolves when status and headers are in. */
  head(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.status !== 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.headResolve = resolve;
      this.headReject = reject;
    });
  }

  /** The whole body. */
  async text(): Promise<string> {
    await this.ended();
    const parts = this.buffered;
    this.buffered = [];
    return parts.length === 1 ? parts[0].toString('utf8') : Buffer.concat(parts).toString('utf8');
  }

  /**
   * Hands every chunk (those already received first) to `onChunk`, which returns
   * false to pause until `resume()`. Resolves when the body ended.
   */
  pipe(onChunk: (chunk: Buffer) => boolean): Promise<void> {
    const early = this.buffered;
    this.buffered = [];
    this.onChunk = onChunk;
    for (const chunk of early) onChunk(chunk);
    return this.ended();
  }

  resume(): void {
    this.resumeFn?.();
  }

  abort(err: Error): void {
    if (this.complete || this.failure) return;
    this.failure = err;
    if (this.abortFn) this.abortFn(err);
    else this.onError(err);
  }

  private ended(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.complete) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.endResolve = resolve;
      this.endReject = reject;
    });
  }
}

/** Upstream URLs repeat (one per upstream and model): parse each once. */
const splitCache = new Map<string, { origin: string; path: string }>();

function splitUrl(url: string): { origin: string; path: string } {
  let hit = splitCache.get(url);
  if (!hit) {
    const u = new URL(url);
    hit = { origin: u.origin, path: u.pathname + u.search };
    if (splitCache.size >= 1000) splitCache.clear();
    splitCache.set(url, hit);
  }
  return hit;
}
