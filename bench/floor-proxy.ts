/**
 * The floor for any Node relay: bare node:http in, undici out (same Agent
 * settings as the gateway's upstream pool), body forwarded as bytes, answer
 * piped back chunk by chunk. No framework, no auth, no metering. `npm run bench
 * -- --floor` measures it beside the gateway, to show how much of the gateway's
 * cost per request is the runtime's and how much its own.
 *
 * Usage: node --import tsx bench/floor-proxy.ts --upstream URL [--port N]
 * Prints `listening PORT` on stdout once ready. Listens on 127.0.0.1 only.
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, upstream: { type: 'string' } } });
if (!values.upstream) {
  process.stderr.write('floor-proxy: --upstream URL is required\n');
  process.exit(1);
}
const upstream = values.upstream;
const dispatcher = new Agent({ connections: 256, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 });
const headers = { 'content-type': 'application/json', authorization: 'Bearer sk-upstream' };

const server = createServer({ keepAliveTimeout: 75_000 }, (req, res) => {
  const parts: Buffer[] = [];
  req.on('data', (c: Buffer) => parts.push(c));
  req.on('end', () => {
    const body = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    request(upstream, { method: 'POST', headers, body, dispatcher }).then(
      async (up) => {
        res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? 'application/json') });
        for await (const chunk of up.body) res.write(chunk as Buffer);
        res.end();
      },
      (err: unknown) => {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: String(err), type: 'server_error' } }));
      },
    );
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
