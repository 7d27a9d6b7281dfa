/**
 * The protocol-neutral half of the upstream simulators (openai-, anthropic- and gemini-simulator.ts):
 * an HTTP server on 127.0.0.1 that records every request, tells a client's abort from a connection
 * the simulator cut on purpose, keeps the scenario queue, and lets tests wait until requests settle.
 *
 * It parses a request body as HTTP delivers it (JSON, or multipart/form-data with the platform's
 * own FormData parser, files kept byte for byte) so tests can assert what a client sent.
 *
 * Besides, small helpers the three share: a scenario's pacing fields, the `hang` and `raw`
 * scenarios (which write only what the test gave), ids, word splitting, sleep, a write that waits,
 * and the deterministic embedding vectors the OpenAI and Gemini simulators both answer.
 *
 * Everything a provider would recognise — routes, auth checks, error bodies, stream framing, id
 * prefixes — stays in the simulator that speaks it; nothing here decides a byte of a wire format,
 * and nothing here comes from or goes to src/ (the simulators stand in for the real providers).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path including the query string. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /**
   * Parsed JSON body, or undefined when empty or not JSON. A multipart/form-data body is parsed too:
   * one key per field name, a text field's value a string and a file's a `MultipartFile`; a name
   * that ends in `[]` (`image[]`, `timestamp_granularities[]`) always maps to an array, and so does
   * any other name sent more than once.
   */
  body: any;
  /** The body decoded as UTF-8 (lossy for binary uploads: see `rawBytes`). */
  rawBody: string;
  /** The body exactly as received. */
  rawBytes: Buffer;
  /** A multipart/form-data body's parts in the order sent; undefined for any other body. */
  multipart?: MultipartPart[];
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

/** An uploaded file of a multipart/form-data body. */
export interface MultipartFile {
  /** The part's `filename` parameter. */
  filename: string;
  /** The part's Content-Type header exactly as sent, or null when the part had none. */
  contentType: string | null;
  /** The file's bytes, exactly. */
  data: Buffer;
  size: number;
}

/** One part of a multipart/form-data body: a text field (string) or a file. */
export interface MultipartPart {
  name: string;
  value: string | MultipartFile;
}

export function isMultipartFile(v: unknown): v is MultipartFile {
  return typeof v === 'object' && v !== null && Buffer.isBuffer((v as MultipartFile).data) && typeof (v as MultipartFile).filename === 'string';
}

/** The boundary of a multipart/form-data content type, or undefined for any other type. */
function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^\s*multipart\/form-data\s*(;|$)/i.test(contentType)) return undefined;
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : undefined;
}

/**
 * Each part's Content-Type header as sent (null when absent), in order. The platform parser below
 * reports a missing header as text/plain, which would hide what a client really sent.
 */
function partContentTypes(raw: Buffer, boundary: string): Array<string | null> {
  const out: Array<string | null> = [];
  const first = Buffer.from(`--${boundary}`);
  const next = Buffer.from(`\r\n--${boundary}`);
  let pos = raw.indexOf(first);
  while (pos !== -1) {
    let start = pos + first.length;
    if (raw[start] === 0x2d && raw[start + 1] === 0x2d) break; // the closing delimiter
    while (raw[start] === 0x20 || raw[start] === 0x09) start++;
    if (raw[start] === 0x0d && raw[start + 1] === 0x0a) start += 2;
    const headerEnd = raw.indexOf('\r\n\r\n', start);
    if (headerEnd === -1) break;
    const type = /^content-type:[ \t]*(.*?)[ \t]*$/im.exec(raw.toString('latin1', start, headerEnd));
    out.push(type ? type[1] : null);
    const found = raw.indexOf(next, headerEnd + 4);
    pos = found === -1 ? -1 : found + 2;
  }
  return out;
}

/** Parses a multipart/form-data body with the platform's own parser; null when it is not well-formed. */
async function parseMultipart(raw: Buffer, contentType: string): Promise<MultipartPart[] | null> {
  const boundary = multipartBoundary(contentType);
  if (!boundary) return null;
  let form: FormData;
  try {
    form = await new Response(new Uint8Array(raw.buffer, raw.byteOffset, raw.length) as Uint8Array<ArrayBuffer>, { headers: { 'content-type': contentType } }).formData();
  } catch {
    return null;
  }
  const declared = partContentTypes(raw, boundary);
  const entries = [...form.entries()];
  const useDeclared = declared.length === entries.length;
  const parts: MultipartPart[] = [];
  for (const [i, [name, value]] of entries.entries()) {
    if (typeof value === 'string') {
      parts.push({ name, value });
      continue;
    }
    const data = Buffer.from(await value.arrayBuffer());
    parts.push({ name, value: { filename: value.name, contentType: useDeclared ? declared[i] : value.type || null, data, size: data.length } });
  }
  return parts;
}

/** The `body` view of multipart parts (see RecordedRequest.body). */
function multipartBody(parts: MultipartPart[]): Record<string, string | MultipartFile | Array<string | MultipartFile>> {
  const counts = new Map<string, number>();
  for (const p of parts) counts.set(p.name, (counts.get(p.name) ?? 0) + 1);
  const body: Record<string, string | MultipartFile | Array<string | MultipartFile>> = {};
  for (const p of parts) {
    if (p.name.endsWith('[]') || (counts.get(p.name) ?? 0) > 1) {
      const list = (body[p.name] as Array<string | MultipartFile> | undefined) ?? [];
      list.push(p.value);
      body[p.name] = list;
    } else {
      body[p.name] = p.value;
    }
  }
  return body;
}

/**
 * A deterministic embedding: the first `dimensions` components of a unit-length vector of
 * `fullDimensions` components (default: `dimensions`, so the result itself has length 1) derived
 * from the input alone, each rounded to float32. The same text gives the same vector in every
 * simulator, and a shorter vector is a prefix of a longer one's direction: OpenAI's `dimensions`
 * returns `embeddingValues(x, d)` (renormalised), Gemini's `outputDimensionality` returns
 * `embeddingValues(x, d, modelDimensions)` (truncated, not renormalised).
 */
export function embeddingValues(input: string | readonly number[], dimensions: number, fullDimensions = dimensions): number[] {
  const key = typeof input === 'string' ? `text:${input}` : `tokens:${input.join(',')}`;
  const seed = createHash('sha256').update(key).digest();
  // xorshift128 seeded from the hash: cheap, and the same sequence on every platform.
  let x = seed.readUInt32LE(0) | 1;
  let y = seed.readUInt32LE(4);
  let z = seed.readUInt32LE(8);
  let w = seed.readUInt32LE(12);
  const n = Math.max(dimensions, fullDimensions);
  const raw = new Array<number>(n);
  let norm = 0;
  for (let i = 0; i < n; i++) {
    const t = x ^ (x << 11);
    x = y;
    y = z;
    z = w;
    w = (w ^ (w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    const v = w / 0x100000000 - 0.5;
    raw[i] = v;
    if (i < fullDimensions) norm += v * v;
  }
  const scale = 1 / Math.sqrt(norm || 1);
  return raw.slice(0, dimensions).map((v) => Math.fround(v * scale));
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
export function write(res: ServerResponse, data: string | Uint8Array): Promise<void> {
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
      rawBytes: Buffer.alloc(0),
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
    req.on('end', async () => {
      rec.rawBytes = Buffer.concat(chunks);
      rec.rawBody = rec.rawBytes.toString('utf8');
      const contentType = typeof req.headers['content-type'] === 'string' ? req.headers['content-type'] : undefined;
      if (multipartBoundary(contentType) !== undefined) {
        const parts = await parseMultipart(rec.rawBytes, contentType as string);
        if (parts) {
          rec.multipart = parts;
          rec.body = multipartBody(parts);
        } else {
          ex.parseFailed = true;
        }
      } else if (rec.rawBody.length > 0) {
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
