/**
 * `npm run bench` — gateway vs direct: throughput, p50/p99 latency and the
 * gateway's own CPU time per request, for non-stream and stream (20 chunks)
 * chat completions at 1 and 64 connections.
 *
 * The mock upstream and the gateway share core 0 (`taskset -c 0`); the load
 * generator (wrk, or autocannon when wrk is missing) runs on core 1. CPU per
 * request is read from /proc/<pid>/stat (utime + stime, all threads) of the
 * gateway process before and after each measured run, divided by the requests
 * completed. Everything listens on 127.0.0.1 and every run is bounded in time.
 *
 * Other benches (each with --help):
 *   (npm run bench -- ...; bench/index.ts picks the bench)
 *   --streams [--streams N] [--seconds 30] [--interval-ms 100]   N (default 5000) streams open
 *                        at once against a slow upstream: completion, gateway RSS
 *                        and fds, the delay the gateway adds per chunk (bench/slow-streams.ts)
 *   --soak [--minutes 10] [--rate-share 0.7]   steady open-loop load at a share of
 *                        the measured maximum, mixed stream / non-stream / cross-format:
 *                        RSS and fd growth, errors, usage log completeness (bench/soak.ts)
 *
 * Options:
 *   --quick              short runs (about 40 s in all)
 *   --duration SEC       measured seconds per cell (default 10; quick 3)
 *   --warmup SEC         warm-up seconds before each cell (default 3; quick 1)
 *   --jit-warmup SEC     seconds of each scenario at 64 connections through the
 *                        gateway before the first cell, so V8 has optimised the
 *                        hot path (default 5; quick 2)
 *   --loader wrk|autocannon   force a load generator (default: wrk if installed)
 *   --connections 1,64,256,1024   connection counts to run (the ladder)
 *   --scenarios all      which request kinds to run: same-format non-stream,
 *                        stream (OpenAI client, OpenAI upstream), anthropic,
 *                        anthropic-stream (Anthropic to Anthropic); cross-format
 *                        openai-to-anthropic[-stream], anthropic-to-openai[-stream]
 *                        (measured through the gateway only; their target is a
 *                        ratio to the same-format scenario of the same client)
 *   --floor              also measure the bare node:http + undici.request() relay
 *                        (bench/floor-proxy.ts). The dispatch-handler floor
 *                        (bench/floor-dispatch.ts: node:http in, undici
 *                        dispatch() with a raw handler out) always runs: the
 *                        targets are ratios to it, measured in the same run
 *   --profile DIR        run the gateway under `node --cpu-prof`, write the
 *                        profile into DIR and print its top functions
 *                        (CPU figures then include the profiler's overhead)
 *   --plain-key          measure with a key without limits (default: the key has
 *                        rpm, tpm and a token quota, all far above what the run
 *                        uses, so every request reserves and settles them)
 *   --no-metrics         run the gateway with `metrics: { enabled: false }` (to measure
 *                        what the Prometheus metrics cost on the hot path)
 *   --out FILE           also write the results as JSON
 *
 * The mock does a fixed amount of work per request, so its CPU per request is a
 * gauge of how fast the (shared, virtual) host ran during that run; `relay ÷
 * mock` compares runs made while the host was faster or slower.
 *
 * Before each run the bench waits (up to 10 s) for other programs (and other
 * machines on the same host: steal time) to leave both cores idle; a run during
 * which they still used more than 5 % of either core is made once more (the
 * quieter run is kept), and the table says how much they used.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { builtGatewayEntry, fmt, freePort, hasCommand, PIN, stderrTail, stopChild, table } from './bench-lib.ts';
import { summariseCpuProfile } from './cpu-profile.ts';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const HOST = '127.0.0.1';
const ADMIN_KEY = 'sk-admin-bench';
const MODEL = 'bench-model';
const STREAM_CONTENT_CHUNKS = 20;
const SERVER_CPU = '0';
const LOADER_CPU = '1';
/** A run during which other programs used more than this share of either core is run again. */
const NOISE_LIMIT = 0.05;
const MAX_ATTEMPTS = 2;
/** Longest wait for a quiet machine before a run. */
const QUIET_WAIT_MS = 10_000;

/** Targets from the performance issue: ratios to the dispatch-handler floor relay measured in the same run (this host's speed drifts 2x between days). */
const TARGETS = {
  /** Gateway CPU per same-format request, non-stream and 20-chunk stream, ÷ the floor's. */
  cpuRatio: 1.5,
  /** Added p50 at 1 connection ÷ the floor's added p50. */
  addedP50Ratio: 1.5,
  /** Cross-format gateway CPU ÷ the same client's same-format gateway CPU. */
  crossFormatRatio: 2,
};

type Scenario =
  | 'non-stream' | 'stream' | 'anthropic' | 'anthropic-stream'
  | 'openai-to-anthropic' | 'openai-to-anthropic-stream' | 'anthropic-to-openai' | 'anthropic-to-openai-stream';
/** direct: load generator -> mock; floor: -> bare relay -> mock; gateway: -> Switchyard -> mock. */
type Path = 'direct' | 'floor' | 'dispatch' | 'gateway';
type Loader = 'wrk' | 'autocannon';

interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** CPU the load generator used (sampled every 100 ms). */
  loaderCpuUs: number;
}

interface Cell extends LoadResult {
  scenario: Scenario;
  connections: number;
  path: Path;
  /** CPU (user + sys, all threads) per completed request (µs) of the relay on the path: the gateway or the floor relay. */
  relayCpuUs: number;
  relayUserUs: number;
  relaySysUs: number;
  /** Mock upstream CPU per completed request (µs). */
  mockCpuUs: number;
  /** Share of a core that other programs on this machine used during the run, on the server CPU and the loader CPU. */
  otherLoad: [number, number];
  /** Runs made: a cell disturbed by other programs is run again. */
  attempts: number;
}

// ---------------------------------------------------------------- options

const { values: opts } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    quick: { type: 'boolean', default: false },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    'jit-warmup': { type: 'string' },
    loader: { type: 'string' },
    connections: { type: 'string', default: '1,64,256,1024' },
    scenarios: { type: 'string', default: 'all' },
    profile: { type: 'string' },
    floor: { type: 'boolean', default: false },
    out: { type: 'string' },
    'plain-key': { type: 'boolean', default: false },
    'no-metrics': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  const src = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  process.stdout.write(`${src.slice(src.indexOf('/**') + 4, src.indexOf('*/')).replace(/^ \* ?/gm, '')}\n`);
  process.exit(0);
}
const DURATION = positiveInt(opts.duration, opts.quick ? 3 : 10, '--duration');
const WARMUP = positiveInt(opts.warmup, opts.quick ? 1 : 3, '--warmup');
const JIT_WARMUP = positiveInt(opts['jit-warmup'], opts.quick ? 2 : 5, '--jit-warmup');
const CONNECTIONS = opts.connections.split(',').map((c) => positiveInt(c.trim(), 1, '--connections'));
const SCENARIO_NAMES = [
  'non-stream', 'stream', 'anthropic', 'anthropic-stream',
  'openai-to-anthropic', 'openai-to-anthropic-stream', 'anthropic-to-openai', 'anthropic-to-openai-stream',
] as const;
const SCENARIOS: Scenario[] = (opts.scenarios === 'all' ? [...SCENARIO_NAMES] : opts.scenarios.split(',')).map((s) => {
  const t = s.trim();
  if (!(SCENARIO_NAMES as readonly string[]).includes(t)) fail(`--scenarios takes "all" or some of ${SCENARIO_NAMES.join(', ')}; got "${t}"`);
  return t as Scenario;
});

function positiveInt(v: string | undefined, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0 || n > 3600) fail(`${name} wants a positive whole number, got "${v}"`);
  return n;
}

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(1);
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

// ---------------------------------------------------------------- child processes and cleanup

const children = new Set<ChildProcess>();
let tempDir: string | undefined;


/** Spawns `cmd args` pinned to one CPU (taskset execs, so the pid is the program's own); stdout piped or into a file descriptor. */
function spawnPinned(cpu: string, cmd: string, args: string[], stdout: 'pipe' | number): ChildProcess {
  const [file, argv] = PIN ? ['taskset', ['-c', cpu, cmd, ...args]] : [cmd, args];
  const child = spawn(file, argv, { cwd: ROOT, stdio: ['ignore', stdout, 'pipe'], env: childEnv() });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  // The gateway reads its config from --config only; keep stray settings of the caller's shell out.
  for (const k of ['SWITCHYARD_CONFIG', 'OPENAI_API_KEY', 'OPENAI_BASE_URL', 'SWITCHYARD_ADMIN_KEY', 'NODE_OPTIONS']) delete env[k];
  return env;
}

function killAll(signal: NodeJS.Signals): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill(signal);
  }
}

function removeTemp(): void {
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  tempDir = undefined;
}

process.on('exit', () => {
  killAll('SIGKILL');
  removeTemp();
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    log(`\nbench: ${sig}, stopping`);
    killAll('SIGTERM');
    setTimeout(() => process.exit(130), 500).unref();
  });
}



function waitForLine(child: ChildProcess, re: RegExp, timeoutMs: number, what: string, tail: () => string): Promise<RegExpExecArray> {
  return new Promise((resolvePromise, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start within ${timeoutMs} ms\n${tail()}`)), timeoutMs);
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      const m = re.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolvePromise(m);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) before it was ready\n${tail()}`));
    });
  });
}


// ---------------------------------------------------------------- /proc

const CLK_TCK = ((): number => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/** utime and stime of a process (all its threads), in microseconds. */
function cpuMicros(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: (Number(fields[14 - 3]) * 1e6) / CLK_TCK, sys: (Number(fields[15 - 3]) * 1e6) / CLK_TCK };
}

/**
 * Per CPU since boot, in microseconds: time busy (user + nice + system) plus time
 * stolen by the hypervisor for other machines (both are time our processes did not get).
 */
function coreBusyMicros(): number[] {
  const out: number[] = [];
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+) (\d+) (\d+) (\d+) \d+ \d+ \d+ \d+ (\d+)/.exec(line);
    if (m) out[Number(m[1])] = ((Number(m[2]) + Number(m[3]) + Number(m[4]) + Number(m[5])) * 1e6) / CLK_TCK;
  }
  return out;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

// ---------------------------------------------------------------- load generators

const AUTOCANNON = ((): string | undefined => {
  try {
    return createRequire(import.meta.url).resolve('autocannon/autocannon.js');
  } catch {
    return undefined;
  }
})();

function chooseLoader(): Loader {
  if (opts.loader !== undefined) {
    if (opts.loader !== 'wrk' && opts.loader !== 'autocannon') fail('--loader is wrk or autocannon');
    if (opts.loader === 'wrk' && !hasCommand('wrk')) fail('wrk is not installed (apt-get install -y wrk)');
    return opts.loader;
  }
  if (hasCommand('wrk')) return 'wrk';
  if (!AUTOCANNON) fail('neither wrk nor autocannon is available: apt-get install -y wrk, or npm install');
  log('bench: wrk not found, using autocannon (apt-get install -y wrk for a lighter load generator)');
  return 'autocannon';
}

interface LoadSpec {
  url: string;
  bodyFile: string;
  body: string;
  authorization: string | undefined;
  connections: number;
  seconds: number;
}

/** Runs a load generator to its end; also samples its CPU time (it is gone from /proc once it exits). */
function runChild(child: ChildProcess, timeoutMs: number, what: string): Promise<{ out: string; cpuUs: number }> {
  const tail = stderrTail(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  let cpuUs = 0;
  const sample = setInterval(() => {
    try {
      const c = cpuMicros(child.pid as number);
      cpuUs = c.user + c.sys;
    } catch {
      // exited between two samples
    }
  }, 100);
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      clearInterval(sample);
      if (code === 0) resolvePromise({ out, cpuUs });
      else reject(new Error(`${what} exited with ${code}\n${tail()}\n${out.slice(-2000)}`));
    });
  });
}

async function runWrk(s: LoadSpec): Promise<LoadResult> {
  const args = ['-t1', `-c${s.connections}`, `-d${s.seconds}s`, '--timeout', '5s', '-s', join(ROOT, 'bench', 'post.lua'), s.url, '--', s.bodyFile, s.authorization ?? ''];
  const { out, cpuUs } = await runChild(spawnPinned(LOADER_CPU, 'wrk', args, 'pipe'), (s.seconds + 30) * 1000, 'wrk');
  const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) throw new Error(`wrk printed no summary:\n${out}`);
  const r = JSON.parse(line.slice('BENCH_JSON '.length)) as {
    requests: number;
    duration_us: number;
    p50_us: number;
    p99_us: number;
    errors: Record<string, number>;
  };
  const seconds = r.duration_us / 1e6;
  return {
    requests: r.requests,
    seconds,
    rps: r.requests / seconds,
    p50Ms: r.p50_us / 1000,
    p99Ms: r.p99_us / 1000,
    errors: Object.values(r.errors).reduce((a, b) => a + b, 0),
    loaderCpuUs: cpuUs,
  };
}

async function runAutocannon(s: LoadSpec): Promise<LoadResult> {
  const args = [AUTOCANNON as string, '-c', String(s.connections), '-d', String(s.seconds), '-m', 'POST', '-H', 'content-type=application/json'];
  if (s.authorization) args.push('-H', `authorization=${s.authorization}`);
  args.push('-b', s.body, '-t', '5', '-n', '--json', s.url);
  const { out, cpuUs } = await runChild(spawnPinned(LOADER_CPU, process.execPath, args, 'pipe'), (s.seconds + 30) * 1000, 'autocannon');
  const r = JSON.parse(out.slice(out.indexOf('{'))) as {
    duration: number;
    requests: { total: number };
    latency: { p50: number; p99: number };
    errors: number;
    timeouts: number;
    non2xx: number;
  };
  return {
    requests: r.requests.total,
    seconds: r.duration,
    rps: r.requests.total / r.duration,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    errors: r.errors + r.timeouts + r.non2xx,
    loaderCpuUs: cpuUs,
  };
}

// ---------------------------------------------------------------- request bodies and checks

const MESSAGES = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: 'Say hello in one short sentence.' },
];
const ANTHROPIC_MODEL = 'bench-claude';
const ANTHROPIC_MESSAGES = [{ role: 'user', content: 'Say hello in one short sentence.' }];
const openaiBody = (model: string, stream: boolean): string => JSON.stringify({ model, messages: MESSAGES, max_tokens: 64, ...(stream ? { stream: true } : {}) });
const anthropicBody = (model: string, stream: boolean): string =>
  JSON.stringify({ model, system: 'You are a helpful assistant.', messages: ANTHROPIC_MESSAGES, max_tokens: 64, ...(stream ? { stream: true } : {}) });

interface ScenarioDef {
  /** Client path on every relay. */
  path: '/v1/chat/completions' | '/v1/messages';
  body: string;
  /** Same format on both sides: also measured direct and through the floor relays. */
  sameFormat: boolean;
  /** For cross-format: the same-format scenario of the same client, whose gateway CPU is its yardstick. */
  twin?: Scenario;
}
const DEFS: Record<Scenario, ScenarioDef> = {
  'non-stream': { path: '/v1/chat/completions', body: openaiBody(MODEL, false), sameFormat: true },
  stream: { path: '/v1/chat/completions', body: openaiBody(MODEL, true), sameFormat: true },
  anthropic: { path: '/v1/messages', body: anthropicBody(ANTHROPIC_MODEL, false), sameFormat: true },
  'anthropic-stream': { path: '/v1/messages', body: anthropicBody(ANTHROPIC_MODEL, true), sameFormat: true },
  'openai-to-anthropic': { path: '/v1/chat/completions', body: openaiBody(ANTHROPIC_MODEL, false), sameFormat: false, twin: 'non-stream' },
  'openai-to-anthropic-stream': { path: '/v1/chat/completions', body: openaiBody(ANTHROPIC_MODEL, true), sameFormat: false, twin: 'stream' },
  'anthropic-to-openai': { path: '/v1/messages', body: anthropicBody(MODEL, false), sameFormat: false, twin: 'anthropic' },
  'anthropic-to-openai-stream': { path: '/v1/messages', body: anthropicBody(MODEL, true), sameFormat: false, twin: 'anthropic-stream' },
};
const BODIES = { 'non-stream': DEFS['non-stream'].body, stream: DEFS.stream.body };

function sseDataLines(text: string): string[] {
  return text
    .split('\n\n')
    .filter((b) => b.startsWith('data: '))
    .map((b) => b.slice('data: '.length));
}

async function post(url: string, body: string, authorization?: string): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (authorization) headers.authorization = authorization;
  const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text() };
}

/** One request of each kind both ways: the bench must measure correct answers, not fast errors. */
async function checkAnswers(directUrl: string, gatewayUrl: string, authorization: string): Promise<void> {
  const dn = await post(directUrl, BODIES['non-stream']);
  const gn = await post(gatewayUrl, BODIES['non-stream'], authorization);
  if (dn.status !== 200 || gn.status !== 200) throw new Error(`non-stream check: direct ${dn.status}, gateway ${gn.status}: ${gn.text.slice(0, 500)}`);
  if (dn.text !== gn.text) throw new Error('non-stream check: the gateway changed the answer body');
  const ds = await post(directUrl, BODIES.stream);
  const gs = await post(gatewayUrl, BODIES.stream, authorization);
  if (ds.status !== 200 || gs.status !== 200) throw new Error(`stream check: direct ${ds.status}, gateway ${gs.status}: ${gs.text.slice(0, 500)}`);
  const want = STREAM_CONTENT_CHUNKS + 2; // content chunks, finish chunk, [DONE]
  const dEvents = sseDataLines(ds.text);
  const gEvents = sseDataLines(gs.text);
  if (dEvents.length !== want || gEvents.length !== want) {
    throw new Error(`stream check: expected ${want} events, direct sent ${dEvents.length}, gateway sent ${gEvents.length}`);
  }
  if (gs.text !== ds.text) throw new Error('stream check: the gateway stream differs from the upstream stream (usage chunk not stripped?)');
  // The gateway asked for usage; the client did not: it must have been metered and stripped.
  const withUsage = JSON.stringify({ ...JSON.parse(BODIES.stream), stream_options: { include_usage: true } });
  const gu = await post(gatewayUrl, withUsage, authorization);
  if (!sseDataLines(gu.text).some((d) => d.includes('"usage"'))) throw new Error('stream check: include_usage was asked for but no usage chunk came back');
}

// ---------------------------------------------------------------- formatting



// ---------------------------------------------------------------- main

interface Proc {
  child: ChildProcess;
  pid: number;
}

async function startNodeServer(script: string, args: string[], what: string, watch: string): Promise<Proc & { port: number }> {
  const child = spawnPinned(SERVER_CPU, process.execPath, ['--import', 'tsx', '--import', watch, join(ROOT, 'bench', script), ...args], 'pipe');
  const port = Number((await waitForLine(child, /listening (\d+)/, 30_000, what, stderrTail(child)))[1]);
  return { child, pid: child.pid as number, port };
}

async function main(): Promise<void> {
  const loader = chooseLoader();
  if (!PIN) log('bench: taskset not available (or fewer than 2 CPUs): processes are NOT pinned; figures are noisier');
  tempDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-'));
  // The bench itself (it reads /proc and starts the load generator) stays off the server CPU.
  if (PIN) execFileSync('taskset', ['-a', '-p', '-c', LOADER_CPU, String(process.pid)], { stdio: 'ignore' });
  const watch = pathToFileURL(join(ROOT, 'bench', 'parent-watch.mjs')).href;

  // Mock upstream (and the floor relay) on the server CPU.
  const mock = await startNodeServer('mock-upstream.ts', [], 'mock upstream', watch);
  const directUrl = `http://${HOST}:${mock.port}/v1/chat/completions`;
  const floor = opts.floor ? await startNodeServer('floor-proxy.ts', ['--upstream', directUrl], 'floor relay', watch) : undefined;
  const floorUrl = floor ? `http://${HOST}:${floor.port}/v1/chat/completions` : undefined;
  const dispatchFloor = await startNodeServer('floor-dispatch.ts', ['--upstream', directUrl], 'dispatch floor relay', watch);
  const dispatchUrl = `http://${HOST}:${dispatchFloor.port}/v1/chat/completions`;

  // The gateway on the server CPU too, with its own database in the temp dir.
  const gatewayPort = await freePort();
  const configPath = join(tempDir, 'switchyard.yaml');
  writeFileSync(
    configPath,
    [
      `listen: { host: ${HOST}, port: ${gatewayPort} }`,
      `database: sqlite:${join(tempDir, 'switchyard.db')}`,
      `admin_key: ${ADMIN_KEY}`,
      'log_level: warn',
      'upstreams:',
      `  - { name: mock, type: openai, base_url: http://${HOST}:${mock.port}/v1, api_key: sk-upstream, models: [${MODEL}] }`,
      `  - { name: mock-anthropic, type: anthropic, base_url: http://${HOST}:${mock.port}, api_key: sk-upstream, models: [${ANTHROPIC_MODEL}] }`,
      'models:',
      `  ${MODEL}: { input_price: 0.15, output_price: 0.6 }`,
      `  ${ANTHROPIC_MODEL}: { input_price: 0.8, output_price: 4 }`,
      ...(opts['no-metrics'] ? ['metrics: { enabled: false }'] : []),
      '',
    ].join('\n'),
  );
  let profileDir: string | undefined;
  // The built JavaScript, as `npm start` runs it (compiled here first).
  const gatewayEntry = builtGatewayEntry();
  const nodeFlags = ['--import', watch];
  if (opts.profile) {
    profileDir = resolve(opts.profile);
    mkdirSync(profileDir, { recursive: true });
    nodeFlags.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
  }
  // The gateway's log goes to a file (summarised at the end): stdout is the report.
  const gatewayLog = join(tempDir, 'gateway.log');
  const gatewayLogFd = openSync(gatewayLog, 'w');
  const gatewayChild = spawnPinned(SERVER_CPU, process.execPath, [...nodeFlags, gatewayEntry, 'serve', '--config', configPath], gatewayLogFd);
  closeSync(gatewayLogFd);
  const gateway: Proc = { child: gatewayChild, pid: gatewayChild.pid as number };
  const gatewayBase = `http://${HOST}:${gatewayPort}`;
  const gatewayStderr = stderrTail(gatewayChild);
  let stopping = false;
  gatewayChild.once('exit', (code, signal) => {
    if (stopping) return;
    // Say why before the load generator reports "connection refused".
    let logTail = '';
    try {
      logTail = readFileSync(gatewayLog, 'utf8').split('\n').slice(-15).join('\n');
    } catch {
      // temp dir already gone
    }
    log(`bench: the gateway exited during the run (code ${code}, signal ${signal})\n${gatewayStderr()}\n${logTail}`);
  });
  await waitHealthy(gatewayChild, `${gatewayBase}/health`, gatewayStderr);
  const gatewayUrl = `${gatewayBase}/v1/chat/completions`;

  const created = await fetch(`${gatewayBase}/admin/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    // Limits far above what a run uses: every request still counts its prompt, reserves and settles.
    body: JSON.stringify(opts['plain-key'] ? { name: 'bench' } : { name: 'bench', rpm: 1_000_000_000, tpm: 1_000_000_000_000, quota_tokens: 1_000_000_000_000_000 }),
  });
  if (created.status !== 201) throw new Error(`POST /admin/keys answered ${created.status}: ${await created.text()}`);
  const authorization = `Bearer ${((await created.json()) as { key: string }).key}`;

  await checkAnswers(directUrl, gatewayUrl, authorization);
  for (const url of [floorUrl, dispatchUrl]) {
    if (!url) continue;
    const [a, b] = await Promise.all([post(directUrl, BODIES.stream), post(url, BODIES.stream)]);
    if (a.text !== b.text) throw new Error(`floor relay check: the stream through ${url} differs from the upstream stream`);
  }

  const nodeVersion = process.version;
  const cpuModel = cpus()[0]?.model ?? 'unknown';
  log(
    `bench: loader ${loader}, ${PIN ? `mock+${floor ? 'floor+' : ''}gateway on CPU ${SERVER_CPU}, loader on CPU ${LOADER_CPU}` : 'unpinned'}, ` +
      `${JIT_WARMUP} s JIT warm-up per scenario, ${WARMUP} s warm-up + ${DURATION} s per cell, Node ${nodeVersion}, ${cpus().length} CPUs (${cpuModel})`,
  );

  const bodyFiles = {} as Record<Scenario, string>;
  for (const s of SCENARIOS) {
    bodyFiles[s] = join(tempDir, `${s}.json`);
    writeFileSync(bodyFiles[s], DEFS[s].body);
  }
  const load = loader === 'wrk' ? runWrk : runAutocannon;

  const origin = (url: string): string => new URL(url).origin;
  const allPaths: Array<{ path: Path; origin: string; relay: Proc | undefined; authorization?: string }> = [
    { path: 'direct', origin: origin(directUrl), relay: undefined },
    ...(floor && floorUrl ? [{ path: 'floor' as const, origin: origin(floorUrl), relay: floor }] : []),
    { path: 'dispatch', origin: origin(dispatchUrl), relay: dispatchFloor },
    { path: 'gateway', origin: origin(gatewayUrl), relay: gateway, authorization },
  ];
  /** Cross-format scenarios only make sense through the gateway. */
  const pathsFor = (scenario: Scenario) =>
    allPaths.filter((p) => DEFS[scenario].sameFormat || p.path === 'gateway').map((p) => ({ ...p, url: p.origin + DEFS[scenario].path }));
  const serverPids = [mock.pid, gateway.pid, dispatchFloor.pid, ...(floor ? [floor.pid] : [])];

  for (const scenario of SCENARIOS) {
    for (const p of pathsFor(scenario).filter((x) => x.relay)) {
      const r = await load({ url: p.url, bodyFile: bodyFiles[scenario], body: DEFS[scenario].body, authorization: p.authorization, connections: 64, seconds: JIT_WARMUP });
      log(`  JIT warm-up: ${scenario} through the ${p.path}, ${fmt(r.rps, 0)} req/s`);
    }
  }

  const cells: Cell[] = [];
  for (const scenario of SCENARIOS) {
    for (const connections of CONNECTIONS) {
      for (const p of pathsFor(scenario)) {
        const spec: LoadSpec = { url: p.url, bodyFile: bodyFiles[scenario], body: DEFS[scenario].body, authorization: p.authorization, connections, seconds: WARMUP };
        // A run disturbed by other programs (a test suite on the same machine) is made once more.
        let best: Cell | undefined;
        let attempts = 0;
        while (attempts < MAX_ATTEMPTS) {
          attempts++;
          await waitQuiet(serverPids);
          await load(spec);
          const candidate: Cell = { scenario, connections, path: p.path, ...(await measure(spec, p.relay?.pid, mock.pid, serverPids, load)), attempts };
          if (!best || noise(candidate) < noise(best)) best = candidate;
          if (!PIN || noise(candidate) <= NOISE_LIMIT) break;
          log(`  (other programs used ${pct(candidate.otherLoad[0])} of CPU ${SERVER_CPU} and ${pct(candidate.otherLoad[1])} of CPU ${LOADER_CPU}: running it again)`);
        }
        if (!best) throw new Error('no run was made');
        const cell: Cell = { ...best, attempts };
        cells.push(cell);
        log(
          `  ${scenario.padEnd(26)} c=${String(connections).padEnd(4)} ${p.path.padEnd(8)} ${fmt(cell.rps, 0).padStart(7)} req/s  ` +
            `p50 ${fmt(cell.p50Ms, 3)} ms  p99 ${fmt(cell.p99Ms, 3)} ms  relay CPU ${fmt(cell.relayCpuUs, 1)} µs/req  ` +
            `other load ${pct(cell.otherLoad[0])} / ${pct(cell.otherLoad[1])}` +
            (cell.errors ? `  ERRORS ${cell.errors}` : ''),
        );
      }
    }
  }

  const rss = rssMiB(gateway.pid);
  const usageRes = await fetch(`${gatewayBase}/v1/usage`, { headers: { authorization } });
  const usage = (await usageRes.json()) as { totals?: { requests?: number } };
  stopping = true;
  await stopChild(gatewayChild);
  if (floor) await stopChild(floor.child);
  await stopChild(dispatchFloor.child);
  await stopChild(mock.child);

  // ------------------------------------------------------------ report
  const errors = cells.reduce((a, c) => a + c.errors, 0);
  const out: string[] = [];
  out.push('');
  out.push(
    `Switchyard bench — ${loader}, ${JIT_WARMUP} s JIT warm-up, ${WARMUP} s warm-up + ${DURATION} s per cell, Node ${nodeVersion}, ${cpus().length} CPUs, ` +
      `${PIN ? `mock+${floor ? 'floor+' : ''}gateway pinned to CPU ${SERVER_CPU}, load generator to CPU ${LOADER_CPU}` : 'unpinned'}` +
      `${opts.profile ? ', gateway under --cpu-prof' : ''}`,
  );
  out.push('');
  out.push(
    table(
      ['scenario', 'conns', 'path', 'req/s', 'p50 ms', 'p99 ms', 'relay CPU µs/req', 'user / sys', 'mock CPU µs/req', 'relay ÷ mock', 'errors', 'other load CPU0 / CPU1'],
      cells.map((c) => [
        c.scenario,
        String(c.connections),
        c.path,
        fmt(c.rps, 0),
        fmt(c.p50Ms, 3),
        fmt(c.p99Ms, 3),
        c.path === 'direct' ? '-' : fmt(c.relayCpuUs, 1),
        c.path === 'direct' ? '-' : `${fmt(c.relayUserUs, 0)} / ${fmt(c.relaySysUs, 0)}`,
        fmt(c.mockCpuUs, 1),
        c.path === 'direct' ? '-' : fmt(c.relayCpuUs / c.mockCpuUs, 2),
        String(c.errors),
        `${pct(c.otherLoad[0])} / ${pct(c.otherLoad[1])}${c.attempts > 1 ? ` (${c.attempts} runs)` : ''}`,
      ]),
      3,
    ),
  );
  out.push('');

  interface Pair {
    scenario: Scenario;
    connections: number;
    path: Path;
    direct: Cell;
    via: Cell;
  }
  const pairs: Pair[] = [];
  for (const v of cells.filter((c) => c.path !== 'direct')) {
    const d = cells.find((c) => c.path === 'direct' && c.scenario === v.scenario && c.connections === v.connections);
    if (d) pairs.push({ scenario: v.scenario, connections: v.connections, path: v.path, direct: d, via: v });
  }
  out.push(
    table(
      ['scenario', 'conns', 'vs direct', 'throughput ratio', 'added p50 ms', 'added p99 ms', 'relay CPU µs/req'],
      pairs.map((p) => [
        p.scenario,
        String(p.connections),
        p.path,
        fmt(p.via.rps / p.direct.rps, 2),
        fmt(p.via.p50Ms - p.direct.p50Ms, 3),
        fmt(p.via.p99Ms - p.direct.p99Ms, 3),
        fmt(p.via.relayCpuUs, 1),
      ]),
      3,
    ),
  );
  out.push('');

  const verdicts: Array<{ target: string; measured: string; met: boolean }> = [];
  const gw = pairs.filter((p) => p.path === 'gateway');
  const floorOf = (p: Pair): Pair | undefined => pairs.find((f) => f.path === 'dispatch' && f.scenario === p.scenario && f.connections === p.connections);
  for (const p of gw) {
    const f = floorOf(p);
    if (!f) continue;
    const ratio = p.via.relayCpuUs / f.via.relayCpuUs;
    verdicts.push({
      target: `gateway CPU per ${p.scenario} request ≤ ${TARGETS.cpuRatio}x the dispatch floor's (${p.connections} conn)`,
      measured: `${fmt(p.via.relayCpuUs, 1)} µs vs ${fmt(f.via.relayCpuUs, 1)} µs = ${fmt(ratio, 2)}x`,
      met: ratio <= TARGETS.cpuRatio,
    });
  }
  const gatewayCells = cells.filter((c) => c.path === 'gateway');
  for (const c of gatewayCells) {
    const twin = DEFS[c.scenario].twin;
    const t = twin && gatewayCells.find((x) => x.scenario === twin && x.connections === c.connections);
    if (!t) continue;
    const ratio = c.relayCpuUs / t.relayCpuUs;
    verdicts.push({
      target: `cross-format ${c.scenario} CPU ≤ ${TARGETS.crossFormatRatio}x same-format ${twin} (${c.connections} conn)`,
      measured: `${fmt(c.relayCpuUs, 1)} µs vs ${fmt(t.relayCpuUs, 1)} µs = ${fmt(ratio, 2)}x`,
      met: ratio <= TARGETS.crossFormatRatio,
    });
  }
  for (const p of gw.filter((x) => x.connections === 1)) {
    const f = floorOf(p);
    if (!f) continue;
    const added = p.via.p50Ms - p.direct.p50Ms;
    const floorAdded = f.via.p50Ms - f.direct.p50Ms;
    const ratio = added / Math.max(floorAdded, 0.001);
    verdicts.push({
      target: `added p50 latency ≤ ${TARGETS.addedP50Ratio}x the dispatch floor's, ${p.scenario}, 1 conn`,
      measured: `${fmt(added, 3)} ms vs ${fmt(floorAdded, 3)} ms = ${fmt(ratio, 2)}x`,
      met: ratio <= TARGETS.addedP50Ratio,
    });
  }
  out.push('Targets:');
  for (const v of verdicts) out.push(`  [${v.met ? 'MET' : 'NOT MET'}] ${v.target}: ${v.measured}`);
  out.push('');
  out.push(`Gateway RSS after the runs: ${fmt(rss, 0)} MiB; usage records metered for the bench key: ${usage.totals?.requests ?? '?'} requests.`);
  out.push(summariseLog(readFileSync(gatewayLog, 'utf8')));
  if (errors > 0) out.push(`WARNING: ${errors} failed requests (connect/read/write errors, timeouts or non-2xx): figures are suspect.`);
  const noisy = cells.filter((c) => noise(c) > NOISE_LIMIT);
  if (noisy.length > 0) {
    out.push(`WARNING: other programs used more than ${pct(NOISE_LIMIT)} of a core during ${noisy.length} cell(s) even after ${MAX_ATTEMPTS} runs: those figures are disturbed.`);
  }

  if (profileDir) {
    // One file per thread: the main thread's is `CPU.<date>.<time>.<pid>.0.<seq>.cpuprofile`.
    const mainThread = new RegExp(`\\.${gateway.pid}\\.0\\.\\d+\\.cpuprofile$`);
    const file = readdirSync(profileDir)
      .filter((f) => mainThread.test(f))
      .map((f) => join(profileDir as string, f))
      .sort()
      .pop();
    if (file && existsSync(file)) {
      out.push('', `CPU profile of the gateway's main thread: ${file}`, summariseCpuProfile(readFileSync(file, 'utf8'), ROOT, 30));
    } else {
      out.push('', 'No CPU profile was written (did the gateway exit cleanly?).');
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);

  if (opts.out) {
    const result = { loader, node: nodeVersion, cpus: cpus().length, cpuModel, pinned: PIN, jitWarmupSeconds: JIT_WARMUP, warmupSeconds: WARMUP, durationSeconds: DURATION, cells, verdicts };
    writeFileSync(resolve(opts.out), `${JSON.stringify(result, null, 2)}\n`);
  }
  removeTemp();
  if (errors > 0) process.exitCode = 1;
}

function noise(c: Cell): number {
  return Math.max(c.otherLoad[0], c.otherLoad[1]);
}

/** Counts the gateway's log lines by level and message (wrk cuts in-flight requests when a run ends). */
function summariseLog(text: string): string {
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let key = line.slice(0, 120);
    try {
      const j = JSON.parse(line) as { level?: number; msg?: string; status?: number; code?: string };
      key = `level ${j.level ?? '?'} "${j.msg ?? ''}"${j.status ? ` status ${j.status}` : ''}${j.code ? ` ${j.code}` : ''}`;
    } catch {
      // not JSON: keep the raw start of the line
    }
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  if (counts.size === 0) return 'Gateway log: empty.';
  return `Gateway log lines: ${[...counts].map(([k, n]) => `${n}× ${k}`).join('; ')}`;
}

/** Busy time on each core that none of `ours` used, per wall second, over `ms`. */
async function otherLoadOver(ms: number, serverPids: number[]): Promise<[number, number]> {
  const sum = (pids: number[]): number => pids.reduce((a, pid) => a + tryCpu(pid), 0);
  const c0 = coreBusyMicros();
  const s0 = sum(serverPids);
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const wallUs = (performance.now() - t0) * 1000;
  const self = process.cpuUsage(self0);
  const c1 = coreBusyMicros();
  const s = Number(SERVER_CPU);
  const l = Number(LOADER_CPU);
  return [
    Math.max(0, (c1[s] - c0[s] - (sum(serverPids) - s0)) / wallUs),
    Math.max(0, (c1[l] - c0[l] - self.user - self.system) / wallUs),
  ];
}

function tryCpu(pid: number): number {
  try {
    const c = cpuMicros(pid);
    return c.user + c.sys;
  } catch {
    return 0;
  }
}

/** Waits (up to QUIET_WAIT_MS) for other programs to leave both cores nearly idle before a run. */
async function waitQuiet(serverPids: number[]): Promise<void> {
  if (!PIN) return;
  const deadline = Date.now() + QUIET_WAIT_MS;
  let told = false;
  for (;;) {
    const load = await otherLoadOver(500, serverPids);
    if (Math.max(...load) <= NOISE_LIMIT || Date.now() > deadline) return;
    if (!told) log(`  (waiting for other programs to quieten: ${pct(load[0])} / ${pct(load[1])} of CPU ${SERVER_CPU} / ${LOADER_CPU} busy)`);
    told = true;
  }
}

/** One measured run: the load generator's figures plus CPU per request of the relay and the mock, and what else ran. */
async function measure(
  spec: LoadSpec,
  relayPid: number | undefined,
  mockPid: number,
  serverPids: number[],
  load: (s: LoadSpec) => Promise<LoadResult>,
): Promise<Omit<Cell, 'scenario' | 'connections' | 'path' | 'attempts'>> {
  const sum = (pids: number[]): number => pids.reduce((a, pid) => a + tryCpu(pid), 0);
  const cores0 = coreBusyMicros();
  const servers0 = sum(serverPids);
  const r0 = relayPid === undefined ? { user: 0, sys: 0 } : cpuMicros(relayPid);
  const m0 = cpuMicros(mockPid);
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await load({ ...spec, seconds: DURATION });
  const wallUs = (performance.now() - t0) * 1000;
  const self = process.cpuUsage(self0);
  const r1 = relayPid === undefined ? { user: 0, sys: 0 } : cpuMicros(relayPid);
  const m1 = cpuMicros(mockPid);
  const servers1 = sum(serverPids);
  const cores1 = coreBusyMicros();
  const per = (us: number): number => (r.requests > 0 ? us / r.requests : NaN);
  const s = Number(SERVER_CPU);
  const l = Number(LOADER_CPU);
  return {
    ...r,
    relayCpuUs: per(r1.user + r1.sys - r0.user - r0.sys),
    relayUserUs: per(r1.user - r0.user),
    relaySysUs: per(r1.sys - r0.sys),
    mockCpuUs: per(m1.user + m1.sys - m0.user - m0.sys),
    otherLoad: PIN
      ? [
          Math.max(0, (cores1[s] - cores0[s] - (servers1 - servers0)) / wallUs),
          Math.max(0, (cores1[l] - cores0[l] - r.loaderCpuUs - self.user - self.system) / wallUs),
        ]
      : [NaN, NaN],
  };
}

function pct(share: number): string {
  return Number.isFinite(share) ? `${(share * 100).toFixed(0)} %` : '-';
}

async function waitHealthy(child: ChildProcess, url: string, tail: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the gateway exited (${child.exitCode}) during start-up\n${tail()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the gateway did not answer ${url} within 60 s\n${tail()}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  killAll('SIGTERM');
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 1000).unref();
});
