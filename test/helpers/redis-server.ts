/**
 * Redis for tests: a private `redis-server` child process per test (for fault injection: stop,
 * kill, restart on the same port), or the shared server CI starts (REDIS_URL) with a key prefix
 * per test so files sharing it don't collide.
 *
 * The private server keeps nothing on disk (`--save '' --appendonly no`), so a restart comes back
 * empty. Readiness is checked over a raw TCP connection (RESP), not with a Redis client library,
 * so this file depends on nothing from src/ or node_modules.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';

/** The shared Redis server for tests, from SWITCHYARD_TEST_REDIS_URL (.ci/run starts one and sets it). */
export const REDIS_URL = process.env.SWITCHYARD_TEST_REDIS_URL;

/** A unique key prefix, e.g. `sy-test-1234-k3j9x0qa:`, for tests that share one server. */
export function redisKeyPrefix(): string {
  return `sy-test-${process.pid}-${randomBytes(6).toString('hex')}:`;
}

export interface RedisServerHandle {
  /** redis://127.0.0.1:PORT */
  url: string;
  port: number;
  /** SIGTERM, resolves once the process has exited. No-op when it is not running. */
  stop(): Promise<void>;
  /** Starts a fresh, empty server on the same port (stopping the running one first, if any). */
  restart(): Promise<void>;
  /** SIGKILL (a crash: no shutdown), resolves once the process has exited. No-op when it is not running. */
  kill(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;
const EXIT_TIMEOUT_MS = 5_000;
const START_ATTEMPTS = 5;

/** Children still running, killed when the test process exits without stopping them. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/** A port that was free a moment ago (listen on 0, close). Someone may take it before we do: callers retry. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Sends one command as a RESP array and resolves with the reply: a simple string, a bulk string
 * (null for a nil bulk), or rejects on an error reply or a broken connection. Enough for PING and INFO.
 */
export function rawRedisCommand(port: number, args: string[], timeoutMs = 1_000): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    let settled = false;
    const done = (err: Error | null, value?: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value ?? null);
    };
    const timer = setTimeout(() => done(new Error(`redis 127.0.0.1:${port}: no reply to ${args[0]} within ${timeoutMs} ms`)), timeoutMs);
    socket.on('error', (err) => done(err));
    socket.on('close', () => done(new Error(`redis 127.0.0.1:${port}: connection closed before a reply to ${args[0]}`)));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const eol = buf.indexOf('\r\n');
      if (eol < 0) return;
      const head = buf.subarray(0, eol).toString('utf8');
      const kind = head[0];
      const rest = head.slice(1);
      if (kind === '+' || kind === ':') return done(null, rest);
      if (kind === '-') return done(new Error(`redis 127.0.0.1:${port}: ${rest}`));
      if (kind === '$') {
        const len = Number(rest);
        if (len < 0) return done(null, null);
        if (buf.length < eol + 2 + len + 2) return; // wait for the rest of the bulk string
        return done(null, buf.subarray(eol + 2, eol + 2 + len).toString('utf8'));
      }
      done(new Error(`redis 127.0.0.1:${port}: unexpected reply ${JSON.stringify(head)}`));
    });
    socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
  });
}

/** Resolves once the process has exited (at once if it already has). */
function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Sends `signal` and waits for the exit; SIGKILL if the process outlives EXIT_TIMEOUT_MS. */
async function terminate(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
  await exited(child);
  clearTimeout(timer);
}

class StartFailed extends Error {
  constructor(
    message: string,
    /** The process exited before it answered: most likely the port was taken (worth retrying). */
    readonly exitedEarly: boolean,
  ) {
    super(message);
  }
}

/**
 * Spawns redis-server on `port` and waits until it answers PING — and is the process that answers
 * (INFO's process_id), not some other server that won a race for the port.
 */
async function spawnOn(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', tmpdir()],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  track(child);
  // Last few KB of its log, for the error message when it does not come up.
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (spawnError) throw new StartFailed(`redis-server could not be started: ${spawnError.message}`, false);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new StartFailed(`redis-server on port ${port} exited (${child.exitCode ?? child.signalCode}) before answering:\n${output}`, true);
    }
    try {
      if ((await rawRedisCommand(port, ['PING'], 500)) === 'PONG') {
        const info = (await rawRedisCommand(port, ['INFO', 'server'], 1_000)) ?? '';
        if (info.includes(`process_id:${child.pid}\r\n`)) return child;
        // Someone else's server holds the port; ours will exit with "Address already in use".
        await terminate(child, 'SIGKILL');
        throw new StartFailed(`port ${port} is held by another Redis server`, true);
      }
    } catch (err) {
      if (err instanceof StartFailed) throw err;
      // Not listening yet: try again shortly.
    }
    if (Date.now() > deadline) {
      await terminate(child, 'SIGKILL');
      throw new StartFailed(`redis-server on port ${port} did not answer PING within ${READY_TIMEOUT_MS} ms:\n${output}`, false);
    }
    await sleep(25);
  }
}

/** A private redis-server on a free 127.0.0.1 port. Call stop() (or kill()) in afterAll. */
export async function startRedisServer(): Promise<RedisServerHandle> {
  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      child = await spawnOn(port);
      break;
    } catch (err) {
      if (!(err instanceof StartFailed && err.exitedEarly) || attempt >= START_ATTEMPTS) throw err;
    }
  }

  const handle: RedisServerHandle = {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: async () => {
      if (child) await terminate(child, 'SIGTERM');
    },
    kill: async () => {
      if (child) await terminate(child, 'SIGKILL');
    },
    restart: async () => {
      if (child) await terminate(child, 'SIGTERM');
      // The port is ours only by convention now: retry briefly in case it is still being released.
      for (let attempt = 1; ; attempt++) {
        try {
          child = await spawnOn(port);
          return;
        } catch (err) {
          if (!(err instanceof StartFailed && err.exitedEarly) || attempt >= START_ATTEMPTS) throw err;
          await sleep(100 * attempt);
        }
      }
    },
  };
  return handle;
}
