/**
 * What the two floor relays share: the upstream flag, the upstream pool (same Agent
 * settings as the gateway's), a bare node:http server on 127.0.0.1 that reads the
 * request body and hands it on, `listening PORT` on stdout, and a clean stop.
 */
import { createServer, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { Agent } from 'undici';

export function serveFloor(name: string, relay: (ctx: { origin: string; path: string; dispatcher: Agent; body: Buffer; res: ServerResponse }) => void): void {
  // The client's path goes to the upstream's origin: one floor serves /v1/chat/completions and /v1/messages.
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, upstream: { type: 'string' }, connections: { type: 'string', default: '256' } } });
  if (!values.upstream) {
    process.stderr.write(`${name}: --upstream URL is required\n`);
    process.exit(1);
  }
  const origin = new URL(values.upstream).origin;
  // --connections: the slow-streams bench holds thousands of streams open at once, one upstream connection each.
  const dispatcher = new Agent({ connections: Number(values.connections), keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 });
  const server = createServer({ keepAliveTimeout: 75_000 }, (req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => relay({ origin, path: req.url ?? '/', dispatcher, body: parts.length === 1 ? parts[0] : Buffer.concat(parts), res }));
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
}

export const UPSTREAM_HEADERS = { 'content-type': 'application/json', authorization: 'Bearer sk-upstream' };
