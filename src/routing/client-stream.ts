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

  constructor(private readonly res: ServerResponse) {
    res.once('close', () => {
      this.closed = true;
    });
  }

  get isClosed(): boolean {
    return this.closed || this.res.destroyed;
  }

  /** The headers leave with the first write, which follows at once: one syscall, not two. */
  open(status: number, headers: Record<string, string | number | string[]>): void {
    this.res.writeHead(status, headers);
  }

  async write(text: string): Promise<void> {
    if (!text || this.isClosed) return;
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
    if (this.isClosed) return;
    this.res.end(text);
  }
}
