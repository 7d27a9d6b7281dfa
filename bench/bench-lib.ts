/**
 * Helpers shared by the long-running benches (bench/slow-streams.ts, bench/soak.ts):
 * child processes pinned with taskset and always stopped (on exit, error and
 * signals), a temp directory removed on exit, /proc readings (CPU, RSS, open
 * file descriptors), starting the gateway with a temp config and SQLite
 * database, creating an API key, and formatting.
 *
 * Adapted from bench/run.ts (which cannot be imported: it runs its main() on import).
 * Importing this module installs the exit and signal handlers.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const HOST = '127.0.0.1';
export const ADMIN_KEY = 'sk-admin-bench';
/** The gateway's core. */
export const SERVER_CPU = '0';
/** Upstream, client / load generator and the bench itself. */
export const CLIENT_CPU = '1';

export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** A broken bench (not a missed target): the caller exits non-zero. */
export class BenchError extends Error {}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Wall clock in ms with sub-ms precision, comparable between processes on this machine. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

// ---------------------------------------------------------------- options

export function numberOption(v: string | undefined, fallback: number, name: string, o: { integer?: boolean; min: number; max: number }): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || (o.integer && !Number.isInteger(n)) || n < o.min || n > o.max) {
    throw new BenchError(`${name} wants ${o.integer ? 'a whole number' : 'a number'} from ${o.min} to ${o.max}, got "${v}"`);
  }
  return n;
}

/** Prints the file's leading doc comment (for --help). */
export function printDocComment(fileUrl: string): void {
  const src = readFileSync(fileURLToPath(fileUrl), 'utf8');
  process.stdout.write(`${src.slice(src.indexOf('/**') + 4, src.indexOf('*/')).replace(/^ \* ?/gm, '')}\n`);
}

// ---------------------------------------------------------------- child processes and cleanup

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();

export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const PIN = hasCommand('taskset') && cpus().length >= 2;

/** Pins every thread of this process to `cpu`. */
export function pinSelf(cpu: string): void {
  if (PIN) execFileSync('taskset', ['-a', '-p', '-c', cpu, String(process.pid)], { stdio: 'ignore' });
}

export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  // The gateway reads its config from --config only; keep stray settings of the caller's shell out.
  for (const k of ['SWITCHYARD_CONFIG', 'OPENAI_API_KEY', 'OPENAI_BASE_URL', 'SWITCHYARD_ADMIN_KEY', 'NODE_OPTIONS', 'ANTHROPIC_API_KEY', 'GEMINI_API_KEY', 'GOOGLE_API_KEY']) {
    delete env[k];
  }
  return { ...env, ...extra };
}

/** Spawns `cmd args` pinned to one CPU (taskset execs, so the pid is the program's own). */
export function spawnPinned(cpu: string, cmd: string, args: string[], stdout: 'pipe' | number, env: Record<string, string> = {}): ChildProcess {
  const [file, argv] = PIN ? ['taskset', ['-c', cpu, cmd, ...args]] : [cmd, args];
  const child = spawn(file, argv, { cwd: ROOT, stdio: ['ignore', stdout, 'pipe'], env: childEnv(env) });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

const WATCH = pathToFileURL(join(ROOT, 'bench', 'parent-watch.mjs')).href;

/** `node --import tsx --import parent-watch <script> args`: the child stops itself if this process dies without cleaning up. */
export function spawnNode(cpu: string, script: string, args: string[], stdout: 'pipe' | number, env: Record<string, string> = {}, nodeFlags: string[] = []): ChildProcess {
  return spawnPinned(cpu, process.execPath, [...nodeFlags, '--import', 'tsx', '--import', WATCH, script, ...args], stdout, env);
}

let built = false;

/**
 * The gateway as `npm start` runs it: the built JavaScript in dist/ (compiled once per bench run,
 * like `npm start` does), not TypeScript compiled at load by tsx, whose transform caches alone
 * hold ~50 MiB of the process's RSS.
 */
export function builtGatewayEntry(): string {
  if (!built) {
    execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'inherit' });
    built = true;
  }
  return join(ROOT, 'dist', 'cli.js');
}

function killAll(signal: NodeJS.Signals): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill(signal);
  }
}

export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

function removeTemp(): void {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

process.on('exit', () => {
  killAll('SIGKILL');
  removeTemp();
});
/** Set once a signal asked the bench to stop: children exiting then are not reported as crashes. */
let shuttingDown = false;

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    shuttingDown = true;
    log(`\nbench: ${sig}, stopping`);
    killAll('SIGTERM');
    // The exit handler SIGKILLs whatever is still running (a gateway draining 5,000 streams).
    setTimeout(() => process.exit(130), 1000).unref();
  });
}

/** Runs `main`; a failure is reported and ends the process with 1 after its children are stopped. */
export function runMain(main: () => Promise<void>): void {
  main().then(
    () => {
      removeTemp();
      // Exit even if a socket or timer was left behind: the measurement is over.
      setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
    },
    (err: unknown) => {
      process.stderr.write(`bench: ${err instanceof BenchError ? err.message : ((err as Error).stack ?? String(err))}\n`);
      shuttingDown = true;
      killAll('SIGTERM');
      process.exitCode = 1;
      setTimeout(() => process.exit(1), 1000).unref();
    },
  );
}

export async function stopChild(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

/** Collects a child's stderr (bounded) for error messages. */
export function stderrTail(child: ChildProcess): () => string {
  let text = '';
  child.stderr?.on('data', (d: Buffer) => {
    text = (text + d.toString('utf8')).slice(-4000);
  });
  return () => text;
}

export function waitForLine(child: ChildProcess, re: RegExp, timeoutMs: number, what: string, tail: () => string): Promise<RegExpExecArray> {
  return new Promise((resolvePromise, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new BenchError(`${what} did not start within ${timeoutMs} ms\n${tail()}`)), timeoutMs);
    const onData = (d: Buffer): void => {
      buf += d.toString('utf8');
      const m = re.exec(buf);
      if (m) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        resolvePromise(m);
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new BenchError(`${what} exited (${code}) before it was ready\n${tail()}`));
    });
  });
}

/** Starts a node script that prints `listening PORT` once ready. */
export async function startListener(cpu: string, script: string, args: string[], what: string): Promise<{ child: ChildProcess; pid: number; port: number }> {
  const child = spawnNode(cpu, script, args, 'pipe');
  const port = Number((await waitForLine(child, /listening (\d+)/, 30_000, what, stderrTail(child)))[1]);
  return { child, pid: child.pid as number, port };
}

export function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePromise(port));
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

/** utime + stime of a process (all its threads), in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[14 - 3]) + Number(fields[15 - 3])) / CLK_TCK;
}

/** cpuSeconds, or NaN once the process is gone. */
export function tryCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    return cpuSeconds(pid);
  } catch {
    return NaN;
  }
}

/**
 * Per CPU since boot, in seconds: time busy (user + nice + system) plus time
 * stolen by the hypervisor for other machines (both are time our processes did not get).
 */
export function coreBusySeconds(): number[] {
  const out: number[] = [];
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+) (\d+) (\d+) (\d+) \d+ \d+ \d+ \d+ (\d+)/.exec(line);
    if (m) out[Number(m[1])] = (Number(m[2]) + Number(m[3]) + Number(m[4]) + Number(m[5])) / CLK_TCK;
  }
  return out;
}

/**
 * Measures how much of each of our two CPUs something other than our processes
 * used (another program, or steal time) between start() and stop(): share of a core.
 * `pids(cpu)` lists our processes pinned to that CPU (this process counts for CLIENT_CPU).
 */
export function otherLoadMeter(pids: { server: () => Array<number | undefined>; client: () => Array<number | undefined> }): { stop: () => [number, number] } {
  // NaN once one of our processes is gone: its CPU time can no longer be told apart.
  const sum = (list: Array<number | undefined>): number => list.reduce<number>((a, pid) => a + tryCpuSeconds(pid), 0);
  const self = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const c0 = coreBusySeconds();
  const s0 = sum(pids.server());
  const l0 = sum(pids.client()) + self();
  const t0 = performance.now();
  return {
    stop: () => {
      const wall = (performance.now() - t0) / 1000;
      const c1 = coreBusySeconds();
      const s = Number(SERVER_CPU);
      const l = Number(CLIENT_CPU);
      if (!PIN || wall <= 0) return [NaN, NaN];
      // Math.max(0, NaN) is NaN: a vanished process makes the figure unknown, not wrong.
      return [
        Math.max(0, (c1[s] - c0[s] - (sum(pids.server()) - s0)) / wall),
        Math.max(0, (c1[l] - c0[l] - (sum(pids.client()) + self() - l0)) / wall),
      ];
    },
  };
}

/** Waits (up to maxMs) until other programs leave both CPUs nearly idle (≤ 5 %); returns what they used in the last half second. */
export async function waitQuiet(pids: { server: () => Array<number | undefined>; client: () => Array<number | undefined> }, maxMs = 10_000): Promise<[number, number]> {
  const deadline = Date.now() + maxMs;
  let told = false;
  for (;;) {
    const m = otherLoadMeter(pids);
    await sleep(500);
    const load = m.stop();
    if (!PIN || !load.every(Number.isFinite) || Math.max(...load) <= 0.05 || Date.now() > deadline) return load;
    if (!told) log(`  (waiting up to ${maxMs / 1000} s for other programs to quieten: ${pct(load[0])} / ${pct(load[1])} of CPU ${SERVER_CPU} / ${CLIENT_CPU} busy)`);
    told = true;
  }
}

export function pct(share: number): string {
  return Number.isFinite(share) ? `${(share * 100).toFixed(0)} %` : '-';
}

/** Resident set size in MiB (VmRSS). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The soft limit on open files of this process (children inherit it). */
export function openFilesLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

/** Number of open file descriptors (entries of /proc/<pid>/fd). */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export interface FdBreakdown {
  total: number;
  sockets: number;
  /** Regular files (the SQLite database, its WAL, the log file, ...). */
  files: number;
  /** Pipes, eventfd, epoll, timerfd, ... */
  other: number;
}

/** Open file descriptors by kind (readlink of every entry: use on processes with a few hundred fds). */
export function fdBreakdown(pid: number): FdBreakdown {
  const dir = `/proc/${pid}/fd`;
  const out: FdBreakdown = { total: 0, sockets: 0, files: 0, other: 0 };
  for (const name of readdirSync(dir)) {
    let target: string;
    try {
      target = readlinkSync(`${dir}/${name}`);
    } catch {
      continue; // closed between readdir and readlink
    }
    out.total++;
    if (target.startsWith('socket:')) out.sockets++;
    else if (target.startsWith('/')) out.files++;
    else out.other++;
  }
  return out;
}

// ---------------------------------------------------------------- main-thread watch

/** x86_64 numbers of the syscalls a blocked Node main thread is usually in. */
const SYSCALLS: Record<string, string> = process.arch === 'x64'
  ? { '0': 'read', '1': 'write', '3': 'close', '7': 'poll', '17': 'pread64', '18': 'pwrite64', '74': 'fsync', '75': 'fdatasync', '76': 'truncate', '77': 'ftruncate', '82': 'rename', '87': 'unlink', '202': 'futex', '232': 'epoll_wait', '257': 'openat', '262': 'newfstatat', '281': 'epoll_pwait', '285': 'fallocate' }
  : {};

export interface ThreadWatchFigures {
  /** 100 ms ticks observed. */
  ticks: number;
  /** CPU time the main thread ran, ms. */
  runMs: number;
  /** Time the main thread was runnable but waited for a CPU (other programs, or the gateway's own GC/libuv threads on its core), ms. */
  waitMs: number;
  /** Ticks at which the main thread was in uninterruptible sleep (D: disk I/O), by syscall. */
  blocked: Record<string, number>;
  /** Ticks with requests in flight during which the main thread ran less than 5 ms, by its state at the tick (R runnable, S sleeping, D disk). */
  stalls: Record<string, number>;
  /** Longest run of consecutive stalled ticks, ms. */
  longestStallMs: number;
}

function emptyFigures(): ThreadWatchFigures {
  return { ticks: 0, runMs: 0, waitMs: 0, blocked: {}, stalls: {}, longestStallMs: 0 };
}

/**
 * Samples a process's main thread every `tickMs` (/proc/<pid>/task/<pid>/schedstat
 * and stat, and syscall when it is in D state): how long it ran, how long it
 * waited for a CPU, and what it was doing when it did not run although `busy()`
 * said work was waiting. `window()` returns the figures since the previous call.
 */
export function watchMainThread(pid: number, busy: () => boolean, tickMs = 100): { window: () => ThreadWatchFigures; stop: () => ThreadWatchFigures } {
  const base = `/proc/${pid}/task/${pid}`;
  const read = (): { run: number; wait: number; state: string } | undefined => {
    try {
      const [run, wait] = readFileSync(`${base}/schedstat`, 'utf8').split(' ').map(Number);
      const stat = readFileSync(`${base}/stat`, 'utf8');
      return { run: run / 1e6, wait: wait / 1e6, state: stat.charAt(stat.lastIndexOf(')') + 2) };
    } catch {
      return undefined;
    }
  };
  const total = emptyFigures();
  let win = emptyFigures();
  let prev = read();
  let streak = 0;
  const add = (f: ThreadWatchFigures, key: 'blocked' | 'stalls', k: string): void => {
    f[key][k] = (f[key][k] ?? 0) + 1;
  };
  const timer = setInterval(() => {
    const cur = read();
    if (!cur || !prev) return;
    const ran = cur.run - prev.run;
    const waited = cur.wait - prev.wait;
    for (const f of [total, win]) {
      f.ticks++;
      f.runMs += ran;
      f.waitMs += waited;
    }
    if (cur.state === 'D') {
      let sc = '?';
      try {
        const n = readFileSync(`${base}/syscall`, 'utf8').split(' ')[0];
        sc = SYSCALLS[n] ?? `syscall ${n}`;
      } catch {
        // not permitted
      }
      add(total, 'blocked', sc);
      add(win, 'blocked', sc);
    }
    if (ran < 5 && busy()) {
      streak++;
      add(total, 'stalls', cur.state);
      add(win, 'stalls', cur.state);
      for (const f of [total, win]) f.longestStallMs = Math.max(f.longestStallMs, streak * tickMs);
    } else streak = 0;
    prev = cur;
  }, tickMs);
  timer.unref();
  return {
    window: () => {
      const w = win;
      win = emptyFigures();
      return w;
    },
    stop: () => {
      clearInterval(timer);
      return total;
    },
  };
}

export function describeWatch(f: ThreadWatchFigures): string {
  const list = (r: Record<string, number>): string =>
    Object.keys(r).length === 0 ? 'none' : Object.entries(r).map(([k, n]) => `${k} ${n}`).join(', ');
  return (
    `ran ${(f.runMs / 1000).toFixed(1)} s, waited for a CPU ${(f.waitMs / 1000).toFixed(2)} s; ` +
    `ticks in disk wait (D): ${list(f.blocked)}; stalled ticks (work waiting, < 5 ms run in 100 ms) by state: ${list(f.stalls)}; longest stall ${f.longestStallMs} ms`
  );
}

// ---------------------------------------------------------------- the gateway

export interface Gateway {
  child: ChildProcess;
  pid: number;
  base: string;
  logPath: string;
  /** Call before stopping it on purpose (otherwise its exit is reported as a crash). */
  stop(): Promise<void>;
  /** Whether it exited without being asked to. */
  crashed(): boolean;
}

/**
 * Starts `node dist/cli.js serve --config <dir>/switchyard.yaml` (built first) pinned
 * to `cpu`, with its own SQLite database and data_dir in `dir`, log level warn
 * (log to `<dir>/gateway.log`), and waits for /health. `extraConfig` lines are
 * appended to the YAML as they are (top-level keys such as `batch: { ... }`).
 */
export async function startGateway(o: { dir: string; cpu: string; upstreams: string[]; models: string[]; nodeFlags?: string[]; extraConfig?: string[] }): Promise<Gateway> {
  const port = await freePort();
  const configPath = join(o.dir, 'switchyard.yaml');
  writeFileSync(
    configPath,
    [
      `listen: { host: ${HOST}, port: ${port} }`,
      `database: sqlite:${join(o.dir, 'switchyard.db')}`,
      `data_dir: ${join(o.dir, 'data')}`,
      `admin_key: ${ADMIN_KEY}`,
      'log_level: warn',
      'upstreams:',
      ...o.upstreams.map((u) => `  - ${u}`),
      'models:',
      ...o.models.map((m) => `  ${m}`),
      ...(o.extraConfig ?? []),
      '',
    ].join('\n'),
  );
  const logPath = join(o.dir, 'gateway.log');
  const fd = openSync(logPath, 'w');
  const child = spawnPinned(o.cpu, process.execPath, [...(o.nodeFlags ?? []), '--import', WATCH, builtGatewayEntry(), 'serve', '--config', configPath], fd);
  closeSync(fd);
  const tail = stderrTail(child);
  let stopping = false;
  let crashed = false;
  child.once('exit', (code, signal) => {
    if (stopping || shuttingDown) return;
    crashed = true;
    let logTail = '';
    try {
      logTail = readFileSync(logPath, 'utf8').split('\n').slice(-15).join('\n');
    } catch {
      // temp dir already gone
    }
    log(`bench: the gateway exited during the run (code ${code}, signal ${signal})\n${tail()}\n${logTail}`);
  });
  const base = `http://${HOST}:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new BenchError(`the gateway exited (${child.exitCode}) during start-up\n${tail()}`);
    try {
      const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new BenchError(`the gateway did not answer ${base}/health within 60 s\n${tail()}`);
    await sleep(100);
  }
  return {
    child,
    pid: child.pid as number,
    base,
    logPath,
    stop: async () => {
      stopping = true;
      await stopChild(child);
    },
    crashed: () => crashed,
  };
}

/** POST /admin/keys; returns the secret. Limits far above what a run uses: every request still counts, reserves and settles. */
export async function createKey(base: string, name: string): Promise<string> {
  const res = await fetch(`${base}/admin/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, rpm: 1_000_000_000, tpm: 1_000_000_000_000, quota_tokens: 1_000_000_000_000_000 }),
    signal: AbortSignal.timeout(10_000),
  });
  if (res.status !== 201) throw new BenchError(`POST /admin/keys answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { key: string }).key;
}

/** GET /v1/usage for a key: totals.requests (records written for it; the gateway flushes its buffer first). */
export async function usageRequests(base: string, key: string): Promise<number> {
  const res = await fetch(`${base}/v1/usage`, { headers: { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(30_000) });
  if (res.status !== 200) throw new BenchError(`GET /v1/usage answered ${res.status}: ${await res.text()}`);
  const body = (await res.json()) as { totals?: { requests?: unknown } };
  const n = body.totals?.requests;
  if (typeof n !== 'number') throw new BenchError(`GET /v1/usage: no totals.requests in ${JSON.stringify(body).slice(0, 300)}`);
  return n;
}

/**
 * Counts the gateway's log lines by level and message; lines of `node --trace-gc`
 * (when the gateway runs with it) are summarised as GC pauses by kind.
 */
export function summariseLog(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return 'Gateway log: unreadable.';
  }
  const counts = new Map<string, number>();
  const gc = new Map<string, { n: number; total: number; max: number }>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const g = /\d+ ms: (Scavenge|Mark-Compact|Mark-sweep|Minor Mark-Compact|MinorMS)[^,]*, ([\d.]+) \/ [\d.]+ ms/.exec(line);
    if (g) {
      const e = gc.get(g[1]) ?? { n: 0, total: 0, max: 0 };
      const ms = Number(g[2]);
      e.n++;
      e.total += ms;
      e.max = Math.max(e.max, ms);
      gc.set(g[1], e);
      continue;
    }
    let key = line.slice(0, 120).replace(/\d+(\.\d+)?/g, '#');
    try {
      const j = JSON.parse(line) as { level?: number; msg?: string; status?: number; code?: string };
      key = `level ${j.level ?? '?'} "${j.msg ?? ''}"${j.status ? ` status ${j.status}` : ''}${j.code ? ` ${j.code}` : ''}`;
    } catch {
      // not JSON: keep the raw start of the line, numbers masked
    }
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const parts: string[] = [];
  parts.push(counts.size === 0 ? 'Gateway log (warn and above): empty.' : `Gateway log lines (warn and above): ${[...counts].map(([k, n]) => `${n}× ${k}`).join('; ')}`);
  if (gc.size > 0) {
    parts.push(`Gateway GC pauses (--trace-gc): ${[...gc].map(([k, e]) => `${k} ${e.n}× total ${e.total.toFixed(1)} ms max ${e.max.toFixed(1)} ms`).join('; ')}`);
  }
  return parts.join('\n');
}

// ---------------------------------------------------------------- statistics and formatting

/** A growable list of numbers (latencies), cheaper than number[] for millions of them. */
export class Samples {
  private data = new Float64Array(1024);
  length = 0;

  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }

  sorted(): Float64Array {
    return this.data.slice(0, this.length).sort();
  }

  clear(): void {
    this.length = 0;
  }
}

export interface Percentiles {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles of an ascending array. */
export function percentiles(sorted: Float64Array): Percentiles {
  const n = sorted.length;
  const at = (p: number): number => (n === 0 ? NaN : sorted[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))]);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i];
  return { count: n, min: at(0), p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: n ? sorted[n - 1] : NaN, mean: n ? sum / n : NaN };
}

export function fmt(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

/** A Markdown table: the first `left` columns are labels (left-aligned), the rest figures. */
export function table(header: string[], rows: string[][], left: number): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i < left ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (i < left ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), sep, ...rows.map(line)].join('\n');
}

export function verdictLine(met: boolean, target: string, measured: string): string {
  return `${met ? 'PASS' : 'FAIL'}  ${target}: ${measured}`;
}

export function machineLine(): string {
  return `Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'})`;
}
