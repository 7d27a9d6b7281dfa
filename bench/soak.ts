/**
 * Soak: a steady share (default 70 %) of the gateway's maximum rate for
 * --minutes, mixed stream and non-stream, same-format and cross-format. Targets:
 * RSS and open file descriptors flat after warm-up (growth under 10 %), zero
 * errors, and every completed request in the usage log.
 *
 * Usage: node --import tsx bench/soak.ts [--minutes 10] [--rate-share 0.7] [--out FILE]
 *
 *   --minutes M        length of the steady run (default 10; fractions allowed)
 *   --rate-share S     share of the measured maximum rate to run at (default 0.7)
 *   --connections N    connections of the load generator (default 64)
 *   --out FILE         also write the results (with the 5 s series) as JSON
 *   --gateway-log FILE keep a copy of the gateway's log (warn and above)
 *   --gateway-node-flags=FLAGS  extra node flags for the gateway (space-separated),
 *                      e.g. --gateway-node-flags=--trace-gc: GC pauses are then
 *                      summarised from its log; for diagnosis
 *
 * Processes: the gateway (node dist/cli.js serve, built first, temp config, SQLite,
 * log level warn) on CPU 0; bench/mock-upstream.ts (OpenAI) and this process,
 * which is the load generator, on CPU 1 (taskset).
 *
 * Mix, in equal shares and interleaved (request i is kind i mod 4):
 *   - OpenAI chat completion, non-stream  (POST /v1/chat/completions)
 *   - OpenAI chat completion, stream      (20 content chunks)
 *   - Anthropic Messages, non-stream      (POST /v1/messages, x-api-key, anthropic-version:
 *     2023-06-01) to the model the OpenAI mock serves: the gateway converts both ways
 *   - Anthropic Messages, stream          (cross-format too)
 * Every answer is checked (status 200 and a complete body: choices, [DONE],
 * a message, message_stop); anything else counts as an error, as do resets and
 * requests not answered within 30 s.
 *
 * 1. Maximum rate: closed loop, one worker per connection (default 64), 3 s
 *    warm-up then 10 s measured; max = completed requests / second.
 * 2. Steady run: open loop at rate-share x max. A scheduler on a 1 ms timer
 *    issues request i at start + i/rate whatever happened to earlier ones (no
 *    coordinated omission: latency is measured from the scheduled time, and also
 *    from the actual send). A request sent more than 10 ms after its slot counts
 *    as late; one that would exceed 4,096 in flight is dropped (not sent) and
 *    counted. Requests go round-robin to the least busy of the fixed connections,
 *    so the generator's connection count (and the gateway's sockets for it) is
 *    constant. The generator is a small undici-based one (raw dispatch handler)
 *    rather than autocannon: autocannon's overallRate throttles closed-loop
 *    connections, cannot say how many requests missed their slot, and does not
 *    check stream bodies.
 *
 * Every 5 s: gateway RSS (/proc/<pid>/status VmRSS), open fds (/proc/<pid>/fd,
 * by kind), its CPU, and the window's rate, errors and latency. Warm-up is the
 * first 20 % of the run (at least 30 s, at most half the run). Growth % is given
 * from single samples (the one at the end of warm-up and the last one) and from
 * the medians of a window of samples ending at those two points (10 % of the run,
 * 15 to 60 s); the targets are judged on the medians, because RSS follows V8's
 * GC sawtooth (±10-20 % between two 5 s samples at a steady load), which single
 * samples turn into noise, while a leak moves the median. At the
 * end, after in-flight requests finish and 1 s for the usage recorder, GET
 * /v1/usage with the soak's own key (the calibration uses another) gives
 * totals.requests, compared with the requests that completed.
 *
 * Exit code 0 when the measurement was made (even if targets fail); 1 when the
 * bench itself broke. Everything listens on 127.0.0.1; every phase is bounded in
 * time; child processes are stopped on exit, error and SIGINT.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Client, type Dispatcher } from 'undici';
import {
  BenchError,
  CLIENT_CPU,
  HOST,
  PIN,
  ROOT,
  SERVER_CPU,
  Samples,
  createKey,
  describeWatch,
  fdBreakdown,
  fmt,
  log,
  machineLine,
  makeTempDir,
  numberOption,
  otherLoadMeter,
  pct,
  percentiles,
  pinSelf,
  printDocComment,
  rssMiB,
  runMain,
  sleep,
  startGateway,
  startListener,
  stopChild,
  summariseLog,
  table,
  tryCpuSeconds,
  usageRequests,
  verdictLine,
  waitQuiet,
  watchMainThread,
  type FdBreakdown,
  type ThreadWatchFigures,
  type Percentiles,
} from './bench-lib.ts';

const MODEL = 'bench-model';
const KINDS = ['openai', 'openai-stream', 'anthropic-x', 'anthropic-x-stream'] as const;
type Kind = (typeof KINDS)[number];
const KIND_LABEL: Record<Kind, string> = {
  openai: 'OpenAI non-stream',
  'openai-stream': 'OpenAI stream',
  'anthropic-x': 'Anthropic non-stream (cross-format)',
  'anthropic-x-stream': 'Anthropic stream (cross-format)',
};
const REQUEST_TIMEOUT_MS = 30_000;
const LATE_MS = 10;
const MAX_IN_FLIGHT = 4096;
const SAMPLE_MS = 5000;
const CALIBRATE_WARMUP_S = 3;
const CALIBRATE_S = 10;
const TARGETS = { growthPct: 10 };

// ---------------------------------------------------------------- requests

interface RequestSpec {
  path: string;
  headers: Record<string, string>;
  body: string;
}

function requestFor(kind: Kind, key: string): RequestSpec {
  const stream = kind.endsWith('stream');
  if (kind.startsWith('openai')) {
    return {
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({
        model: MODEL,
        messages: [
          { role: 'system', content: 'You are a helpful assistant.' },
          { role: 'user', content: 'Say hello in one short sentence.' },
        ],
        max_tokens: 64,
        ...(stream ? { stream: true } : {}),
      }),
    };
  }
  return {
    path: '/v1/messages',
    headers: { 'content-type': 'application/json', 'x-api-key': key, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({
      model: MODEL,
      max_tokens: 64,
      system: 'You are a helpful assistant.',
      messages: [{ role: 'user', content: 'Say hello in one short sentence.' }],
      ...(stream ? { stream: true } : {}),
    }),
  };
}

/** Why an answer is not a complete, correct one (undefined: it is). */
function invalid(kind: Kind, status: number, body: string): string | undefined {
  if (status !== 200) return `HTTP ${status}`;
  try {
    switch (kind) {
      case 'openai': {
        const j = JSON.parse(body) as { choices?: Array<{ message?: { content?: unknown } }> };
        return typeof j.choices?.[0]?.message?.content === 'string' ? undefined : 'no choices[0].message.content';
      }
      case 'openai-stream':
        if (!body.endsWith('data: [DONE]\n\n')) return 'stream without data: [DONE] at its end';
        return body.includes('"finish_reason":"stop"') ? undefined : 'stream without a finish chunk';
      case 'anthropic-x': {
        const j = JSON.parse(body) as { type?: unknown; content?: Array<{ type?: unknown; text?: unknown }> };
        return j.type === 'message' && typeof j.content?.[0]?.text === 'string' ? undefined : 'not a message with text content';
      }
      case 'anthropic-x-stream':
        if (!body.includes('event: message_start')) return 'stream without message_start';
        return body.includes('event: message_stop') ? undefined : 'stream without message_stop';
    }
  } catch {
    return 'body is not JSON';
  }
}

// ---------------------------------------------------------------- load generator

interface Result {
  kind: Kind;
  ok: boolean;
  reason: string | undefined;
  /** Response body start, for the first error of each reason. */
  detail: string;
  /** ms from the actual send to the end of the answer. */
  serviceMs: number;
}

/** Collects one answer through undici's dispatch(): no Readable, no promise per chunk. */
class Exchange implements Dispatcher.DispatchHandler {
  status = 0;
  private parts: Buffer[] = [];
  private controller: Dispatcher.DispatchController | undefined;
  private settled = false;
  readonly sentAt = performance.now();

  constructor(
    private readonly kind: Kind,
    private readonly done: (r: Result) => void,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number): void {
    this.status = statusCode;
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    this.parts.push(chunk);
  }

  onResponseEnd(): void {
    const body = this.parts.length === 1 ? this.parts[0].toString('utf8') : Buffer.concat(this.parts).toString('utf8');
    const reason = invalid(this.kind, this.status, body);
    this.finish(reason === undefined, reason, reason ? body.slice(0, 200) : '');
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    const code = (err as { code?: string }).code;
    const reason = err.message === 'timeout' ? `timeout (${REQUEST_TIMEOUT_MS / 1000} s)` : /RESET|SOCKET|EPIPE|closed/i.test(`${code} ${err.message}`) ? `reset (${code ?? err.message})` : `error (${code ?? err.message})`;
    this.finish(false, reason, err.message.slice(0, 200));
  }

  abort(reason: string): void {
    this.controller?.abort(new Error(reason));
  }

  private finish(ok: boolean, reason: string | undefined, detail: string): void {
    if (this.settled) return;
    this.settled = true;
    this.done({ kind: this.kind, ok, reason, detail, serviceMs: performance.now() - this.sentAt });
  }
}

class Generator {
  readonly conns: Array<{ client: Client; inFlight: number }>;
  private next = 0;
  private readonly live = new Set<Exchange>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(origin: string, connections: number) {
    this.conns = Array.from({ length: connections }, () => ({
      client: new Client(origin, { pipelining: 1, headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 600_000, connect: { timeout: 10_000 } }),
      inFlight: 0,
    }));
    // One timer for every request's timeout.
    this.sweeper = setInterval(() => {
      const cutoff = performance.now() - REQUEST_TIMEOUT_MS;
      for (const ex of this.live) if (ex.sentAt < cutoff) ex.abort('timeout');
    }, 1000);
    this.sweeper.unref();
  }

  get inFlight(): number {
    return this.live.size;
  }

  /** Sends on connection `conn` (or on the least busy one, round-robin among idle ones). */
  send(spec: RequestSpec, kind: Kind, conn?: number): Promise<Result> {
    const c = conn === undefined ? this.pick() : this.conns[conn];
    c.inFlight++;
    return new Promise((resolvePromise) => {
      const ex = new Exchange(kind, (r) => {
        c.inFlight--;
        this.live.delete(ex);
        resolvePromise(r);
      });
      this.live.add(ex);
      c.client.dispatch({ path: spec.path, method: 'POST', headers: spec.headers, body: spec.body }, ex);
    });
  }

  private pick(): { client: Client; inFlight: number } {
    const n = this.conns.length;
    let best = this.conns[this.next % n];
    for (let i = 0; i < n; i++) {
      const c = this.conns[(this.next + i) % n];
      if (c.inFlight === 0) {
        best = c;
        break;
      }
      if (c.inFlight < best.inFlight) best = c;
    }
    this.next = (this.next + 1) % n;
    return best;
  }

  private closed = false;

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    await Promise.all(this.conns.map((c) => c.client.destroy().catch(() => undefined)));
  }
}

/** Counts results by kind and reason, with latencies. */
class Tally {
  completed = 0;
  errors = 0;
  readonly byKind = new Map<Kind, { sent: number; completed: number; errors: number; latency: Samples; service: Samples }>();
  readonly reasons = new Map<string, { n: number; example: string }>();

  constructor() {
    for (const k of KINDS) this.byKind.set(k, { sent: 0, completed: 0, errors: 0, latency: new Samples(), service: new Samples() });
  }

  sent(kind: Kind): void {
    (this.byKind.get(kind) as { sent: number }).sent++;
  }

  add(r: Result, latencyMs: number): void {
    const k = this.byKind.get(r.kind);
    if (!k) return;
    if (r.ok) {
      this.completed++;
      k.completed++;
      k.latency.push(latencyMs);
      k.service.push(r.serviceMs);
    } else {
      this.errors++;
      k.errors++;
      const key = `${KIND_LABEL[r.kind]}: ${r.reason ?? 'error'}`;
      const e = this.reasons.get(key) ?? { n: 0, example: r.detail };
      e.n++;
      this.reasons.set(key, e);
    }
  }
}

// ---------------------------------------------------------------- phases

async function checkKinds(gen: Generator, key: string): Promise<void> {
  for (const kind of KINDS) {
    const r = await gen.send(requestFor(kind, key), kind, 0);
    if (!r.ok) throw new BenchError(`check of ${KIND_LABEL[kind]} through the gateway failed: ${r.reason}: ${r.detail}`);
  }
}

/** Closed loop, one worker per connection, for `seconds`; returns completed requests per second. */
async function closedLoop(gen: Generator, key: string, seconds: number): Promise<{ rate: number; completed: number; errors: number; tally: Tally }> {
  const tally = new Tally();
  const specs = KINDS.map((k) => requestFor(k, key));
  let i = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    gen.conns.map(async (_c, w) => {
      while (performance.now() < end) {
        const n = i++ % KINDS.length;
        const started = performance.now();
        const r = await gen.send(specs[n], KINDS[n], w);
        tally.add(r, performance.now() - started);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  return { rate: tally.completed / elapsed, completed: tally.completed, errors: tally.errors, tally };
}

interface Sample {
  /** Seconds since the steady run started. */
  t: number;
  rssMiB: number;
  fds: FdBreakdown;
  /** Gateway CPU over the window, share of a core. */
  gatewayCpu: number;
  /** Window figures. */
  sent: number;
  completed: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  inFlight: number;
  /** The gateway's main thread over the window: ms run, ms waiting for a CPU, stalled 100 ms ticks, ticks in disk wait. */
  main: { runMs: number; waitMs: number; stalledTicks: number; diskTicks: number };
}

interface SteadyResult {
  rate: number;
  seconds: number;
  scheduled: number;
  sent: number;
  dropped: number;
  late: number;
  lag: Percentiles;
  tally: Tally;
  samples: Sample[];
  drainedInSeconds: number;
  stillInFlight: number;
  otherLoad: [number, number];
  cpu: { gateway: number; mock: number; generator: number };
  mainThread: ThreadWatchFigures;
}

async function steadyRun(gen: Generator, key: string, rate: number, seconds: number, gatewayPid: number, mockPid: number): Promise<SteadyResult> {
  const tally = new Tally();
  const specs = KINDS.map((k) => requestFor(k, key));
  const total = Math.floor(rate * seconds);
  const lag = new Samples();
  const windowLatency = new Samples();
  let sent = 0;
  let dropped = 0;
  let late = 0;
  let issued = 0;
  let wSent = 0;
  let wCompleted = 0;
  let wErrors = 0;
  const samples: Sample[] = [];
  const meter = otherLoadMeter({ server: () => [gatewayPid], client: () => [mockPid] });
  const watch = watchMainThread(gatewayPid, () => gen.inFlight > 0);
  const g0 = tryCpuSeconds(gatewayPid);
  const m0 = tryCpuSeconds(mockPid);
  const self0 = process.cpuUsage();
  const t0 = performance.now();

  let lastCpu = g0;
  let lastT = t0;
  const sample = (): void => {
    const now = performance.now();
    const cpu = tryCpuSeconds(gatewayPid);
    const sorted = windowLatency.sorted();
    const p = percentiles(sorted);
    let rss = NaN;
    let fds: FdBreakdown = { total: NaN, sockets: NaN, files: NaN, other: NaN };
    try {
      rss = rssMiB(gatewayPid);
      fds = fdBreakdown(gatewayPid);
    } catch {
      // the gateway is gone: reported by its exit handler
    }
    const w = watch.window();
    const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
    samples.push({
      main: { runMs: Math.round(w.runMs), waitMs: Math.round(w.waitMs), stalledTicks: sum(w.stalls), diskTicks: sum(w.blocked) },
      t: Math.round((now - t0) / 100) / 10,
      rssMiB: rss,
      fds,
      gatewayCpu: (cpu - lastCpu) / ((now - lastT) / 1000),
      sent: wSent,
      completed: wCompleted,
      errors: wErrors,
      p50Ms: p.p50,
      p99Ms: p.p99,
      maxMs: p.max,
      inFlight: gen.inFlight,
    });
    lastCpu = cpu;
    lastT = now;
    windowLatency.clear();
    wSent = wCompleted = wErrors = 0;
    const s = samples[samples.length - 1];
    if (samples.length % 6 === 0) {
      log(
        `  t=${fmt(s.t, 0)}s rss ${fmt(s.rssMiB, 1)} MiB, fds ${s.fds.total} (${s.fds.sockets} sockets), ${fmt(s.completed / (SAMPLE_MS / 1000), 0)} req/s, ` +
          `p99 ${fmt(s.p99Ms, 1)} ms, errors ${tally.errors}, gateway CPU ${pct(s.gatewayCpu)}, in flight ${s.inFlight}` +
          (s.main.stalledTicks ? `, main thread stalled ${s.main.stalledTicks}x100 ms` : ''),
      );
    }
  };
  const sampler = setInterval(sample, SAMPLE_MS);

  const issue = (i: number, scheduledAt: number): void => {
    const n = i % KINDS.length;
    tally.sent(KINDS[n]);
    sent++;
    wSent++;
    void gen.send(specs[n], KINDS[n]).then((r) => {
      const latency = performance.now() - scheduledAt;
      tally.add(r, latency);
      if (r.ok) {
        wCompleted++;
        windowLatency.push(latency);
      } else wErrors++;
    });
  };

  await new Promise<void>((resolvePromise) => {
    const tick = (): void => {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - t0) / 1000) * rate) + 1);
      while (issued < due) {
        const scheduledAt = t0 + (issued * 1000) / rate;
        const behind = now - scheduledAt;
        lag.push(behind);
        if (behind > LATE_MS) late++;
        if (gen.inFlight >= MAX_IN_FLIGHT) dropped++;
        else issue(issued, scheduledAt);
        issued++;
      }
      if (issued < total) setTimeout(tick, 1);
      else resolvePromise();
    };
    tick();
  });
  // Wait for the last slot's time, then take the final sample: "at the end" is the load's end.
  const endAt = t0 + seconds * 1000;
  if (performance.now() < endAt) await sleep(endAt - performance.now());
  clearInterval(sampler);
  // The final sample, unless the interval's last one was just taken.
  if (samples.length === 0 || performance.now() - lastT > 1000) sample();
  const otherLoad = meter.stop();
  const mainThread = watch.stop();
  const cpu = {
    gateway: tryCpuSeconds(gatewayPid) - g0,
    mock: tryCpuSeconds(mockPid) - m0,
    generator: (() => {
      const u = process.cpuUsage(self0);
      return (u.user + u.system) / 1e6;
    })(),
  };
  const d0 = performance.now();
  while (gen.inFlight > 0 && performance.now() - d0 < REQUEST_TIMEOUT_MS + 5000) await sleep(20);
  return {
    rate,
    seconds,
    scheduled: total,
    sent,
    dropped,
    late,
    lag: percentiles(lag.sorted()),
    tally,
    samples,
    drainedInSeconds: (performance.now() - d0) / 1000,
    stillInFlight: gen.inFlight,
    otherLoad,
    cpu,
    mainThread,
  };
}

// ---------------------------------------------------------------- main

function parseOptions<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    throw new BenchError(`${(err as Error).message} (--help lists the options)`);
  }
}

/** Least-squares slope of y over t, per minute. */
function slopePerMinute(points: Array<{ t: number; y: number }>): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mt = points.reduce((a, p) => a + p.t, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.y - my);
    den += (p.t - mt) ** 2;
  }
  return den === 0 ? NaN : (num / den) * 60;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2).filter((a) => a !== '--' && a !== '--soak');
  const { values: opts } = parseOptions({
    args: argv,
    options: {
      minutes: { type: 'string' },
      'rate-share': { type: 'string' },
      connections: { type: 'string' },
      out: { type: 'string' },
      'gateway-log': { type: 'string' },
      'gateway-node-flags': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (opts.help) {
    printDocComment(import.meta.url);
    return;
  }
  const minutes = numberOption(opts.minutes, 10, '--minutes', { min: 0.1, max: 24 * 60 });
  const share = numberOption(opts['rate-share'], 0.7, '--rate-share', { min: 0.01, max: 1 });
  const connections = numberOption(opts.connections, 64, '--connections', { integer: true, min: 1, max: 1024 });
  const seconds = minutes * 60;
  const warmupSeconds = Math.min(seconds / 2, Math.max(0.2 * seconds, 30));

  const dir = makeTempDir('switchyard-soak-');
  pinSelf(CLIENT_CPU);
  if (!PIN) log('bench: taskset not available (or fewer than 2 CPUs): processes are NOT pinned');
  const mock = await startListener(CLIENT_CPU, join(ROOT, 'bench', 'mock-upstream.ts'), [], 'mock upstream');
  const gateway = await startGateway({
    dir,
    cpu: SERVER_CPU,
    upstreams: [`{ name: mock, type: openai, base_url: http://${HOST}:${mock.port}/v1, api_key: sk-upstream, models: [${MODEL}] }`],
    models: [`${MODEL}: { input_price: 0.15, output_price: 0.6 }`],
    nodeFlags: opts['gateway-node-flags']?.split(/\s+/).filter(Boolean),
  });
  const calibrationKey = await createKey(gateway.base, 'bench-soak-calibration');
  const soakKey = await createKey(gateway.base, 'bench-soak');
  const gen = new Generator(gateway.base, connections);
  try {
    await checkKinds(gen, calibrationKey);
    log(
      `bench: soak: ${fmt(minutes, 1)} min at ${pct(share)} of the maximum rate, mix ${KINDS.map((k) => KIND_LABEL[k]).join(' / ')}; ` +
        `${PIN ? `gateway on CPU ${SERVER_CPU}, mock upstream + load generator on CPU ${CLIENT_CPU}` : 'unpinned'}`,
    );
    const quietPids = { server: () => [gateway.pid], client: () => [mock.pid] };
    await waitQuiet(quietPids);
    await closedLoop(gen, calibrationKey, CALIBRATE_WARMUP_S);
    const calMeter = otherLoadMeter(quietPids);
    const calCpu0 = tryCpuSeconds(gateway.pid);
    const calT0 = performance.now();
    const calRun = await closedLoop(gen, calibrationKey, CALIBRATE_S);
    const calCpuSeconds = tryCpuSeconds(gateway.pid) - calCpu0;
    const cal = { ...calRun, gatewayCpuShare: calCpuSeconds / ((performance.now() - calT0) / 1000), gatewayCpuUsPerRequest: (calCpuSeconds * 1e6) / Math.max(1, calRun.completed + calRun.errors) };
    const calOther = calMeter.stop();
    log(`  maximum rate: ${fmt(cal.rate, 0)} req/s (closed loop, ${connections} connections, ${CALIBRATE_S} s, ${cal.errors} errors, other load ${pct(calOther[0])} / ${pct(calOther[1])})`);
    if (cal.completed === 0) throw new BenchError('the calibration completed no request');
    const rate = share * cal.rate;
    log(`  steady run: ${fmt(rate, 0)} req/s for ${fmt(seconds, 0)} s (warm-up ${fmt(warmupSeconds, 0)} s) ...`);
    await sleep(2000);
    const run = await steadyRun(gen, soakKey, rate, seconds, gateway.pid, mock.pid);
    await sleep(1000); // the usage recorder's flush interval (200 ms), with margin; /v1/usage flushes as well
    if (gateway.crashed()) throw new BenchError('the gateway exited during the run');
    const usage = await usageRequests(gateway.base, soakKey);
    await gen.close();
    await gateway.stop();
    await stopChild(mock.child);
    report({ minutes, share, connections, seconds, warmupSeconds, cal, calOther, run, usage, logPath: gateway.logPath, out: opts.out });
    if (opts['gateway-log']) copyFileSync(gateway.logPath, resolve(opts['gateway-log']));
  } finally {
    await gen.close();
  }
}

function report(o: {
  minutes: number;
  share: number;
  connections: number;
  seconds: number;
  warmupSeconds: number;
  cal: { rate: number; completed: number; errors: number; tally: Tally; gatewayCpuShare: number; gatewayCpuUsPerRequest: number };
  calOther: [number, number];
  run: SteadyResult;
  usage: number;
  logPath: string;
  out: string | undefined;
}): void {
  const { run } = o;
  const samples = run.samples;
  const warm = samples.find((s) => s.t >= o.warmupSeconds - 0.5) ?? samples[samples.length - 1];
  const end = samples[samples.length - 1];
  const after = samples.filter((s) => s.t >= warm.t);
  const windowSeconds = Math.max(15, Math.min(60, 0.1 * o.seconds));
  const warmWindow = samples.filter((s) => s.t <= warm.t && s.t > warm.t - windowSeconds);
  const endWindow = samples.filter((s) => s.t <= end.t && s.t > end.t - windowSeconds);
  const median = (list: Sample[], get: (s: Sample) => number): number => {
    const v = Float64Array.from(list.map(get)).sort();
    if (v.length === 0) return NaN;
    const m = v.length >> 1;
    return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
  };
  const growth = (a: number, b: number): number => ((b - a) / a) * 100;
  type Metric = { label: string; get: (s: Sample) => number; digits: number };
  const metrics: Metric[] = [
    { label: 'RSS MiB', get: (s) => s.rssMiB, digits: 1 },
    { label: 'open fds', get: (s) => s.fds.total, digits: 0 },
    { label: '  sockets', get: (s) => s.fds.sockets, digits: 0 },
    { label: '  files', get: (s) => s.fds.files, digits: 0 },
    { label: '  other (pipes, epoll, ...)', get: (s) => s.fds.other, digits: 0 },
  ];
  const resourceRows = metrics.map((m) => {
    const max = Math.max(...after.map(m.get));
    const mw = median(warmWindow, m.get);
    const me = median(endWindow, m.get);
    return [
      m.label,
      fmt(m.get(warm), m.digits),
      fmt(m.get(end), m.digits),
      fmt(max, m.digits),
      fmt(Math.max(...samples.map(m.get)), m.digits),
      fmt(growth(m.get(warm), m.get(end)), 1),
      fmt(mw, m.digits === 0 ? 1 : m.digits),
      fmt(me, m.digits === 0 ? 1 : m.digits),
      fmt(growth(mw, me), 1),
      fmt(slopePerMinute(after.map((s) => ({ t: s.t, y: m.get(s) }))), 2),
    ];
  });
  const rssGrowthSample = growth(warm.rssMiB, end.rssMiB);
  const fdGrowthSample = growth(warm.fds.total, end.fds.total);
  const rssWarmMedian = median(warmWindow, (s) => s.rssMiB);
  const rssEndMedian = median(endWindow, (s) => s.rssMiB);
  const fdWarmMedian = median(warmWindow, (s) => s.fds.total);
  const fdEndMedian = median(endWindow, (s) => s.fds.total);
  const rssGrowth = growth(rssWarmMedian, rssEndMedian);
  const fdGrowth = growth(fdWarmMedian, fdEndMedian);
  const t = run.tally;
  const completed = t.completed;

  const out: string[] = [];
  out.push('');
  out.push(
    `Switchyard soak — ${fmt(o.minutes, 1)} min at ${pct(o.share)} of the maximum rate, ${o.connections} connections; ` +
      `${PIN ? `gateway on CPU ${SERVER_CPU}, mock upstream + load generator on CPU ${CLIENT_CPU}` : 'unpinned'}; ${machineLine()}`,
  );
  out.push(`Mix: ${KINDS.map((k) => KIND_LABEL[k]).join(', ')} — equal shares, interleaved; model ${MODEL} on the OpenAI mock (the Anthropic requests are converted).`);
  out.push('');
  out.push(
    `Maximum rate: ${fmt(o.cal.rate, 0)} req/s (closed loop, ${o.connections} connections, ${CALIBRATE_S} s after ${CALIBRATE_WARMUP_S} s warm-up; ` +
      `${o.cal.completed} completed, ${o.cal.errors} errors; gateway CPU ${pct(o.cal.gatewayCpuShare)}, ${fmt(o.cal.gatewayCpuUsPerRequest, 0)} µs per request; ` +
      `other load ${pct(o.calOther[0])} / ${pct(o.calOther[1])})`,
  );
  out.push(
    `Steady run: ${fmt(run.rate, 1)} req/s for ${fmt(run.seconds, 0)} s: ${run.scheduled} scheduled, ${run.sent} sent, ${run.dropped} dropped (over ${MAX_IN_FLIGHT} in flight), ` +
      `${run.late} sent more than ${LATE_MS} ms after their slot (lag p99 ${fmt(run.lag.p99, 2)} ms, max ${fmt(run.lag.max, 1)} ms); ` +
      `${completed} completed, ${t.errors} errors${run.stillInFlight ? `, ${run.stillInFlight} still in flight after ${fmt(run.drainedInSeconds, 0)} s` : ''}`,
  );
  out.push(`Gateway main thread (every 100 ms): ${describeWatch(run.mainThread)}`);
  out.push(
    `CPU: gateway ${pct(run.cpu.gateway / run.seconds)} of CPU ${SERVER_CPU} on average, ${fmt((run.cpu.gateway * 1e6) / Math.max(1, completed + t.errors), 0)} µs per request ` +
      `(${fmt(o.cal.gatewayCpuUsPerRequest, 0)} µs in the closed-loop calibration); mock ${pct(run.cpu.mock / run.seconds)} + generator ${pct(run.cpu.generator / run.seconds)} of CPU ${CLIENT_CPU}; ` +
      `other load ${pct(run.otherLoad[0])} / ${pct(run.otherLoad[1])}`,
  );
  out.push('');
  out.push('Latency from the scheduled send time to the end of the answer (ms), steady run:');
  out.push(
    table(
      ['kind', 'sent', 'completed', 'errors', 'p50', 'p90', 'p99', 'p99.9', 'max', '> 100 ms', 'p99 from actual send'],
      KINDS.map((k) => {
        const b = t.byKind.get(k) as { sent: number; completed: number; errors: number; latency: Samples; service: Samples };
        const sorted = b.latency.sorted();
        const p = percentiles(sorted);
        let over = 0;
        for (let i = sorted.length - 1; i >= 0 && sorted[i] > 100; i--) over++;
        return [KIND_LABEL[k], String(b.sent), String(b.completed), String(b.errors), fmt(p.p50, 2), fmt(p.p90, 2), fmt(p.p99, 2), fmt(p.p999, 2), fmt(p.max, 1), String(over), fmt(percentiles(b.service.sorted()).p99, 2)];
      }),
      1,
    ),
  );
  out.push('');
  out.push(
    `Gateway resources (sampled every ${SAMPLE_MS / 1000} s; warm-up ${fmt(o.warmupSeconds, 0)} s: its last sample at t=${fmt(warm.t, 0)} s; end t=${fmt(end.t, 0)} s; ` +
      `medians over the ${fmt(windowSeconds, 0)} s ending there: ${warmWindow.length} and ${endWindow.length} samples):`,
  );
  out.push(
    table(
      ['', 'end of warm-up', 'end', 'max after warm-up', 'max overall', 'growth % (samples)', 'median warm-up end', 'median end', 'growth % (medians)', 'slope per min'],
      resourceRows,
      1,
    ),
  );
  out.push('');
  const every = Math.max(1, Math.round(30_000 / SAMPLE_MS));
  const series = samples.filter((_s, i) => i % every === every - 1 || i === samples.length - 1);
  out.push(
    `Every ${(every * SAMPLE_MS) / 1000} s: t s / RSS MiB / fds / req/s / p99 ms / errors / in flight / gateway CPU, µs per request / main-thread ms waiting for a CPU, stalled ticks — in that 5 s window`,
  );
  out.push(
    series
      .map(
        (s) =>
          `  ${fmt(s.t, 0)} / ${fmt(s.rssMiB, 1)} / ${s.fds.total} / ${fmt(s.completed / (SAMPLE_MS / 1000), 0)} / ${fmt(s.p99Ms, 1)} / ${s.errors} / ${s.inFlight} / ` +
          `${pct(s.gatewayCpu)}, ${fmt((s.gatewayCpu * (SAMPLE_MS / 1000) * 1e6) / Math.max(1, s.completed + s.errors), 0)} / ${s.main.waitMs}, ${s.main.stalledTicks}`,
      )
      .join('\n'),
  );
  if (t.reasons.size) {
    out.push('Errors:');
    for (const [k, e] of t.reasons) out.push(`  ${e.n}× ${k} — e.g. ${e.example.replace(/\s+/g, ' ').slice(0, 160)}`);
  }
  out.push(`Usage log: ${o.usage} records for the soak key; ${completed} requests completed${t.errors ? ` (+ ${t.errors} errors, which are recorded too when the gateway answered them)` : ''}`);
  out.push(summariseLog(o.logPath));
  if (Math.max(...run.otherLoad) > 0.05) out.push(`WARNING: other programs used ${pct(run.otherLoad[0])} / ${pct(run.otherLoad[1])} of CPU ${SERVER_CPU} / ${CLIENT_CPU}: latency figures are disturbed.`);
  const peakInFlight = Math.max(...samples.map((x) => x.inFlight));
  if (peakInFlight > 4 * o.connections) {
    out.push(
      `WARNING: up to ${peakInFlight} requests were in flight (the generator has ${o.connections} connections): the gateway fell behind the schedule, so latency includes queueing.`,
    );
  }
  if (run.late > run.sent * 0.001) out.push(`WARNING: ${run.late} requests left more than ${LATE_MS} ms late: the generator (CPU ${CLIENT_CPU}) could not keep to the schedule.`);
  out.push('');
  const verdicts = [
    {
      target: `RSS growth after warm-up < ${TARGETS.growthPct} % (medians)`,
      met: rssGrowth < TARGETS.growthPct,
      measured: `${fmt(rssWarmMedian, 1)} -> ${fmt(rssEndMedian, 1)} MiB = ${fmt(rssGrowth, 1)} % (single samples: ${fmt(warm.rssMiB, 1)} -> ${fmt(end.rssMiB, 1)} MiB = ${fmt(rssGrowthSample, 1)} %)`,
    },
    {
      target: `open fd growth after warm-up < ${TARGETS.growthPct} % (medians)`,
      met: fdGrowth < TARGETS.growthPct,
      measured: `${fmt(fdWarmMedian, 1)} -> ${fmt(fdEndMedian, 1)} = ${fmt(fdGrowth, 1)} % (single samples: ${warm.fds.total} -> ${end.fds.total} = ${fmt(fdGrowthSample, 1)} %)`,
    },
    { target: 'zero errors', met: t.errors === 0 && run.stillInFlight === 0, measured: `${t.errors} errors${run.stillInFlight ? `, ${run.stillInFlight} unanswered` : ''} in ${run.sent} requests` },
    { target: 'every completed request in the usage log', met: o.usage === completed, measured: `${o.usage} records, ${completed} completed` },
  ];
  for (const v of verdicts) out.push(verdictLine(v.met, v.target, v.measured));
  process.stdout.write(`${out.join('\n')}\n`);

  if (o.out) {
    const kinds = Object.fromEntries(
      KINDS.map((k) => {
        const b = t.byKind.get(k) as { sent: number; completed: number; errors: number; latency: Samples; service: Samples };
        return [k, { sent: b.sent, completed: b.completed, errors: b.errors, latencyMs: percentiles(b.latency.sorted()), serviceMs: percentiles(b.service.sorted()) }];
      }),
    );
    const json = {
      bench: 'soak',
      node: process.version,
      pinned: PIN,
      placement: PIN ? { gateway: SERVER_CPU, mock: CLIENT_CPU, generator: CLIENT_CPU } : null,
      minutes: o.minutes,
      rateShare: o.share,
      connections: o.connections,
      warmupSeconds: o.warmupSeconds,
      calibration: {
        rate: o.cal.rate,
        completed: o.cal.completed,
        errors: o.cal.errors,
        gatewayCpuShare: o.cal.gatewayCpuShare,
        gatewayCpuUsPerRequest: o.cal.gatewayCpuUsPerRequest,
        otherLoad: o.calOther,
      },
      steady: {
        rate: run.rate,
        seconds: run.seconds,
        scheduled: run.scheduled,
        sent: run.sent,
        dropped: run.dropped,
        late: run.late,
        lagMs: run.lag,
        completed,
        errors: t.errors,
        errorReasons: Object.fromEntries(t.reasons),
        kinds,
        cpuSeconds: run.cpu,
        otherLoad: run.otherLoad,
        gatewayMainThread: run.mainThread,
      },
      resources: {
        warmup: warm,
        end,
        windowSeconds,
        medians: { rssWarmupMiB: rssWarmMedian, rssEndMiB: rssEndMedian, fdsWarmup: fdWarmMedian, fdsEnd: fdEndMedian },
        rssGrowthPct: rssGrowth,
        fdGrowthPct: fdGrowth,
        rssGrowthPctSamples: rssGrowthSample,
        fdGrowthPctSamples: fdGrowthSample,
      },
      usageRecords: o.usage,
      samples,
      verdicts,
    };
    writeFileSync(resolve(o.out), `${JSON.stringify(json, null, 2)}\n`);
  }
}

runMain(main);
