/**
 * Slow streams: N streams open at once through the gateway against a slow
 * upstream (one chunk every --interval-ms for --seconds). Targets: every stream
 * completes, the gateway's RSS stays under 600 MB, and the delay the gateway adds
 * between an upstream chunk and the client receiving it is under 5 ms at p99.
 *
 * Usage: node --import tsx bench/slow-streams.ts [--streams 5000] [--seconds 30]
 *          [--interval-ms 100] [--direct-streams N] [--floor-streams N] [--ramp-seconds S] [--out FILE]
 *
 *   --streams N          concurrent streams through the gateway (default 5000)
 *   --seconds S          how long each stream lasts (default 30)
 *   --interval-ms MS     one content chunk every MS (default 100); a stream has
 *                        seconds*1000/interval content chunks
 *   --direct-streams N   streams of the "direct" baseline, client -> slow upstream
 *                        (default: the same as --streams; 0 skips it)
 *   --floor-streams N    streams through the dispatch-handler floor relay
 *                        (bench/floor-dispatch.ts on the gateway's CPU, run after the
 *                        gateway): what a bare relay achieves on this host under the
 *                        same load, and its CPU per chunk (default: --streams; 0 skips it)
 *   --ramp-seconds S     the client opens its streams evenly over S seconds
 *                        (default streams/1000, at least 1, at most 10)
 *   --out FILE           also write the results as JSON
 *   --gateway-node-flags=FLAGS   extra node flags for the gateway (space-separated),
 *                        e.g. --gateway-node-flags=--trace-gc (its stdout, hence the trace, goes to the
 *                        gateway log, summarised at the end); for diagnosis
 *   --gateway-log FILE   keep a copy of the gateway's log (stdout) in FILE
 *
 * Processes: the gateway (node dist/cli.js serve, built first, temp config, SQLite,
 * log level warn) on CPU 0; the slow upstream, the client and this orchestrator on
 * CPU 1 (taskset). The upstream and the client are this same file, started with
 * --role upstream / --role client.
 *
 * The slow upstream (raw node:http) answers POST /v1/chat/completions with an
 * OpenAI SSE stream: a role chunk at once, then one `chat.completion.chunk` per
 * interval whose content is "@<send time>" (performance.timeOrigin +
 * performance.now(), ms with µs decimals, taken just before the write), a finish
 * chunk, a usage chunk when stream_options.include_usage is set (the gateway
 * asks for it and strips it for clients that did not) and `data: [DONE]`. One
 * setInterval per stream; each stream's first tick is offset within the first
 * interval (golden-ratio sequence) so chunks are spread evenly, not in bursts.
 * `max_tokens` below the chunk count shortens a stream (used by the start-up
 * check and the warm-up only).
 *
 * The client (one process, undici Pool with one connection per stream, raw
 * dispatch handler) parses SSE as it arrives and records, for every content
 * chunk, its receive time minus the embedded send time. The same is measured
 * client -> upstream directly ("direct"); gateway-added delay = gateway delay -
 * direct delay at the same percentile. Both runs load CPU 1 the same way (the
 * upstream writes and the client reads the same number of chunks), so the
 * difference is what the gateway's hop costs. Figures are given for every chunk
 * ("all") and for the steady state ("steady": chunks received from two intervals
 * after the last stream was opened, when all N are open; the client's own
 * start-up and ramp disturb the first second of both runs); the p99 target is
 * judged on the steady state.
 *
 * Gateway RSS (/proc/<pid>/status VmRSS) is sampled every 500 ms, its open file
 * descriptors (/proc/<pid>/fd) every second, its CPU time (utime + stime) around
 * the run. A warm-up (min(N, 200) streams of 10 chunks through the gateway) runs
 * first so V8 has compiled the hot path. "Other load" is what other programs (or
 * the hypervisor: steal time) used of each CPU during a run (/proc/stat minus our
 * processes); the bench waits up to 10 s for a quiet machine before each run.
 *
 * Exit code 0 when the measurement was made (even if targets fail); 1 when the
 * bench itself broke. Everything listens on 127.0.0.1; every run is bounded in
 * time; child processes are stopped on exit, error and SIGINT.
 */
import type { ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { copyFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Pool, type Dispatcher } from 'undici';
import {
  BenchError,
  CLIENT_CPU,
  HOST,
  coreBusySeconds,
  PIN,
  SERVER_CPU,
  createKey,
  describeWatch,
  fdCount,
  fmt,
  log,
  machineLine,
  makeTempDir,
  nowMs,
  numberOption,
  openFilesLimit,
  percentiles,
  pinSelf,
  pct,
  printDocComment,
  rssMiB,
  runMain,
  sleep,
  spawnNode,
  startGateway,
  startListener,
  stderrTail,
  stopChild,
  summariseLog,
  table,
  tryCpuSeconds,
  usageRequests,
  verdictLine,
  waitQuiet,
  watchMainThread,
  type Percentiles,
  type ThreadWatchFigures,
} from './bench-lib.ts';

const SELF = fileURLToPath(import.meta.url);
const FLOOR_SCRIPT = fileURLToPath(new URL('./floor-dispatch.ts', import.meta.url));
const MODEL = 'slow-model';
/** Marks a timed content chunk: `"content":"@<ms since the epoch>"`. */
const MARK = '"content":"@';
const DONE = 'data: [DONE]';

const TARGETS = { rssMB: 600, addedP99Ms: 5 };

// ================================================================ role: slow upstream

function runUpstream(argv: string[]): void {
  const { values } = parseArgs({
    args: argv,
    options: { role: { type: 'string' }, seconds: { type: 'string' }, 'interval-ms': { type: 'string' } },
  });
  const intervalMs = Number(values['interval-ms']);
  const chunksPerStream = Math.max(1, Math.round((Number(values.seconds) * 1000) / intervalMs));
  const head = `data: {"id":"chatcmpl-slow","object":"chat.completion.chunk","created":1700000000,"model":"${MODEL}","system_fingerprint":"fp_slow","choices":[{"index":0,"delta":`;
  const ROLE_EVENT = `${head}{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}\n\n`;
  const CONTENT_PREFIX = `${head}{"content":"@`;
  const CONTENT_SUFFIX = `"},"logprobs":null,"finish_reason":null}]}\n\n`;
  const finishEvent = (reason: string): string => `${head}{},"logprobs":null,"finish_reason":"${reason}"}]}\n\n`;
  const usageEvent = (n: number): string =>
    `data: {"id":"chatcmpl-slow","object":"chat.completion.chunk","created":1700000000,"model":"${MODEL}","system_fingerprint":"fp_slow","choices":[],"usage":{"prompt_tokens":24,"completion_tokens":${n},"total_tokens":${24 + n}}}\n\n`;
  const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };

  const stats = { served: 0, active: 0, completed: 0, closedEarly: 0, chunksSent: 0 };
  let seq = 0;

  const error = (res: ServerResponse, status: number, message: string): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message, type: 'invalid_request_error', code: null, param: null } }));
  };

  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    if (req.method === 'GET' && req.url === '/stats') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(stats));
      return;
    }
    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) return error(res, 404, 'not found');
    let parsed: { stream?: unknown; max_tokens?: unknown; stream_options?: { include_usage?: unknown } | null };
    try {
      parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
    } catch {
      return error(res, 400, 'invalid json');
    }
    if (parsed.stream !== true) return error(res, 400, 'this upstream only streams');
    const limit = typeof parsed.max_tokens === 'number' && parsed.max_tokens > 0 ? Math.floor(parsed.max_tokens) : Infinity;
    const chunks = Math.min(chunksPerStream, limit);
    const includeUsage = parsed.stream_options?.include_usage === true;
    stats.served++;
    stats.active++;
    res.writeHead(200, SSE_HEADERS);
    res.write(ROLE_EVENT);
    let sent = 0;
    let ticker: NodeJS.Timeout | undefined;
    let finished = false;
    const tick = (): void => {
      // The send time, taken just before the write.
      res.write(CONTENT_PREFIX + nowMs().toFixed(3) + CONTENT_SUFFIX);
      stats.chunksSent++;
      if (++sent < chunks) return;
      clearInterval(ticker);
      finished = true;
      res.write(finishEvent(chunks < chunksPerStream ? 'length' : 'stop'));
      if (includeUsage) res.write(usageEvent(chunks));
      res.end(`${DONE}\n\n`);
    };
    // Spread the streams' ticks over the interval: the golden-ratio sequence fills it evenly whatever N is.
    const offset = ((seq++ * 0.6180339887498949) % 1) * intervalMs;
    const starter = setTimeout(() => {
      ticker = setInterval(tick, intervalMs);
    }, offset);
    res.once('close', () => {
      clearTimeout(starter);
      clearInterval(ticker);
      stats.active--;
      if (finished) stats.completed++;
      else stats.closedEarly++;
    });
  };

  // A short keep-alive: idle connections close soon after a run, so the gateway's fd count after it shows leaks, not its idle pool.
  const server = createServer({ keepAliveTimeout: 4000, noDelay: true }, (req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => handle(req, res, parts.length === 1 ? parts[0] : Buffer.concat(parts)));
  });
  server.listen({ port: 0, host: HOST, backlog: 8192 }, () => {
    const addr = server.address();
    process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : 0}\n`);
  });
  const stop = (): void => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

// ================================================================ role: client

interface ClientResult {
  streams: number;
  started: number;
  /** Streams that got response headers: requests the relay certainly received (the rest may never have left the client's queue). */
  responded: number;
  completed: number;
  failed: number;
  /** Failure reasons and how many streams had each. */
  failures: Record<string, number>;
  /** Streams the gateway needed more than one upstream call for (x-switchyard-attempts > 1). */
  retried: number;
  chunksExpected: number;
  chunksReceived: number;
  delayMs: Percentiles;
  /** Chunks received once every stream was open and ticking (from two intervals after the ramp ended). */
  steadyDelayMs: Percentiles;
  /** Content chunks delayed by more than 5 ms. */
  over5ms: number;
  /** Per second since the first stream opened: chunks, p99 and max delay (ms). */
  perSecond: Array<{ s: number; chunks: number; p99: number; max: number }>;
  rampSeconds: number;
  wallSeconds: number;
  cpuSeconds: number;
}

async function runClient(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      role: { type: 'string' },
      url: { type: 'string' },
      streams: { type: 'string' },
      chunks: { type: 'string' },
      'max-tokens': { type: 'string' },
      'ramp-ms': { type: 'string' },
      'deadline-ms': { type: 'string' },
      'interval-ms': { type: 'string' },
    },
  });
  const intervalMs = Number(values['interval-ms']);
  const url = new URL(values.url as string);
  const n = Number(values.streams);
  const chunksPerStream = Number(values.chunks);
  const rampMs = Number(values['ramp-ms']);
  const deadlineMs = Number(values['deadline-ms']);
  const auth = process.env.BENCH_AUTH;
  const body = JSON.stringify({
    model: MODEL,
    messages: [{ role: 'user', content: 'Count slowly.' }],
    max_tokens: Number(values['max-tokens']),
    stream: true,
  });
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (auth) headers.authorization = `Bearer ${auth}`;

  const pool = new Pool(url.origin, {
    connections: n,
    pipelining: 1,
    headersTimeout: 0,
    bodyTimeout: 0,
    keepAliveTimeout: 60_000,
    connect: { timeout: 30_000 },
  });

  const capacity = n * chunksPerStream;
  const delays = new Float64Array(capacity);
  let recorded = 0;
  let received = 0;
  /** Receive time from which chunks count as steady state (set when the ramp ends), and the index of the first such chunk. */
  let steadyAt = Infinity;
  let steadyFrom = -1;
  // Per-second buckets (index: seconds since t0).
  const secDelays: number[][] = [];
  const t0 = nowMs();
  const failures: Record<string, number> = {};
  let started = 0;
  let responded = 0;
  let completed = 0;
  let failed = 0;
  let retried = 0;
  let over5 = 0;
  let open = 0;
  let allDone: (() => void) | undefined;
  const live = new Set<StreamProbe>();

  let ending = false;
  const settle = (p: StreamProbe, reason: string | undefined): void => {
    if (p.settled) return;
    p.settled = true;
    if (!ending) {
      // Tells the orchestrator that streams start to end (its stall watch stops there).
      ending = true;
      process.stdout.write('ENDING\n');
    }
    live.delete(p);
    open--;
    if (reason === undefined && p.chunks !== chunksPerStream) reason = `got ${p.chunks < chunksPerStream ? 'fewer' : 'more'} chunks than expected`;
    if (reason === undefined) completed++;
    else {
      failed++;
      failures[reason] = (failures[reason] ?? 0) + 1;
    }
    if (open === 0 && started === n) allDone?.();
  };

  class StreamProbe implements Dispatcher.DispatchHandler {
    status = 0;
    chunks = 0;
    sawDone = false;
    settled = false;
    private rest = '';
    private errorBody = '';
    private controller: Dispatcher.DispatchController | undefined;

    onRequestStart(controller: Dispatcher.DispatchController): void {
      this.controller = controller;
    }

    onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, h: Record<string, string | string[] | undefined>): void {
      this.status = statusCode;
      responded++;
      const attempts = h['x-switchyard-attempts'];
      if (typeof attempts === 'string' && Number(attempts) > 1) retried++;
    }

    onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
      if (this.status !== 200) {
        if (this.errorBody.length < 300) this.errorBody += chunk.toString('utf8');
        return;
      }
      const now = nowMs();
      const text = this.rest + chunk.toString('latin1');
      const end = text.lastIndexOf('\n\n');
      if (end < 0) {
        this.rest = text;
        return;
      }
      if (steadyFrom < 0 && now >= steadyAt) steadyFrom = recorded;
      let i = text.indexOf(MARK);
      while (i !== -1 && i < end) {
        const from = i + MARK.length;
        const to = text.indexOf('"', from);
        const d = now - Number(text.slice(from, to));
        this.chunks++;
        received++;
        if (recorded < capacity) delays[recorded++] = d;
        if (d > 5) over5++;
        const s = Math.floor((now - t0) / 1000);
        (secDelays[s] ??= []).push(d);
        i = text.indexOf(MARK, to);
      }
      if (!this.sawDone && text.lastIndexOf(DONE, end) !== -1) this.sawDone = true;
      this.rest = text.slice(end + 2);
    }

    onResponseEnd(): void {
      if (this.status !== 200) settle(this, `HTTP ${this.status}: ${this.errorBody.replace(/\s+/g, ' ').slice(0, 160)}`);
      else settle(this, this.sawDone ? undefined : 'ended without [DONE]');
    }

    onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
      const code = (err as { code?: string }).code;
      settle(this, `${code ?? 'error'}: ${err.message.slice(0, 120)}`);
    }

    abort(reason: string): void {
      this.controller?.abort(new Error(reason));
    }
  }

  const openOne = (): void => {
    const p = new StreamProbe();
    live.add(p);
    started++;
    open++;
    pool.dispatch({ path: url.pathname, method: 'POST', headers, body }, p);
  };

  const finished = new Promise<void>((r) => {
    allDone = r;
  });
  // Ramp: open the streams evenly over rampMs, checking every 5 ms.
  const rampStart = performance.now();
  await new Promise<void>((r) => {
    const step = (): void => {
      const due = rampMs <= 0 ? n : Math.min(n, Math.floor(((performance.now() - rampStart) / rampMs) * n) + 1);
      while (started < due) openOne();
      if (started < n) setTimeout(step, 5);
      else r();
    };
    step();
  });
  const rampSeconds = (performance.now() - rampStart) / 1000;
  // Every stream may already have failed (a refused connection, an error status).
  if (open === 0) allDone?.();
  steadyAt = nowMs() + 2 * intervalMs;
  setTimeout(() => {
    if (!ending) process.stdout.write('STEADY\n');
  }, 2 * intervalMs).unref();
  const deadline = setTimeout(() => {
    for (const p of [...live]) {
      p.abort('deadline');
      settle(p, 'not finished by the deadline');
    }
  }, deadlineMs);
  await finished;
  clearTimeout(deadline);
  const wallSeconds = (nowMs() - t0) / 1000;
  await pool.destroy().catch(() => undefined);

  const perSecond = secDelays.map((arr, s) => {
    const sorted = Float64Array.from(arr ?? []).sort();
    const pc = percentiles(sorted);
    return { s, chunks: pc.count, p99: pc.p99, max: pc.max };
  });
  const cpu = process.cpuUsage();
  const result: ClientResult = {
    streams: n,
    started,
    responded,
    completed,
    failed,
    failures,
    retried,
    chunksExpected: n * chunksPerStream,
    chunksReceived: received,
    delayMs: percentiles(delays.slice(0, recorded).sort()),
    steadyDelayMs: percentiles(steadyFrom < 0 ? new Float64Array(0) : delays.slice(steadyFrom, recorded).sort()),
    over5ms: over5,
    perSecond,
    rampSeconds,
    wallSeconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

// ================================================================ orchestrator

/** parseArgs, with its errors as a one-line usage message. */
function parseOptions<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    throw new BenchError(`${(err as Error).message} (--help lists the options)`);
  }
}

interface Sampled {
  peakRssMiB: number;
  peakFds: number;
  rssSamples: number;
  fdSamples: number;
  /** Longest a /proc/<pid>/fd count took (ms): it runs on the client's CPU. */
  fdReadMaxMs: number;
}

/** Samples the gateway's RSS every 500 ms and its fd count every 1 s until stopped. */
function sampleGateway(pid: number): { stop: () => Sampled } {
  const s: Sampled = { peakRssMiB: 0, peakFds: 0, rssSamples: 0, fdSamples: 0, fdReadMaxMs: 0 };
  let tick = 0;
  const timer = setInterval(() => {
    try {
      s.peakRssMiB = Math.max(s.peakRssMiB, rssMiB(pid));
      s.rssSamples++;
      if (tick++ % 2 === 0) {
        const t = performance.now();
        s.peakFds = Math.max(s.peakFds, fdCount(pid));
        s.fdReadMaxMs = Math.max(s.fdReadMaxMs, performance.now() - t);
        s.fdSamples++;
      }
    } catch {
      // the gateway is gone: reported by its exit handler
    }
  }, 500);
  return {
    stop: () => {
      clearInterval(timer);
      return s;
    },
  };
}

interface RunSpec {
  label: string;
  url: string;
  auth: string | undefined;
  streams: number;
  chunks: number;
  maxTokens: number;
  rampMs: number;
  deadlineMs: number;
  intervalMs: number;
}

interface RunOutcome {
  result: ClientResult;
  wallSeconds: number;
  /** CPU seconds of each process over the run. */
  cpu: { gateway: number; upstream: number; client: number; orchestrator: number };
  /** Share of CPU 0 and CPU 1 that other programs (or steal time) used during the run. */
  otherLoad: [number, number];
}

/** What the client said of its phase: every stream open (`steady`), some finished (`ending`). */
interface ClientPhase {
  steady: boolean;
  ending: boolean;
}

async function runClientChild(spec: RunSpec, pids: { gateway: number; upstream: number }, phase: ClientPhase = { steady: false, ending: false }): Promise<RunOutcome> {
  const child: ChildProcess = spawnNode(
    CLIENT_CPU,
    SELF,
    [
      '--role',
      'client',
      '--url',
      spec.url,
      '--streams',
      String(spec.streams),
      '--chunks',
      String(spec.chunks),
      '--max-tokens',
      String(spec.maxTokens),
      '--ramp-ms',
      String(spec.rampMs),
      '--deadline-ms',
      String(spec.deadlineMs),
      '--interval-ms',
      String(spec.intervalMs),
    ],
    'pipe',
    spec.auth ? { BENCH_AUTH: spec.auth } : {},
  );
  const tail = stderrTail(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
    if (!phase.steady && out.includes('STEADY\n')) phase.steady = true;
    if (!phase.ending && out.includes('ENDING\n')) phase.ending = true;
  });
  const g0 = tryCpuSeconds(pids.gateway);
  const u0 = tryCpuSeconds(pids.upstream);
  const cores0 = coreBusySeconds();
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  let clientCpu = 0;
  const cpuTimer = setInterval(() => {
    const c = tryCpuSeconds(child.pid);
    if (Number.isFinite(c)) clientCpu = c;
  }, 250);
  const code = await new Promise<number | null>((resolvePromise) => {
    // The client stops itself at its deadline; this is the backstop.
    const kill = setTimeout(() => child.kill('SIGKILL'), spec.deadlineMs + 60_000);
    child.once('exit', (c) => {
      clearTimeout(kill);
      resolvePromise(c);
    });
  });
  clearInterval(cpuTimer);
  const wallSeconds = (performance.now() - t0) / 1000;
  const self = process.cpuUsage(self0);
  const cores1 = coreBusySeconds();
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  if (code !== 0 || !line) throw new BenchError(`the ${spec.label} client exited with ${code}\n${tail()}\n${out.slice(-1000)}`);
  const result = JSON.parse(line.slice('RESULT '.length)) as ClientResult;
  const cpu = {
    gateway: tryCpuSeconds(pids.gateway) - g0,
    upstream: tryCpuSeconds(pids.upstream) - u0,
    client: Math.max(clientCpu, result.cpuSeconds),
    orchestrator: (self.user + self.system) / 1e6,
  };
  const s = Number(SERVER_CPU);
  const c = Number(CLIENT_CPU);
  const otherLoad: [number, number] = PIN
    ? [
        Math.max(0, (cores1[s] - cores0[s] - cpu.gateway) / wallSeconds),
        Math.max(0, (cores1[c] - cores0[c] - cpu.upstream - cpu.client - cpu.orchestrator) / wallSeconds),
      ]
    : [NaN, NaN];
  return { result, wallSeconds, cpu, otherLoad };
}

/** One short stream each way: the bench must measure correct streams, not fast errors. */
async function checkStreams(directUrl: string, gatewayUrl: string, auth: string): Promise<void> {
  const body = (extra: Record<string, unknown>): string =>
    JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'Count slowly.' }], max_tokens: 3, stream: true, ...extra });
  const get = async (url: string, b: string, withAuth: boolean): Promise<{ status: number; text: string }> => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(withAuth ? { authorization: `Bearer ${auth}` } : {}) },
      body: b,
      signal: AbortSignal.timeout(30_000),
    });
    return { status: res.status, text: await res.text() };
  };
  for (const [what, url, withAuth] of [
    ['direct', directUrl, false],
    ['gateway', gatewayUrl, true],
  ] as const) {
    const r = await get(url, body({}), withAuth);
    const marks = r.text.split(MARK).length - 1;
    if (r.status !== 200 || marks !== 3 || !r.text.includes(DONE)) {
      throw new BenchError(`${what} check: expected 200 with 3 timed chunks and [DONE], got ${r.status} with ${marks}: ${r.text.slice(0, 400)}`);
    }
    if (r.text.includes('"usage"')) throw new BenchError(`${what} check: a usage chunk reached a client that did not ask for it`);
  }
  const u = await get(gatewayUrl, body({ stream_options: { include_usage: true } }), true);
  if (!u.text.includes('"usage"')) throw new BenchError('gateway check: include_usage was asked for but no usage chunk came back');
}

async function upstreamStats(port: number): Promise<Record<string, number>> {
  const res = await fetch(`http://${HOST}:${port}/stats`, { signal: AbortSignal.timeout(5000) });
  return (await res.json()) as Record<string, number>;
}

async function runOrchestrator(argv: string[]): Promise<void> {
  // `npm run bench -- --streams` may pass --streams on its own (as the bench selector): then it takes the default.
  const args = argv.filter((a) => a !== '--' && a !== '--slow-streams');
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--streams' && (i + 1 >= args.length || args[i + 1].startsWith('--'))) args.splice(i--, 1);
  }
  const { values: opts } = parseOptions({
    args,
    options: {
      streams: { type: 'string' },
      seconds: { type: 'string' },
      'interval-ms': { type: 'string' },
      'direct-streams': { type: 'string' },
      'floor-streams': { type: 'string' },
      'ramp-seconds': { type: 'string' },
      out: { type: 'string' },
      'gateway-node-flags': { type: 'string' },
      'gateway-log': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (opts.help) {
    printDocComment(import.meta.url);
    return;
  }
  const streams = numberOption(opts.streams, 5000, '--streams', { integer: true, min: 1, max: 15_000 });
  const seconds = numberOption(opts.seconds, 30, '--seconds', { min: 0.5, max: 600 });
  const intervalMs = numberOption(opts['interval-ms'], 100, '--interval-ms', { min: 1, max: 60_000 });
  const directStreams = numberOption(opts['direct-streams'], streams, '--direct-streams', { integer: true, min: 0, max: 15_000 });
  const floorStreams = numberOption(opts['floor-streams'], streams, '--floor-streams', { integer: true, min: 0, max: 15_000 });
  const rampSeconds = numberOption(opts['ramp-seconds'], Math.min(10, Math.max(1, streams / 1000)), '--ramp-seconds', { min: 0, max: 120 });
  const chunks = Math.max(1, Math.round((seconds * 1000) / intervalMs));
  if (seconds * 1000 < intervalMs) throw new BenchError('--seconds must be at least one interval');
  // Each process holds one fd per stream, the gateway two.
  const limit = openFilesLimit();
  if (limit < 2 * Math.max(streams, directStreams) + 500) {
    throw new BenchError(`the open-files limit is ${limit}; ${streams} streams need about ${2 * streams + 500} in the gateway: raise it (ulimit -n ${2 * streams + 1000})`);
  }
  const deadlineFor = (ramp: number, n: number): number => Math.ceil(ramp * 1000 + n * intervalMs * 1.25 + intervalMs + 20_000);

  const dir = makeTempDir('switchyard-slow-streams-');
  pinSelf(CLIENT_CPU);
  if (!PIN) log('bench: taskset not available (or fewer than 2 CPUs): processes are NOT pinned');

  const upstream = await startListener(CLIENT_CPU, SELF, ['--role', 'upstream', '--seconds', String(seconds), '--interval-ms', String(intervalMs)], 'slow upstream');
  const directUrl = `http://${HOST}:${upstream.port}/v1/chat/completions`;
  const gateway = await startGateway({
    dir,
    cpu: SERVER_CPU,
    // The pool to the upstream must hold every stream at once (the default is 256 connections).
    upstreams: [
      `{ name: slow, type: openai, base_url: http://${HOST}:${upstream.port}/v1, api_key: sk-upstream, models: [${MODEL}], max_connections: ${Math.max(256, streams + 64)} }`,
    ],
    models: [`${MODEL}: { input_price: 0.15, output_price: 0.6 }`],
    nodeFlags: opts['gateway-node-flags']?.split(/\s+/).filter(Boolean),
  });
  const gatewayUrl = `${gateway.base}/v1/chat/completions`;
  const key = await createKey(gateway.base, 'bench-slow-streams');
  await checkStreams(directUrl, gatewayUrl, key);
  const pids = { gateway: gateway.pid, upstream: upstream.pid };
  const quietPids = { server: () => [gateway.pid], client: () => [upstream.pid] };
  log(
    `bench: slow streams: ${streams} streams x ${chunks} chunks every ${intervalMs} ms (${seconds} s), ramp ${rampSeconds} s; ` +
      `${PIN ? `gateway on CPU ${SERVER_CPU}, slow upstream + client + bench on CPU ${CLIENT_CPU}` : 'unpinned'}`,
  );

  // Warm-up: V8 compiles the gateway's (and upstream's) hot paths before the measured runs.
  const warmN = Math.min(streams, 200);
  const warmChunks = Math.min(chunks, 10);
  const warm = await runClientChild(
    { label: 'warm-up', url: gatewayUrl, auth: key, streams: warmN, chunks: warmChunks, maxTokens: warmChunks, rampMs: 200, deadlineMs: deadlineFor(0.2, warmChunks), intervalMs },
    pids,
  );
  log(`  warm-up: ${warm.result.completed}/${warmN} streams of ${warmChunks} chunks through the gateway, p99 delay ${fmt(warm.result.delayMs.p99, 2)} ms`);
  if (warm.result.completed !== warmN) log(`  warm-up failures: ${JSON.stringify(warm.result.failures)}`);

  let direct: RunOutcome | undefined;
  if (directStreams > 0) {
    const ramp = Math.min(rampSeconds, (rampSeconds * directStreams) / streams);
    await waitQuiet(quietPids);
    log(`  direct run: ${directStreams} streams ...`);
    direct = await runClientChild(
      { label: 'direct', url: directUrl, auth: undefined, streams: directStreams, chunks, maxTokens: chunks + 16, rampMs: ramp * 1000, deadlineMs: deadlineFor(ramp, chunks), intervalMs },
      pids,
    );
    log(`  direct: ${direct.result.completed}/${directStreams} completed, p50 ${fmt(direct.result.delayMs.p50, 3)} ms, p99 ${fmt(direct.result.delayMs.p99, 3)} ms`);
    // Let the upstream's idle keep-alive connections (4 s) from the warm-up and direct runs close.
    await sleep(5000);
  }

  await waitQuiet(quietPids);
  const fdsBefore = fdCount(gateway.pid);
  const rssBefore = rssMiB(gateway.pid);
  log(`  gateway run: ${streams} streams ...`);
  const sampler = sampleGateway(gateway.pid);
  // Stalls count only while every stream is open: the main thread must run every few ms then.
  const phase: ClientPhase = { steady: false, ending: false };
  const watch = watchMainThread(gateway.pid, () => phase.steady && !phase.ending);
  let via: RunOutcome;
  let sampled: Sampled;
  let mainThread: ThreadWatchFigures;
  try {
    via = await runClientChild(
      { label: 'gateway', url: gatewayUrl, auth: key, streams, chunks, maxTokens: chunks + 16, rampMs: rampSeconds * 1000, deadlineMs: deadlineFor(rampSeconds, chunks), intervalMs },
      pids,
      phase,
    );
  } finally {
    sampled = sampler.stop();
    mainThread = watch.stop();
  }
  log(`  gateway: ${via.result.completed}/${streams} completed, p50 ${fmt(via.result.delayMs.p50, 3)} ms, p99 ${fmt(via.result.delayMs.p99, 3)} ms`);
  // What is left once every stream is over and idle keep-alive connections (4 s) have closed: a leak shows here.
  await sleep(6000);
  if (gateway.crashed()) throw new BenchError('the gateway exited during the run');
  const fdsAfter = fdCount(gateway.pid);
  const rssAfter = rssMiB(gateway.pid);
  const upStats = await upstreamStats(upstream.port);
  const usage = await usageRequests(gateway.base, key);
  const usageExpected = 2 + warmN + streams; // two checks through the gateway, warm-up, measured run
  await gateway.stop();

  // The same load through the bare dispatch-handler relay on the same CPU: what this host allows a relay at all.
  let floor: RunOutcome | undefined;
  if (floorStreams > 0) {
    const relay = await startListener(SERVER_CPU, FLOOR_SCRIPT, ['--upstream', `http://${HOST}:${upstream.port}`, '--connections', String(floorStreams + 64)], 'floor relay');
    try {
      const ramp = Math.min(rampSeconds, (rampSeconds * floorStreams) / streams);
      const floorUrl = `http://${HOST}:${relay.port}/v1/chat/completions`;
      // The same warm-up the gateway had, so the floor's CPU per chunk is of compiled code too.
      await runClientChild(
        { label: 'floor warm-up', url: floorUrl, auth: undefined, streams: warmN, chunks: warmChunks, maxTokens: warmChunks, rampMs: 200, deadlineMs: deadlineFor(0.2, warmChunks), intervalMs },
        { gateway: relay.pid, upstream: upstream.pid },
      );
      await sleep(5000);
      await waitQuiet({ server: () => [relay.pid], client: () => [upstream.pid] });
      log(`  floor run: ${floorStreams} streams through bench/floor-dispatch.ts ...`);
      floor = await runClientChild(
        { label: 'floor', url: floorUrl, auth: undefined, streams: floorStreams, chunks, maxTokens: chunks + 16, rampMs: ramp * 1000, deadlineMs: deadlineFor(ramp, chunks), intervalMs },
        { gateway: relay.pid, upstream: upstream.pid },
      );
      log(`  floor: ${floor.result.completed}/${floorStreams} completed, p50 ${fmt(floor.result.delayMs.p50, 3)} ms, p99 ${fmt(floor.result.delayMs.p99, 3)} ms`);
    } finally {
      await stopChild(relay.child);
    }
  }
  await stopChild(upstream.child);

  // ------------------------------------------------------------ report
  const g = via.result;
  const d = direct?.result;
  type Pk = 'p50' | 'p90' | 'p99' | 'max';
  const addedAll = (k: Pk): number => (d ? g.delayMs[k] - d.delayMs[k] : NaN);
  const added = (k: Pk): number => (d ? g.steadyDelayMs[k] - d.steadyDelayMs[k] : NaN);
  const peakMB = (sampled.peakRssMiB * 1024 * 1024) / 1e6;
  const cpu1 = (o: RunOutcome): number => (o.cpu.upstream + o.cpu.client + o.cpu.orchestrator) / o.wallSeconds;
  const out: string[] = [];
  out.push('');
  out.push(
    `Switchyard slow streams — ${streams} streams x ${seconds} s, one chunk every ${intervalMs} ms (${chunks} chunks a stream), ramp ${fmt(rampSeconds, 1)} s; ` +
      `${PIN ? `gateway on CPU ${SERVER_CPU}, slow upstream + client + bench on CPU ${CLIENT_CPU}` : 'unpinned'}; ${machineLine()}`,
  );
  out.push('');
  out.push(
    table(
      ['path', 'streams', 'started', 'answered', 'completed', 'failed', 'chunks received / expected', 'chunks > 5 ms', 'other load CPU0 / CPU1'],
      [...(direct ? [['direct', direct] as const] : []), ['gateway', via] as const, ...(floor ? [['floor', floor] as const] : [])].map(([label, o]) => [
        label,
        String(o.result.streams),
        String(o.result.started),
        String(o.result.responded),
        String(o.result.completed),
        String(o.result.failed),
        `${o.result.chunksReceived} / ${o.result.chunksExpected}`,
        String(o.result.over5ms),
        `${pct(o.otherLoad[0])} / ${pct(o.otherLoad[1])}`,
      ]),
      1,
    ),
  );
  out.push('');
  const delayRow = (label: string, which: string, p: Percentiles): string[] => [label, which, String(p.count), fmt(p.min, 3), fmt(p.p50, 3), fmt(p.p90, 3), fmt(p.p99, 3), fmt(p.p999, 3), fmt(p.max, 3)];
  const rows: string[][] = [];
  const f = floor?.result;
  for (const [label, r] of [['direct', d], ['gateway', g], ['floor', f]] as const) {
    if (!r) continue;
    rows.push(delayRow(label, 'steady', r.steadyDelayMs), delayRow(label, 'all', r.delayMs));
  }
  if (d) {
    for (const [label, r] of [['gateway', g], ['floor', f]] as const) {
      if (!r) continue;
      const diff = (k: 'steadyDelayMs' | 'delayMs', q: keyof Percentiles): string => fmt(r[k][q] - d[k][q], 3);
      for (const [which, k] of [['steady', 'steadyDelayMs'], ['all', 'delayMs']] as const) {
        rows.push([`added (${label} − direct)`, which, '', diff(k, 'min'), diff(k, 'p50'), diff(k, 'p90'), diff(k, 'p99'), diff(k, 'p999'), diff(k, 'max')]);
      }
    }
  }
  out.push('Delay from the upstream writing a chunk to the client receiving it (ms); "steady": chunks received once every stream was open (2 intervals after the ramp), "all": every chunk');
  out.push(table(['path', 'chunks', 'n', 'min', 'p50', 'p90', 'p99', 'p99.9', 'max'], rows, 2));
  out.push('');
  if (d && d.streams !== g.streams) out.push(`(the direct run had ${d.streams} streams, the gateway run ${g.streams}: CPU ${CLIENT_CPU} was less loaded during the direct run)`);
  out.push(
    `Gateway: peak RSS ${fmt(peakMB, 1)} MB (${fmt(sampled.peakRssMiB, 1)} MiB; ${fmt(rssBefore, 1)} MiB before the run, ${fmt(rssAfter, 1)} MiB 6 s after), ` +
      `CPU ${fmt(via.cpu.gateway, 2)} s over ${fmt(via.wallSeconds, 1)} s (${fmt((via.cpu.gateway / via.wallSeconds) * 100, 0)} % of CPU ${SERVER_CPU}), ` +
      `open fds: ${fdsBefore} before, ${sampled.peakFds} at peak, ${fdsAfter} 6 s after`,
  );
  /** The relay's CPU µs per chunk the client received (`cpu.gateway` is whichever relay the run went through). */
  const perChunkUs = (o: RunOutcome): number => (o.cpu.gateway * 1e6) / Math.max(1, o.result.chunksReceived);
  out.push(
    `Relay CPU per chunk received by the client: gateway ${fmt(perChunkUs(via), 1)} µs` +
      (floor
        ? `, floor ${fmt(perChunkUs(floor), 1)} µs (${fmt((floor.cpu.gateway / floor.wallSeconds) * 100, 0)} % of CPU ${SERVER_CPU}; ${fmt(perChunkUs(via) / perChunkUs(floor), 2)}x)`
        : ''),
  );
  out.push(`Gateway main thread during the run (every 100 ms; stalls counted while all streams were open): ${describeWatch(mainThread)}`);
  out.push(
    `CPU ${CLIENT_CPU} (upstream + client + bench): ${direct ? `direct run ${fmt(cpu1(direct) * 100, 0)} %, ` : ''}gateway run ${fmt(cpu1(via) * 100, 0)} % busy ` +
      `(upstream ${fmt(via.cpu.upstream, 1)} s, client ${fmt(via.cpu.client, 1)} s); ` +
      `the longest /proc/<pid>/fd count took ${fmt(sampled.fdReadMaxMs, 1)} ms`,
  );
  out.push(
    `Upstream: ${JSON.stringify(upStats)}; usage records for the bench key: ${usage} (expected ${usageExpected}: 2 checks + ${warmN} warm-up + ${streams}; ` +
      `${2 + warm.result.responded + g.responded} of them got response headers, so the gateway certainly received them)`,
  );
  if (g.retried) out.push(`Streams the gateway retried upstream: ${g.retried}`);
  for (const [label, r] of [['direct', d], ['gateway', g], ['floor', f]] as const) {
    if (r && r.failed > 0) out.push(`${label} failures: ${Object.entries(r.failures).map(([k, v]) => `${v}× ${k}`).join('; ')}`);
  }
  for (const [label, r] of [['direct', d], ['gateway', g], ['floor', f]] as const) {
    if (r) out.push(`p99 delay per second, ${label} (ms): ${r.perSecond.map((p) => (p.chunks ? fmt(p.p99, 1) : '-')).join(' ')}`);
  }
  out.push(summariseLog(gateway.logPath));
  if (opts['gateway-log']) copyFileSync(gateway.logPath, resolve(opts['gateway-log']));
  const noisy = [direct, via].filter((o): o is RunOutcome => o !== undefined && Math.max(...o.otherLoad) > 0.05);
  if (noisy.length) out.push(`WARNING: other programs used more than 5 % of a CPU during ${noisy.length} run(s) (see "other load"): those delays are disturbed.`);
  if (cpu1(via) > 0.9) out.push(`WARNING: CPU ${CLIENT_CPU} was ${fmt(cpu1(via) * 100, 0)} % busy: the client's own queueing is in every figure (direct too).`);
  out.push('');

  const allDone = g.completed === streams && g.failed === 0 && g.chunksReceived === g.chunksExpected;
  const verdicts = [
    { target: 'every stream completes', met: allDone, measured: `${g.completed}/${streams} completed, ${g.failed} failed, ${g.chunksReceived}/${g.chunksExpected} chunks` },
    { target: `gateway RSS < ${TARGETS.rssMB} MB`, met: peakMB < TARGETS.rssMB, measured: `peak ${fmt(peakMB, 1)} MB` },
    {
      target: `gateway-added delay p99 < ${TARGETS.addedP99Ms} ms (steady state)`,
      met: d !== undefined && added('p99') < TARGETS.addedP99Ms,
      measured: d
        ? `${fmt(g.steadyDelayMs.p99, 3)} − ${fmt(d.steadyDelayMs.p99, 3)} = ${fmt(added('p99'), 3)} ms (all chunks: ${fmt(addedAll('p99'), 3)} ms)`
        : 'no direct run (--direct-streams 0)',
    },
  ];
  for (const v of verdicts) out.push(verdictLine(v.met, v.target, v.measured));
  if (f) {
    const floorDone = f.completed === floorStreams && f.failed === 0;
    out.push(
      `(the floor relay under the same load: ${f.completed}/${floorStreams} completed, added p99 ${d ? `${fmt(f.steadyDelayMs.p99 - d.steadyDelayMs.p99, 3)} ms` : '-'}` +
        `${floorDone ? '' : ': not even a bare relay completes every stream on this host'})`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);

  if (opts.out) {
    const json = {
      bench: 'slow-streams',
      node: process.version,
      pinned: PIN,
      placement: PIN ? { gateway: SERVER_CPU, upstream: CLIENT_CPU, client: CLIENT_CPU, bench: CLIENT_CPU } : null,
      streams,
      seconds,
      intervalMs,
      chunksPerStream: chunks,
      rampSeconds,
      direct: direct ?? null,
      gateway: via,
      floor: floor ?? null,
      addedDelayMs: d
        ? {
            steady: { p50: added('p50'), p90: added('p90'), p99: added('p99'), max: added('max') },
            all: { p50: addedAll('p50'), p90: addedAll('p90'), p99: addedAll('p99'), max: addedAll('max') },
          }
        : null,
      gatewayProcess: { peakRssMiB: sampled.peakRssMiB, peakRssMB: peakMB, rssBeforeMiB: rssBefore, rssAfterMiB: rssAfter, fdsBefore, peakFds: sampled.peakFds, fdsAfter, cpuSeconds: via.cpu.gateway },
      gatewayMainThread: mainThread,
      upstream: upStats,
      usageRecords: usage,
      usageExpected,
      verdicts,
    };
    writeFileSync(resolve(opts.out), `${JSON.stringify(json, null, 2)}\n`);
  }
}

// ================================================================ entry

const argv = process.argv.slice(2);
const role = argv[argv.indexOf('--role') + 1];
if (argv.includes('--role') && role === 'upstream') runUpstream(argv);
else if (argv.includes('--role') && role === 'client') {
  runClient(argv).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`client: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
} else runMain(() => runOrchestrator(argv));
