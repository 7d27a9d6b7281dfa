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
import { request } from 'undici';
import { serveFloor, UPSTREAM_HEADERS } from './floor-server.ts';

serveFloor('floor-proxy', ({ origin, path, dispatcher, body, res }) => {
  request(origin + path, { method: 'POST', headers: UPSTREAM_HEADERS, body, dispatcher }).then(
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
