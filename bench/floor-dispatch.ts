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
import { createServer, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { Agent, type Dispatcher } from 'undici';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, upstream: { type: 'string' } } });
if (!values.upstream) {
  process.stderr.write('floor-dispatch: --upstream URL is required\n');
  process.exit(1);
}
const target = new URL(values.upstream);
const dispatcher = new Agent({ connections: 256, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 });
const headers = { 'content-type': 'application/json', authorization: 'Bearer sk-upstream' };

class RelayHandler implements Dispatcher.DispatchHandler {
  private resume: (() => void) | undefined;
  constructor(private readonly res: ServerResponse) {}
  onConnect(): void {}
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
    this.res.end();
  }
  onError(err: Error): void {
    if (!this.res.headersSent) this.res.writeHead(502, { 'content-type': 'application/json' });
    this.res.end(JSON.stringify({ error: { message: String(err), type: 'server_error' } }));
  }
}

const server = createServer({ keepAliveTimeout: 75_000 }, (req, res) => {
  const parts: Buffer[] = [];
  req.on('data', (c: Buffer) => parts.push(c));
  req.on('end', () => {
    const body = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    dispatcher.dispatch({ origin: target.origin, path: target.pathname, method: 'POST', headers, body }, new RelayHandler(res));
  });
});
server.listen(Number(values.port), '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});
const stop = (): void => {
  server.close();
  server.closeAllConnections();
  void dispatcher.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
