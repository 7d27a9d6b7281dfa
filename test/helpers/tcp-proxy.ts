/**
 * A TCP proxy on 127.0.0.1 in front of a server the tests share (PostgreSQL, Redis), to simulate
 * an outage for one gateway without touching the server other test files use: point the gateway
 * at `proxy.url(PG_URL)`, then `cut()` (every open connection is destroyed and new ones are
 * accepted and closed at once, like a database that went away) and `restore()`.
 *
 * Bytes are forwarded untouched in both directions; a half-close (FIN) on one side is passed on to
 * the other, and a pair is torn down once either socket closes or fails.
 */
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';

export interface TcpProxy {
  host: '127.0.0.1';
  port: number;
  /** The same URL with its host:port replaced by the proxy's (credentials, path and query kept), e.g. postgres://u:p@127.0.0.1:PROXY/db. */
  url(original: string): string;
  /** Destroys every open connection (both sides) and refuses new ones until restore(): accepted, then destroyed at once. */
  cut(): void;
  /** Forwards new connections again. Connections cut before stay closed. */
  restore(): void;
  /** Connections currently forwarded (client side), e.g. to wait until a pool reconnected. */
  readonly connections: number;
  /** Destroys every connection and stops listening. */
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  let refusing = false;

  const server = createServer({ allowHalfOpen: true }, (client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: target.host, port: target.port, allowHalfOpen: true });
    const pair = { client, upstream };
    pairs.add(pair);
    const teardown = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    // An error on either side (target down, reset) ends both; so does either side closing for good.
    client.on('error', teardown);
    upstream.on('error', teardown);
    client.on('close', teardown);
    upstream.on('close', teardown);
    // pipe() ends the other side's writable half on 'end', which passes a half-close on.
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.on('error', () => {});

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  const destroyAll = () => {
    for (const { client, upstream } of [...pairs]) {
      client.destroy();
      upstream.destroy();
    }
    pairs.clear();
  };

  return {
    host: '127.0.0.1',
    port,
    url(original: string): string {
      const u = new URL(original);
      if (!u.host) throw new Error(`tcp proxy: ${original.replace(/\/\/[^@/]*@/, '//***@')} has no host to replace`);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    cut() {
      refusing = true;
      destroyAll();
    },
    restore() {
      refusing = false;
    },
    get connections() {
      return pairs.size;
    },
    async close() {
      refusing = true;
      destroyAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
