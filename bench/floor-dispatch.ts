/**
 * The true floor for a Node relay: bare node:http in, undici's `dispatch()` with
 * a raw handler out (status and raw header buffers, body chunks written to the
 * client as they arrive, pause/resume for backpressure). No Readable, no header
 * object, no promise per response: what `request()` adds on top of the same
 * callbacks. `npm run bench -- --floor` measures it beside bench/floor-proxy.ts.
 *
 * Usage: node --import tsx bench/floor-dispatch.ts --upstream URL [--port N]
 * Prints `listening PORT` on stdout once ready. Listens on 127.0.0.1 only.
 */
import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { serveFloor, UPSTREAM_HEADERS } from './floor-server.ts';

class RelayHandler implements Dispatcher.DispatchHandler {
  private resume: (() => void) | undefined;
  private done = false;
  constructor(private readonly res: ServerResponse) {}
  onConnect(abort: (err?: Error) => void): void {
    // A client that leaves (wrk closing its connections at the end of a run) must free the upstream connection:
    // a paused response would otherwise hold it forever, waiting for a 'drain' that never comes.
    this.res.once('close', () => {
      if (!this.done) abort(new Error('client closed'));
    });
  }
  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true;
    this.resume = resume;
    let type = 'application/json';
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i].length === 12 && raw[i].toString('latin1').toLowerCase() === 'content-type') type = raw[i + 1].toString('latin1');
    }
    this.res.writeHead(statusCode, { 'content-type': type });
    return true;
  }
  onData(chunk: Buffer): boolean {
    if (this.res.write(chunk)) return true;
    this.res.once('drain', () => this.resume?.());
    return false;
  }
  onComplete(): void {
    this.done = true;
    this.res.end();
  }
  onError(err: Error): void {
    this.done = true;
    if (this.res.destroyed) return;
    if (!this.res.headersSent) this.res.writeHead(502, { 'content-type': 'application/json' });
    this.res.end(JSON.stringify({ error: { message: String(err), type: 'server_error' } }));
  }
}

serveFloor('floor-dispatch', ({ origin, path, dispatcher, body, res }) => {
  dispatcher.dispatch({ origin, path, method: 'POST', headers: UPSTREAM_HEADERS, body }, new RelayHandler(res));
});
