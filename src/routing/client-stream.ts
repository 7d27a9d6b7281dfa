import type { ServerResponse } from 'node:http';

/** SSE headers every streamed answer gets; X-Accel-Buffering stops nginx-style proxies from buffering. */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

/**
 * Writes to a client connection with backpressure; never waits forever on a
 * client that went away.
 */
export class ClientStream {
  private closed = false;
  private keepalive: NodeJS.Timeout | undefined;
  /** Keep-alive ticks since the last write. */
  private silentTicks = 0;

  constructor(private readonly res: ServerResponse) {
    res.once('close', () => {
      this.closed = true;
      this.stopKeepalive();
    });
  }

  /**
   * While the upstream is silent, an SSE comment every `ms` keeps proxies in
   * front of the gateway from cutting the connection; clients' parsers ignore
   * comments. Ticks at a quarter of the period so a write only flips a counter.
   */
  keepAlive(ms: number): void {
    if (ms <= 0 || this.keepalive) return;
    this.keepalive = setInterval(() => {
      if (++this.silentTicks < 4 || this.isClosed) return;
      this.silentTicks = 0;
      this.res.write(': keepalive\n\n');
    }, Math.max(1, Math.floor(ms / 4)));
    this.keepalive.unref();
  }

  private stopKeepalive(): void {
    if (this.keepalive) clearInterval(this.keepalive);
    this.keepalive = undefined;
  }

  get isClosed(): boolean {
    return this.closed || this.res.destroyed;
  }

  /** The headers leave with the first write, which follows at once: one syscall, not two. */
  open(status: number, headers: Record<string, string | number | string[]>): void {
    this.res.writeHead(status, headers);
  }

  /** Writes at once; false when the client's buffer is full (wait for 'drain' before more). */
  writeNow(text: string): boolean {
    if (!text || this.isClosed) return true;
    this.silentTicks = 0;
    return this.res.write(text);
  }

  /** Bytes as received from the upstream; false when the client's buffer is full. */
  writeBytes(chunk: Buffer): boolean {
    if (this.isClosed) return true;
    this.silentTicks = 0;
    return this.res.write(chunk);
  }

  async write(text: string): Promise<void> {
    if (!text || this.isClosed) return;
    this.silentTicks = 0;
    if (this.res.write(text)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.once('drain', done);
      this.res.once('close', done);
    });
  }

  end(text?: string): void {
    this.stopKeepalive();
    if (this.isClosed) return;
    this.res.end(text);
  }
}

/**
 * Backpressure for a relay: the returned function registers one 'drain' listener
 * (however many chunks arrive while the client is full; buffered chunks keep
 * coming) that resumes the upstream, and returns false to pause it.
 */
export function drainGate(res: ServerResponse, resume: () => void): { wait: () => false; dispose: () => void } {
  let waiting = false;
  const onDrain = (): void => {
    waiting = false;
    resume();
  };
  return {
    wait: () => {
      if (!waiting) {
        waiting = true;
        res.once('drain', onDrain);
      }
      return false;
    },
    dispose: () => {
      res.off('drain', onDrain);
    },
  };
}
