import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rawRedisCommand, REDIS_URL, redisKeyPrefix, startRedisServer, type RedisServerHandle } from '../helpers/redis-server.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { PG_URL } from '../helpers/test-db.ts';

/** Resolves true if a TCP connection to the port is accepted, false if refused. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * A connected client socket (half-open allowed) that collects what it receives: `ended` when the
 * other side has finished sending (FIN or reset), `closed` once both directions are done.
 */
async function client(port: number): Promise<{ socket: Socket; received: () => string; closed: Promise<void>; ended: Promise<void> }> {
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  let data = '';
  socket.on('data', (c: Buffer) => {
    data += c.toString('utf8');
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const ended = new Promise<void>((resolve) => {
    socket.once('end', () => resolve());
    socket.once('close', () => resolve());
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return { socket, received: () => data, closed, ended };
}

async function until(cond: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('redis server helper', () => {
  let redis: RedisServerHandle;

  beforeAll(async () => {
    redis = await startRedisServer();
  });

  afterAll(async () => {
    await redis?.stop();
  });

  it('starts a private server on 127.0.0.1 that answers PING', async () => {
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(await rawRedisCommand(redis.port, ['PING'])).toBe('PONG');
    // No persistence: a restart must come back empty.
    const info = (await rawRedisCommand(redis.port, ['INFO', 'persistence'])) ?? '';
    expect(info).toContain('aof_enabled:0');
    expect(info).toContain('rdb_changes_since_last_save:0');
  });

  it('restart() gives an empty server on the same port; stop() ends it; kill() too', async () => {
    expect(await rawRedisCommand(redis.port, ['SET', 'k', 'v'])).toBe('OK');
    expect(await rawRedisCommand(redis.port, ['GET', 'k'])).toBe('v');

    await redis.restart();
    expect(await rawRedisCommand(redis.port, ['PING'])).toBe('PONG');
    expect(await rawRedisCommand(redis.port, ['GET', 'k'])).toBeNull();

    await redis.stop();
    expect(await accepts(redis.port)).toBe(false);
    await redis.stop(); // already stopped: no-op

    await redis.restart();
    await rawRedisCommand(redis.port, ['SET', 'k', 'again']);
    await redis.kill();
    expect(await accepts(redis.port)).toBe(false);
    await redis.restart();
    expect(await rawRedisCommand(redis.port, ['GET', 'k'])).toBeNull();
  });

  it('gives concurrent servers their own ports', async () => {
    const [a, b] = await Promise.all([startRedisServer(), startRedisServer()]);
    try {
      expect(a.port).not.toBe(b.port);
      await rawRedisCommand(a.port, ['SET', 'only-a', '1']);
      expect(await rawRedisCommand(b.port, ['GET', 'only-a'])).toBeNull();
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('makes a unique key prefix per call', () => {
    const p = redisKeyPrefix();
    expect(p).toMatch(new RegExp(`^sy-test-${process.pid}-[0-9a-f]+:$`));
    expect(redisKeyPrefix()).not.toBe(p);
  });

  it.skipIf(!REDIS_URL)('reaches the shared server from SWITCHYARD_TEST_REDIS_URL', async () => {
    const url = new URL(REDIS_URL as string);
    expect(await rawRedisCommand(Number(url.port || 6379), ['PING'])).toBe('PONG');
  });
});

describe('tcp proxy helper', () => {
  let echo: Server;
  let echoPort: number;
  let proxy: TcpProxy;

  beforeAll(async () => {
    // Echoes every byte back and ends its side when the client ends.
    echo = createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => {});
      s.pipe(s);
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', () => resolve()));
    echoPort = (echo.address() as AddressInfo).port;
  });

  afterEach(async () => {
    await proxy?.close();
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => echo.close(() => resolve()));
  });

  it('forwards bytes both ways and passes a half-close on', async () => {
    proxy = await startTcpProxy({ host: '127.0.0.1', port: echoPort });
    expect(proxy.host).toBe('127.0.0.1');
    expect(proxy.port).not.toBe(echoPort);
    const c = await client(proxy.port);
    c.socket.write('hello ');
    await until(() => c.received() === 'hello ');
    expect(proxy.connections).toBe(1);
    c.socket.end('world');
    await c.ended;
    expect(c.received()).toBe('hello world');
    await c.closed;
    await until(() => proxy.connections === 0);
  });

  it('cut() breaks open connections and refuses new ones; restore() forwards again', async () => {
    proxy = await startTcpProxy({ host: '127.0.0.1', port: echoPort });
    const open = await client(proxy.port);
    open.socket.write('ping');
    await until(() => open.received() === 'ping');

    proxy.cut();
    await open.ended;
    expect(proxy.connections).toBe(0);

    // Accepted at the TCP level, then closed at once: nothing comes back.
    const refused = await client(proxy.port);
    refused.socket.write('anyone?');
    await refused.ended;
    expect(refused.received()).toBe('');

    proxy.restore();
    const again = await client(proxy.port);
    again.socket.write('back');
    await until(() => again.received() === 'back');
    again.socket.destroy();
  });

  it('closes the client side when the target is down', async () => {
    const gone = createServer();
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', () => resolve()));
    const deadPort = (gone.address() as AddressInfo).port;
    await new Promise<void>((resolve) => gone.close(() => resolve()));

    proxy = await startTcpProxy({ host: '127.0.0.1', port: deadPort });
    const c = await client(proxy.port);
    await c.ended;
    expect(proxy.connections).toBe(0);
  });

  it('rewrites postgres:// and redis:// URLs to its own host and port, keeping the rest', async () => {
    proxy = await startTcpProxy({ host: '127.0.0.1', port: echoPort });
    expect(proxy.url('postgres://postgres:postgres@db.internal:5432/postgres?sslmode=disable')).toBe(`postgres://postgres:postgres@127.0.0.1:${proxy.port}/postgres?sslmode=disable`);
    expect(proxy.url('redis://:secret@localhost:6379/2')).toBe(`redis://:secret@127.0.0.1:${proxy.port}/2`);
    expect(proxy.url('redis://127.0.0.1')).toBe(`redis://127.0.0.1:${proxy.port}`);
  });

  it('simulates a Redis outage in front of a private server', async () => {
    const redis = await startRedisServer();
    try {
      proxy = await startTcpProxy({ host: '127.0.0.1', port: redis.port });
      const port = Number(new URL(proxy.url(redis.url)).port);
      expect(await rawRedisCommand(port, ['PING'])).toBe('PONG');
      proxy.cut();
      await expect(rawRedisCommand(port, ['PING'])).rejects.toThrow();
      // The server itself is untouched.
      expect(await rawRedisCommand(redis.port, ['PING'])).toBe('PONG');
      proxy.restore();
      expect(await rawRedisCommand(port, ['PING'])).toBe('PONG');
    } finally {
      await redis.stop();
    }
  });

  it.skipIf(!PG_URL)('simulates a PostgreSQL outage without stopping the shared server', async () => {
    const url = new URL(PG_URL as string);
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    const viaProxy = proxy.url(PG_URL as string);

    const before = new pg.Client({ connectionString: viaProxy });
    before.on('error', () => {});
    await before.connect();
    expect((await before.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);

    proxy.cut();
    await expect(before.query('SELECT 1')).rejects.toThrow();
    const during = new pg.Client({ connectionString: viaProxy, connectionTimeoutMillis: 2_000 });
    during.on('error', () => {});
    await expect(during.connect()).rejects.toThrow();

    proxy.restore();
    const after = new pg.Client({ connectionString: viaProxy });
    await after.connect();
    expect((await after.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
    await after.end();
    await before.end().catch(() => {});
  });
});
