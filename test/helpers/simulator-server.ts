/**
 * The protocol-neutral half of the upstream simulators (openai-, anthropic- and gemini-simulator.ts):
 * an HTTP server on 127.0.0.1 that records every request, tells a client's abort from a connection
 * the simulator cut on purpose, keeps the scenario queue, and lets tests wait until requests settle.
 *
 * Besides, small helpers the three share: a scenario's pacing fields, the `hang` and `raw`
 * scenarios (which write only what the test gave), ids, word splitting, sleep, a write that waits.
 *
 * Everything a provider would recognise — routes, auth checks, error bodies, stream framing, id
 * prefixes — stays in the simulator that speaks it; nothing here decides a byte of a wire format,
 * and nothing here comes from or goes to src/ (the simulators stand in for the real providers).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path including the query string. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body, or undefined when empty or not JSON. */
  body: any;
  rawBody: string;
  /** true once the client closed the connection before the simulator finished answering */
  aborted: boolean;
  startedAt: number;
  endedAt?: number;
}

export interface SimulatorServer<S> {
  /** Host root, e.g. http://127.0.0.1:PORT */
  url: string;
  /** Every request in arrival order, whatever its route or outcome. Tests may reset it with `requests.length = 0`. */
  requests: RecordedRequest[];
  /** Scenarios consumed FIFO, one per request that asks for one, before `handler` is asked. */
  enqueue(...s: S[]): void;
  /** Default behaviour when the queue is empty. */
  handler: (req: RecordedRequest) => S;
  /** Resolves when `n` requests in `requests` have been recorded as aborted or finished (default timeout 10 s). */
  waitForRequests(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** One request and its response, as a simulator's `handle` sees them once the body has been read. */
export interface Exchange<S> {
  req: IncomingMessage;
  res: ServerResponse;
  rec: RecordedRequest;
  /** The body was not empty and not JSON either. */
  parseFailed: boolean;
  /** true once the response has closed: the client went away, or the answer was finished or cut. */
  readonly closed: boolean;
  /** Cuts the connection on purpose (a scripted drop): the request counts as finished, not aborted. */
  destroy(): void;
  /** The scenario for this request: the oldest queued one, else `handler(rec)`. */
  nextScenario(): S;
}

export interface SimulatorServerOptions<S> {
  /** Answers one request. */
  handle(ex: Exchange<S>): Promise<void>;
  /** Answers a request whose `handle` threw before any header went out (the provider's own 500); afterwards the socket is destroyed instead. */
  internalError(res: ServerResponse): void;
  /** The initial `handler`. */
  handler: (req: RecordedRequest) => S;
}

/** The pacing fields of a text scenario, which every simulator applies the same way. */
export interface Pacing {
  /** Pause between stream chunks. Non-stream answers wait chunkDelayMs per chunk too, as generation would. */
  chunkDelayMs?: number;
  /** Pause before the status line and headers. */
  firstByteDelayMs?: number;
}

/** The scenarios every simulator plays the same way, whatever the protocol. */
export type BasicScenario =
  /** Accept the request and never answer (until the client aborts). */
  | { type: 'hang' }
  /** Exactly this status, headers and body. */
  | { type: 'raw'; status: number; headers?: Record<string, string>; body: string };

/**
 * Plays a basic scenario and says so (true), or leaves any other to the simulator (false).
 * `hang` leaves the response open until the client gives up or close() runs.
 */
export function playBasicScenario(ex: Exchange<unknown>, scenario: { type: string }): scenario is BasicScenario {
  const s = scenario as BasicScenario;
  if (s.type !== 'hang' && s.type !== 'raw') return false;
  if (s.type === 'raw' && !ex.closed) {
    ex.res.writeHead(s.status, s.headers ?? {});
    ex.res.end(s.body);
  }
  return true;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `length` random characters from `alphabet` (for ids and padding). */
export function randomString(length: number, alphabet = ALNUM): string {
  const bytes = randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[bytes[i] % alphabet.length];
  return out;
}

/** Splits text into word tokens that keep their leading whitespace: "a b" -> ["a", " b"]. */
export function splitWords(text: string): string[] {
  return text.match(/\s*\S+|\s+$/g) ?? [];
}

/**
 * Cuts text into `chunks` pieces: by default one per word token; fewer pieces group whole words
 * evenly; more pieces than words cut by characters (code points, so no surrogate pair is split).
 */
export function chunkText(text: string, chunks: number | undefined): string[] {
  const words = splitWords(text);
  if (chunks === undefined || chunks <= 0) return words;
  if (chunks <= words.length) {
    const out: string[] = [];
    for (let i = 0; i < chunks; i++) out.push(words.slice(Math.floor((i * words.length) / chunks), Math.floor(((i + 1) * words.length) / chunks)).join(''));
    return out;
  }
  const chars = Array.from(text);
  const n = Math.min(chunks, chars.length);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(chars.slice(Math.floor((i * chars.length) / n), Math.floor(((i + 1) * chars.length) / n)).join(''));
  return out;
}

/** Writes one piece and waits until it reached the socket, so each event is its own TCP write. */
export function write(res: ServerResponse, data: string): Promise<void> {
  if (res.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    // 'close' too: a write cut short by a vanished client must not leave the answer pending.
    res.once('close', resolve);
    res.write(data, () => {
      res.off('close', resolve);
      resolve();
    });
  });
}

export async function startSimulatorServer<S>(opts: SimulatorServerOptions<S>): Promise<SimulatorServer<S>> {
  const queue: S[] = [];
  const requests: RecordedRequest[] = [];
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  const settledCount = () => requests.filter((r) => r.aborted || r.endedAt !== undefined).length;

  const sim: SimulatorServer<S> = {
    url: '',
    requests,
    enqueue: (...s) => {
      queue.push(...s);
    },
    handler: opts.handler,
    waitForRequests(n, timeoutMs = 10_000) {
      if (settledCount() >= n) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (settledCount() < n) return;
          cleanup();
          resolve();
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`waitForRequests(${n}): only ${settledCount()} of ${requests.length} requests settled after ${timeoutMs} ms`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
      });
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const server = createServer((req, res) => {
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: { ...req.headers },
      body: undefined,
      rawBody: '',
      aborted: false,
      startedAt: Date.now(),
    };
    requests.push(rec);
    let selfDestroyed = false;
    const ex: Exchange<S> & { closed: boolean } = {
      req,
      res,
      rec,
      parseFailed: false,
      closed: false,
      destroy: () => {
        selfDestroyed = true;
        res.socket?.destroy();
        res.destroy();
      },
      nextScenario: () => (queue.length > 0 ? (queue.shift() as S) : sim.handler(rec)),
    };
    res.on('error', () => {});
    req.on('error', () => {});
    res.on('close', () => {
      ex.closed = true;
      if (rec.endedAt !== undefined) return;
      rec.endedAt = Date.now();
      // A socket the simulator cut itself (drop) is a finished answer, not a client abort.
      if (!res.writableFinished && !selfDestroyed) rec.aborted = true;
      notify();
    });
    res.on('finish', () => {
      if (rec.endedAt !== undefined) return;
      rec.endedAt = Date.now();
      notify();
    });

    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      rec.rawBody = Buffer.concat(chunks).toString('utf8');
      if (rec.rawBody.length > 0) {
        try {
          rec.body = JSON.parse(rec.rawBody);
        } catch {
          ex.parseFailed = true;
        }
      }
      opts.handle(ex).catch(() => {
        if (!res.headersSent && !ex.closed) opts.internalError(res);
        else res.destroy();
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  sim.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return sim;
}
