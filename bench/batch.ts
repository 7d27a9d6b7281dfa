/**
 * Batches: one large OpenAI batch run by the gateway itself. Generates a
 * chat-completions batch JSONL of --lines lines, uploads it (POST /v1/files,
 * multipart, purpose batch), creates the batch (POST /v1/batches), polls GET
 * /v1/batches/{id} every 200 ms until it ends while sampling the gateway's RSS
 * (/proc/<pid>/status VmRSS) and CPU time (/proc/<pid>/stat) every 200 ms, then
 * downloads the output and error files (GET /v1/files/{id}/content) and checks
 * them. Targets: gateway peak RSS under 300 MB, and throughput set by the
 * configured concurrency, not by the gateway: at least 80 % of the ceiling
 * concurrency / upstream delay (the mock answers every request after a fixed
 * --delay-ms, so a runner that keeps `concurrency` lines in flight does
 * concurrency / delay lines a second, whatever else it does).
 *
 * Usage: node --import tsx bench/batch.ts [--lines 50000] [--concurrency 64]
 *          [--delay-ms 100] [--out FILE]
 *
 *   --lines N            lines in the input file (default 50000, OpenAI's maximum;
 *                        batch.max_lines is raised when N is larger)
 *   --concurrency N      batch.per_batch_concurrency and batch.max_concurrency
 *                        (default 64)
 *   --delay-ms MS        the mock upstream's fixed delay per request (default 100:
 *                        ceiling 640 lines/s at concurrency 64, within what one core
 *                        relays; at 20 ms the ceiling, 3,200 lines/s, is above the
 *                        gateway's own maximum on one core, so the run measures that)
 *   --jitter-ms J        spread the mock's delay uniformly over delay ± J (same mean, so
 *                        the same ceiling; default 0: fixed, as the target is stated).
 *                        With a fixed delay the lines go and come back in step, and
 *                        each wave waits for the gateway's one thread to finish the
 *                        whole wave; real upstreams vary, which breaks the waves up
 *   --fail-every N       every Nth line asks the mock for a 400 (`"user": "bench-fail"`),
 *                        so the error file is exercised too (default 1000; 0: none)
 *   --endpoint E         chat (default) or embeddings (/v1/embeddings lines)
 *   --timeout-seconds S  give up (cancel the batch) if it has not ended after S
 *                        seconds (default 60 + 5 x lines / ceiling, at most 900)
 *   --out FILE           also write the results (with the 200 ms series) as JSON
 *   --gateway-log FILE   keep a copy of the gateway's log (warn and above)
 *   --gateway-node-flags=FLAGS  extra node flags for the gateway (space-separated),
 *                        e.g. --gateway-node-flags="--cpu-prof --cpu-prof-dir=/tmp/prof"
 *                        (the profile is written when the gateway stops); for diagnosis
 *
 * Processes: the gateway (node dist/cli.js serve, built first, temp config with
 * `batch: { max_concurrency, per_batch_concurrency }`, SQLite, log level warn)
 * on CPU 0; bench/mock-upstream.ts --delay-ms and this process on CPU 1 (taskset).
 * The batch runner's other settings are the defaults (poll_ms 500, max_attempts 3).
 *
 * Lines: custom_id `req-<n>` (n from 1), method POST, url /v1/chat/completions,
 * body { model, messages: system + a user message naming the line, max_tokens 64 }
 * (~250 bytes a line); the Nth lines of --fail-every add `"user": "bench-fail"`.
 *
 * Phases, timed by the bench: upload (POST /v1/files), validation (the batch
 * `validating`: from POST /v1/batches to the first poll that sees in_progress),
 * running (in_progress until the first poll that sees finalizing or later), and
 * finalizing (writing the output and error files); then the download and check.
 * Lines per second are given two ways: from the batch's own in_progress_at and
 * completed_at (whole seconds, so ±1 s) and from the polls (±0.2 s, used for the
 * verdict); both include finalizing. The mock (--stats) counts the requests it
 * holds: the report gives the mean upstream concurrency while in_progress (what
 * the runner actually kept in flight) and the time each line spent in the gateway
 * around the upstream delay (concurrency / rate - delay).
 *
 * Checks of the output: every custom_id exactly once across the output and error
 * files; each file in input order; the output file holds 200 answers with a
 * choices[0].message.content (embeddings: data[0].embedding), the error file
 * exactly the lines meant to fail; request_counts equal to the lines in each
 * file and total = --lines. A failed check is reported as a FAIL verdict.
 *
 * Exit code 0 when the measurement was made (even if targets fail); 1 when the
 * bench itself broke. Everything listens on 127.0.0.1; every phase is bounded in
 * time; child processes are stopped on exit, error and SIGINT.
 */
import { copyFileSync, createWriteStream, openAsBlob, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import {
  BenchError,
  CLIENT_CPU,
  HOST,
  PIN,
  ROOT,
  SERVER_CPU,
  createKey,
  fmt,
  log,
  machineLine,
  makeTempDir,
  numberOption,
  otherLoadMeter,
  pct,
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
  verdictLine,
  waitQuiet,
} from './bench-lib.ts';

const MODEL = 'bench-model';
const SAMPLE_MS = 200;
const TARGETS = { rssMB: 300, ceilingShare: 0.8 };
const FINAL = new Set(['completed', 'failed', 'expired', 'cancelled']);
type Endpoint = 'chat' | 'embeddings';
const URLS: Record<Endpoint, string> = { chat: '/v1/chat/completions', embeddings: '/v1/embeddings' };

interface BatchObject {
  id: string;
  status: string;
  output_file_id: string | null;
  error_file_id: string | null;
  errors: unknown;
  created_at: number;
  in_progress_at: number | null;
  finalizing_at: number | null;
  completed_at: number | null;
  request_counts: { total: number; completed: number; failed: number };
  usage?: { input_tokens: number; output_tokens: number };
}

// ---------------------------------------------------------------- input

function customId(n: number): string {
  return `req-${n}`;
}

function lineBody(endpoint: Endpoint, n: number, fail: boolean): Record<string, unknown> {
  const extra = fail ? { user: 'bench-fail' } : {};
  if (endpoint === 'embeddings') return { model: MODEL, input: `Line ${n} of the bench batch: embed this short sentence.`, ...extra };
  return {
    model: MODEL,
    messages: [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: `Line ${n}: say hello in one short sentence.` },
    ],
    max_tokens: 64,
    ...extra,
  };
}

/** Writes the JSONL; returns its size in bytes. */
async function writeInput(path: string, lines: number, endpoint: Endpoint, failEvery: number): Promise<number> {
  const out = createWriteStream(path);
  let chunk = '';
  for (let n = 1; n <= lines; n++) {
    const fail = failEvery > 0 && n % failEvery === 0;
    chunk += `${JSON.stringify({ custom_id: customId(n), method: 'POST', url: URLS[endpoint], body: lineBody(endpoint, n, fail) })}\n`;
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
  return statSync(path).size;
}

// ---------------------------------------------------------------- HTTP

async function api<T>(base: string, key: string, method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined && !(body instanceof FormData) ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  if (res.status !== 200) throw new BenchError(`${method} ${path} answered ${res.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

async function upload(base: string, key: string, path: string): Promise<{ id: string; bytes: number }> {
  const form = new FormData();
  form.set('purpose', 'batch');
  form.set('file', await openAsBlob(path, { type: 'application/jsonl' }), 'bench-batch.jsonl');
  return api<{ id: string; bytes: number }>(base, key, 'POST', '/v1/files', form, 300_000);
}

/** Streams a file's content and calls `onLine` for each non-empty line; returns the bytes read. */
async function download(base: string, key: string, fileId: string, onLine: (line: string) => void): Promise<number> {
  const res = await fetch(`${base}/v1/files/${fileId}/content`, { headers: { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(300_000) });
  if (res.status !== 200 || !res.body) throw new BenchError(`GET /v1/files/${fileId}/content answered ${res.status}: ${(await res.text()).slice(0, 500)}`);
  const decoder = new TextDecoder();
  let carry = '';
  let bytes = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.length;
    const text = carry + decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      if (nl > start) onLine(text.slice(start, nl));
      start = nl + 1;
    }
    carry = text.slice(start);
  }
  carry += decoder.decode();
  if (carry.length) onLine(carry);
  return bytes;
}

// ---------------------------------------------------------------- checks

interface FileCheck {
  lines: number;
  bytes: number;
  /** Lines not after the previous line of the same file. */
  outOfOrder: number;
  /** custom_ids this bench did not write. */
  unknown: number;
  /** Lines of the wrong kind for the file (an error in the output file, an answer that should have failed, ...). */
  wrongKind: number;
  examples: string[];
}

interface Check {
  output: FileCheck;
  error: FileCheck;
  /** custom_ids in both files, or twice in one. */
  duplicates: number;
  /** custom_ids in neither file. */
  missing: number;
  countsMatch: boolean;
  countsText: string;
  seconds: number;
  ok: boolean;
}

function emptyFileCheck(): FileCheck {
  return { lines: 0, bytes: 0, outOfOrder: 0, unknown: 0, wrongKind: 0, examples: [] };
}

async function checkResults(base: string, key: string, b: BatchObject, lines: number, failEvery: number, endpoint: Endpoint): Promise<Check> {
  const t0 = performance.now();
  const seen = new Uint8Array(lines + 1);
  let duplicates = 0;
  const checkFile = async (fileId: string | null, kind: 'output' | 'error'): Promise<FileCheck> => {
    const c = emptyFileCheck();
    if (!fileId) return c;
    let prev = 0;
    const note = (msg: string): void => {
      if (c.examples.length < 3) c.examples.push(msg.slice(0, 300));
    };
    c.bytes = await download(base, key, fileId, (text) => {
      c.lines++;
      let j: { custom_id?: unknown; response?: { status_code?: number; body?: unknown } | null; error?: unknown };
      try {
        j = JSON.parse(text) as typeof j;
      } catch {
        c.wrongKind++;
        note(`not JSON: ${text}`);
        return;
      }
      const m = typeof j.custom_id === 'string' ? /^req-(\d+)$/.exec(j.custom_id) : null;
      const n = m ? Number(m[1]) : NaN;
      if (!m || n < 1 || n > lines) {
        c.unknown++;
        note(`unknown custom_id: ${text}`);
        return;
      }
      if (seen[n]) duplicates++;
      seen[n] = 1;
      if (n <= prev) {
        c.outOfOrder++;
        note(`${j.custom_id} after req-${prev}`);
      }
      prev = Math.max(prev, n);
      const meantToFail = failEvery > 0 && n % failEvery === 0;
      const status = j.response?.status_code;
      if (kind === 'output') {
        const body = j.response?.body as { choices?: Array<{ message?: { content?: unknown } }>; data?: Array<{ embedding?: unknown }> } | undefined;
        const answered = endpoint === 'chat' ? typeof body?.choices?.[0]?.message?.content === 'string' : Array.isArray(body?.data?.[0]?.embedding);
        if (meantToFail || status !== 200 || j.error !== null || !answered) {
          c.wrongKind++;
          note(text);
        }
      } else if (!meantToFail || (status === 200 && j.error === null)) {
        c.wrongKind++;
        note(text);
      }
    });
    return c;
  };
  const output = await checkFile(b.output_file_id, 'output');
  const error = await checkFile(b.error_file_id, 'error');
  let missing = 0;
  for (let n = 1; n <= lines; n++) if (!seen[n]) missing++;
  const rc = b.request_counts;
  const countsMatch = rc.total === lines && rc.completed === output.lines && rc.failed === error.lines;
  const countsText = `request_counts total ${rc.total} / completed ${rc.completed} / failed ${rc.failed}; files ${output.lines} output + ${error.lines} error lines; ${lines} written`;
  const ok = countsMatch && missing === 0 && duplicates === 0 && output.outOfOrder + error.outOfOrder + output.unknown + error.unknown + output.wrongKind + error.wrongKind === 0;
  return { output, error, duplicates, missing, countsMatch, countsText, seconds: (performance.now() - t0) / 1000, ok };
}

// ---------------------------------------------------------------- sampling

interface MockStats {
  requests: number;
  inFlight: number;
  maxInFlight: number;
  busyMs: number;
}

async function mockStats(port: number): Promise<MockStats | undefined> {
  try {
    const res = await fetch(`http://${HOST}:${port}/stats`, { signal: AbortSignal.timeout(2000) });
    return (await res.json()) as MockStats;
  } catch {
    return undefined;
  }
}

interface Sample {
  /** Seconds since the batch was created. */
  t: number;
  rssMiB: number;
  /** Gateway CPU seconds since the batch was created. */
  cpu: number;
  /** The batch as the last poll saw it. */
  status: string;
  done: number;
}

/** Samples the gateway every SAMPLE_MS (synchronous /proc reads; the poll loop runs beside it). */
function sampler(pid: number, state: () => { status: string; done: number }, t0: number, cpu0: number): { samples: Sample[]; stop: () => void; peak: () => number } {
  const samples: Sample[] = [];
  let peak = 0;
  let last = -Infinity;
  const take = (): void => {
    last = performance.now();
    const rss = (() => {
      try {
        return rssMiB(pid);
      } catch {
        return NaN;
      }
    })();
    if (rss > peak) peak = rss;
    const s = state();
    samples.push({ t: (performance.now() - t0) / 1000, rssMiB: rss, cpu: tryCpuSeconds(pid) - cpu0, status: s.status, done: s.done });
  };
  take();
  const timer = setInterval(take, SAMPLE_MS);
  return {
    samples,
    stop: () => {
      clearInterval(timer);
      if (performance.now() - last > SAMPLE_MS / 4) take();
    },
    peak: () => peak,
  };
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const { values: opts } = parseArgs({
    args: process.argv.slice(2).filter((a) => a !== '--' && a !== '--batch'),
    options: {
      lines: { type: 'string' },
      concurrency: { type: 'string' },
      'delay-ms': { type: 'string' },
      'jitter-ms': { type: 'string' },
      'fail-every': { type: 'string' },
      endpoint: { type: 'string' },
      'timeout-seconds': { type: 'string' },
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
  const lines = numberOption(opts.lines, 50_000, '--lines', { integer: true, min: 1, max: 1_000_000 });
  const concurrency = numberOption(opts.concurrency, 64, '--concurrency', { integer: true, min: 1, max: 4096 });
  const delayMs = numberOption(opts['delay-ms'], 100, '--delay-ms', { min: 0, max: 60_000 });
  const jitterMs = numberOption(opts['jitter-ms'], 0, '--jitter-ms', { min: 0, max: delayMs });
  const failEvery = numberOption(opts['fail-every'], 1000, '--fail-every', { integer: true, min: 0, max: 1_000_000_000 });
  const endpoint = (opts.endpoint ?? 'chat') as Endpoint;
  if (!(endpoint in URLS)) throw new BenchError(`--endpoint wants chat or embeddings, got "${opts.endpoint}"`);
  const ceiling = delayMs > 0 ? concurrency / (delayMs / 1000) : Infinity;
  const timeoutSeconds = numberOption(opts['timeout-seconds'], Math.min(900, 60 + (Number.isFinite(ceiling) ? (5 * lines) / ceiling : 60)), '--timeout-seconds', { min: 1, max: 86_400 });
  const failing = failEvery > 0 ? Math.floor(lines / failEvery) : 0;

  const dir = makeTempDir('switchyard-batch-');
  pinSelf(CLIENT_CPU);
  if (!PIN) log('bench: taskset not available (or fewer than 2 CPUs): processes are NOT pinned');
  const inputPath = join(dir, 'input.jsonl');
  const genT0 = performance.now();
  const inputBytes = await writeInput(inputPath, lines, endpoint, failEvery);
  log(`bench: batch: ${lines} ${endpoint} lines (${fmt(inputBytes / 1e6, 1)} MB, written in ${fmt((performance.now() - genT0) / 1000, 1)} s), concurrency ${concurrency}, upstream delay ${delayMs}${jitterMs ? ` ± ${jitterMs}` : ''} ms, ceiling ${fmt(ceiling, 0)} lines/s`);

  const mock = await startListener(CLIENT_CPU, join(ROOT, 'bench', 'mock-upstream.ts'), ['--delay-ms', String(delayMs), '--jitter-ms', String(jitterMs), '--stats'], 'mock upstream');
  const uploadMb = Math.max(100, Math.ceil((inputBytes / 1e6) * 1.5));
  const gateway = await startGateway({
    dir,
    cpu: SERVER_CPU,
    upstreams: [`{ name: mock, type: openai, base_url: http://${HOST}:${mock.port}/v1, api_key: sk-upstream, models: [${MODEL}] }`],
    models: [`${MODEL}: { input_price: 0.15, output_price: 0.6 }`],
    nodeFlags: opts['gateway-node-flags']?.split(/\s+/).filter(Boolean),
    extraConfig: [
      `batch: { max_concurrency: ${concurrency}, per_batch_concurrency: ${concurrency}, max_lines: ${Math.max(50_000, lines)} }`,
      `files: { max_upload_mb: ${uploadMb} }`,
    ],
  });
  const key = await createKey(gateway.base, 'bench-batch');

  // One request through the gateway first: the route works and V8 has seen it once.
  {
    const res = await fetch(`${gateway.base}${URLS[endpoint]}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(lineBody(endpoint, 0, false)),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (res.status !== 200) throw new BenchError(`check request through the gateway answered ${res.status}: ${text.slice(0, 300)}`);
  }

  const quietPids = { server: () => [gateway.pid], client: () => [mock.pid] };
  await waitQuiet(quietPids);
  const rssIdle = rssMiB(gateway.pid);

  // Upload.
  const wallT0 = performance.now();
  let phase = { status: 'uploading', done: 0 };
  const cpuAtStart = tryCpuSeconds(gateway.pid);
  const mockCpuAtStart = tryCpuSeconds(mock.pid);
  const meter = otherLoadMeter(quietPids);
  const samp = sampler(gateway.pid, () => phase, wallT0, cpuAtStart);
  const file = await upload(gateway.base, key, inputPath);
  const uploadSeconds = (performance.now() - wallT0) / 1000;
  log(`  uploaded ${file.id} (${file.bytes} bytes) in ${fmt(uploadSeconds, 2)} s`);
  if (file.bytes !== inputBytes) throw new BenchError(`the uploaded file has ${file.bytes} bytes, the input ${inputBytes}`);

  // Create and poll.
  const createdT = performance.now();
  phase = { status: 'validating', done: 0 };
  let b = await api<BatchObject>(gateway.base, key, 'POST', '/v1/batches', { input_file_id: file.id, endpoint: URLS[endpoint], completion_window: '24h' });
  const seenAt: Record<string, number> = { validating: createdT };
  /** The mock's counters when the bench first saw in_progress and finalizing (or the end), and its in-flight count at each poll while in_progress. */
  const mockAt: Record<string, MockStats | undefined> = {};
  const upstreamInFlight: number[] = [];
  const deadline = createdT + timeoutSeconds * 1000;
  let lastLog = performance.now();
  let pollErrors = 0;
  let timedOut = false;
  while (!FINAL.has(b.status)) {
    await sleep(SAMPLE_MS);
    if (gateway.crashed()) throw new BenchError('the gateway exited during the batch');
    try {
      b = await api<BatchObject>(gateway.base, key, 'GET', `/v1/batches/${b.id}`, undefined, 10_000);
    } catch (err) {
      if (++pollErrors > 20) throw err;
      continue;
    }
    const now = performance.now();
    if (seenAt[b.status] === undefined) {
      seenAt[b.status] = now;
      mockAt[b.status] = await mockStats(mock.port);
    } else if (b.status === 'in_progress') {
      const m = await mockStats(mock.port);
      if (m) upstreamInFlight.push(m.inFlight);
    }
    phase = { status: b.status, done: b.request_counts.completed + b.request_counts.failed };
    if (now - lastLog > 5000) {
      lastLog = now;
      const s = samp.samples[samp.samples.length - 1];
      log(`  ${fmt((now - createdT) / 1000, 0)} s: ${b.status}, ${phase.done} / ${b.request_counts.total || lines} lines, gateway RSS ${fmt(s.rssMiB, 0)} MiB, CPU ${fmt(s.cpu, 1)} s`);
    }
    if (!FINAL.has(b.status) && now > deadline && !timedOut) {
      timedOut = true;
      log(`  the batch has not ended after ${timeoutSeconds} s: cancelling it`);
      await api<BatchObject>(gateway.base, key, 'POST', `/v1/batches/${b.id}/cancel`, {}).catch((err: unknown) => log(`  cancel failed: ${(err as Error).message}`));
    }
    if (now > deadline + 120_000) throw new BenchError(`the batch did not end within ${timeoutSeconds} s, nor 120 s after it was cancelled (status ${b.status})`);
  }
  const endedT = performance.now();
  const cpuAtEnd = tryCpuSeconds(gateway.pid);
  mockAt.end = await mockStats(mock.port);
  phase = { status: `${b.status} (download)`, done: phase.done };

  // Download and check.
  const check = await checkResults(gateway.base, key, b, lines, failEvery, endpoint);
  samp.stop();
  const otherLoad = meter.stop();
  const wallSeconds = (performance.now() - wallT0) / 1000;
  const mockCpu = tryCpuSeconds(mock.pid) - mockCpuAtStart;
  if (gateway.crashed()) throw new BenchError('the gateway exited during the run');
  await gateway.stop();
  await stopChild(mock.child);
  if (opts['gateway-log']) copyFileSync(gateway.logPath, resolve(opts['gateway-log']));

  report({
    lines, concurrency, delayMs, jitterMs, failEvery, failing, endpoint, ceiling, inputBytes, uploadSeconds, rssIdle, b, seenAt, createdT, endedT, wallT0,
    wallSeconds, gatewayCpu: cpuAtEnd - cpuAtStart, mockCpu, samples: samp.samples, peak: samp.peak(), check, otherLoad, timedOut, logPath: gateway.logPath, out: opts.out,
    mockAt, upstreamInFlight,
  });
}

// ---------------------------------------------------------------- report

function report(o: {
  lines: number;
  concurrency: number;
  delayMs: number;
  jitterMs: number;
  failEvery: number;
  failing: number;
  endpoint: Endpoint;
  ceiling: number;
  inputBytes: number;
  uploadSeconds: number;
  rssIdle: number;
  b: BatchObject;
  seenAt: Record<string, number>;
  createdT: number;
  endedT: number;
  wallT0: number;
  wallSeconds: number;
  gatewayCpu: number;
  mockCpu: number;
  samples: Sample[];
  peak: number;
  check: Check;
  otherLoad: [number, number];
  timedOut: boolean;
  logPath: string;
  out: string | undefined;
  mockAt: Record<string, MockStats | undefined>;
  upstreamInFlight: number[];
}): void {
  const { b, samples } = o;
  const rel = (t: number | undefined): number => (t === undefined ? NaN : (t - o.wallT0) / 1000);
  const inProgressT = o.seenAt.in_progress;
  const finalizingT = o.seenAt.finalizing ?? o.endedT;
  const validationSeconds = ((inProgressT ?? o.endedT) - o.createdT) / 1000;
  const runningSeconds = inProgressT === undefined ? NaN : (finalizingT - inProgressT) / 1000;
  const finalizingSeconds = (o.endedT - finalizingT) / 1000;
  const runSeconds = inProgressT === undefined ? NaN : (o.endedT - inProgressT) / 1000;
  const done = b.request_counts.completed + b.request_counts.failed;
  const rate = done / runSeconds;
  const runningRate = done / runningSeconds;
  const apiSeconds = b.completed_at !== null && b.in_progress_at !== null ? b.completed_at - b.in_progress_at : NaN;
  const apiRate = apiSeconds > 0 ? done / apiSeconds : NaN;
  const share = rate / o.ceiling;

  // Phases, from the 200 ms samples.
  const phases = [
    { name: 'upload', from: 0, to: rel(o.createdT) },
    { name: 'validating', from: rel(o.createdT), to: rel(inProgressT ?? o.endedT) },
    { name: 'in_progress', from: rel(inProgressT), to: rel(finalizingT) },
    { name: 'finalizing', from: rel(finalizingT), to: rel(o.endedT) },
    { name: 'download + check', from: rel(o.endedT), to: o.wallSeconds },
  ];
  const cpuAt = (t: number): number => {
    // Linear between the samples around t.
    let prev = samples[0];
    for (const s of samples) {
      if (s.t >= t) {
        if (s.t === prev.t) return s.cpu;
        return prev.cpu + ((s.cpu - prev.cpu) * (t - prev.t)) / (s.t - prev.t);
      }
      prev = s;
    }
    return prev.cpu;
  };
  const phaseRows = phases.map((p) => {
    const secs = p.to - p.from;
    const inside = samples.filter((s) => s.t >= p.from && s.t <= p.to);
    const cpu = Number.isFinite(secs) ? cpuAt(p.to) - cpuAt(p.from) : NaN;
    const perLine = p.name === 'upload' || p.name === 'download + check' ? NaN : (cpu * 1e6) / o.lines;
    return [p.name, fmt(secs, 2), fmt(cpu, 2), pct(cpu / secs), fmt(perLine, 0), fmt(Math.max(...inside.map((s) => s.rssMiB)), 1), fmt(inside.at(-1)?.rssMiB ?? NaN, 1)];
  });
  const batchCpu = cpuAt(rel(o.endedT)) - cpuAt(rel(o.createdT));
  const cpuPerLineUs = (batchCpu * 1e6) / o.lines;
  const runningCpu = cpuAt(rel(finalizingT)) - cpuAt(rel(inProgressT ?? o.endedT));
  const runningCpuShare = runningCpu / runningSeconds;
  const peakMB = (o.peak * 1024 * 1024) / 1e6;
  const running = samples.filter((s) => s.status === 'in_progress');
  // RSS against progress: the first and last tenth of the running phase.
  const tenth = Math.max(1, Math.floor(running.length / 10));
  const med = (xs: number[]): number => {
    const v = Float64Array.from(xs).sort();
    return v.length === 0 ? NaN : v.length % 2 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  };
  const rssEarly = med(running.slice(0, tenth).map((s) => s.rssMiB));
  const rssLate = med(running.slice(-tenth).map((s) => s.rssMiB));
  // Mean upstream concurrency while in_progress: the mock's busy time over the phase's wall time.
  const m0 = o.mockAt.in_progress;
  const m1 = o.mockAt.finalizing ?? o.mockAt.end;
  const meanUpstream = m0 && m1 ? (m1.busyMs - m0.busyMs) / 1000 / runningSeconds : NaN;
  const inFlightMedian = med(o.upstreamInFlight);

  const out: string[] = [];
  out.push('');
  out.push(
    `Switchyard batch — ${o.lines} ${o.endpoint} lines (${fmt(o.inputBytes / 1e6, 1)} MB), concurrency ${o.concurrency} (batch.per_batch_concurrency = batch.max_concurrency), ` +
      `upstream delay ${o.delayMs} ms${o.jitterMs ? ` ± ${o.jitterMs} ms (uniform)` : ' (fixed)'}; ${PIN ? `gateway on CPU ${SERVER_CPU}, mock upstream + bench on CPU ${CLIENT_CPU}` : 'unpinned'}; SQLite; ${machineLine()}`,
  );
  out.push(
    `Batch ${b.id}: ${b.status}${o.timedOut ? ' (cancelled by the bench: timeout)' : ''}; request_counts total ${b.request_counts.total}, completed ${b.request_counts.completed}, failed ${b.request_counts.failed} ` +
      `(${o.failing} lines meant to fail, every ${o.failEvery || '-'}th)${b.errors ? `; errors ${JSON.stringify(b.errors).slice(0, 300)}` : ''}`,
  );
  out.push('');
  out.push(
    `Throughput: ${fmt(rate, 0)} lines/s from in_progress to ${b.status} as the 200 ms polls saw it (${fmt(runSeconds, 2)} s); ` +
      `${fmt(apiRate, 0)} lines/s from the batch's in_progress_at and completed_at (${fmt(apiSeconds, 0)} s, whole seconds); ` +
      `${fmt(runningRate, 0)} lines/s while in_progress only (${fmt(runningSeconds, 2)} s, without finalizing)`,
  );
  out.push(`Ceiling concurrency / delay = ${o.concurrency} / ${o.delayMs} ms = ${fmt(o.ceiling, 0)} lines/s: measured ${pct(share)} of it (in_progress only: ${pct(runningRate / o.ceiling)})`);
  out.push(
    `Upstream concurrency while in_progress (the mock's count of requests it holds): mean ${fmt(meanUpstream, 1)} of ${o.concurrency}, median at the polls ${fmt(inFlightMedian, 0)}, ` +
      `max ${m1?.maxInFlight ?? '-'}; each line spent ${fmt((o.concurrency / runningRate) * 1000 - o.delayMs, 1)} ms in the gateway around the ${o.delayMs} ms upstream delay (concurrency / rate - delay)`,
  );
  out.push(
    `Wall time ${fmt(o.wallSeconds, 1)} s: upload ${fmt(o.uploadSeconds, 2)} s, validation ${fmt(validationSeconds, 2)} s (validating -> in_progress), ` +
      `running ${fmt(runningSeconds, 2)} s, finalizing ${fmt(finalizingSeconds, 2)} s, download + check ${fmt(o.check.seconds, 2)} s`,
  );
  out.push(
    `Gateway CPU: ${fmt(batchCpu, 1)} s from POST /v1/batches to ${b.status} = ${fmt(cpuPerLineUs, 0)} µs per line; while in_progress ${pct(runningCpuShare)} of CPU ${SERVER_CPU} ` +
      `(${fmt((runningCpu * 1e6) / Math.max(1, done), 0)} µs per line); whole run ${fmt(o.gatewayCpu, 1)} s; mock ${fmt(o.mockCpu, 1)} s; other load ${pct(o.otherLoad[0])} / ${pct(o.otherLoad[1])}`,
  );
  out.push(
    `Gateway RSS: ${fmt(o.rssIdle, 1)} MiB idle before the upload, peak ${fmt(o.peak, 1)} MiB (${fmt(peakMB, 0)} MB); while in_progress: median of the first tenth ${fmt(rssEarly, 1)} MiB, of the last tenth ${fmt(rssLate, 1)} MiB`,
  );
  out.push('');
  out.push('Phases (from the 200 ms samples):');
  out.push(table(['phase', 'seconds', 'gateway CPU s', 'CPU share', 'µs per line', 'peak RSS MiB', 'RSS at end MiB'], phaseRows, 1));
  out.push('');
  const every = Math.max(1, Math.round(samples.length / 20));
  out.push(`Every ${fmt((every * SAMPLE_MS) / 1000, 1)} s: t s / status / lines done / RSS MiB / gateway CPU share over the interval`);
  const series = samples.filter((_s, i) => i % every === 0 || i === samples.length - 1);
  out.push(
    series
      .map((s, i) => {
        const p = i > 0 ? series[i - 1] : s;
        const share2 = s.t > p.t ? (s.cpu - p.cpu) / (s.t - p.t) : NaN;
        return `  ${fmt(s.t, 1)} / ${s.status} / ${s.done} / ${fmt(s.rssMiB, 1)} / ${pct(share2)}`;
      })
      .join('\n'),
  );
  out.push('');
  const c = o.check;
  const fileLine = (name: string, f: FileCheck, id: string | null): string =>
    `  ${name} file ${id ?? '(none)'}: ${f.lines} lines, ${fmt(f.bytes / 1e6, 2)} MB; out of order ${f.outOfOrder}, unknown custom_id ${f.unknown}, wrong kind ${f.wrongKind}${f.examples.length ? `; e.g. ${f.examples.join(' | ')}` : ''}`;
  out.push(`Output check (${fmt(c.seconds, 2)} s): ${c.countsText}; ${c.duplicates} duplicate and ${c.missing} missing custom_ids`);
  out.push(fileLine('output', c.output, b.output_file_id));
  out.push(fileLine('error', c.error, b.error_file_id));
  out.push(summariseLog(o.logPath));
  if (Math.max(...o.otherLoad) > 0.05) out.push(`WARNING: other programs used ${pct(o.otherLoad[0])} / ${pct(o.otherLoad[1])} of CPU ${SERVER_CPU} / ${CLIENT_CPU}: figures are disturbed.`);
  if (runningCpuShare > 0.9) out.push(`NOTE: the gateway used ${pct(runningCpuShare)} of its core while in_progress: it, not the concurrency, set the pace.`);
  out.push('');
  const verdicts = [
    { target: `gateway peak RSS < ${TARGETS.rssMB} MB`, met: peakMB < TARGETS.rssMB, measured: `${fmt(o.peak, 1)} MiB = ${fmt(peakMB, 0)} MB (idle ${fmt(o.rssIdle, 1)} MiB)` },
    {
      target: `throughput >= ${pct(TARGETS.ceilingShare)} of concurrency / delay`,
      met: b.status === 'completed' && share >= TARGETS.ceilingShare,
      measured: `${fmt(rate, 0)} lines/s of ${fmt(o.ceiling, 0)} = ${fmt(share * 100, 1)} % (gateway CPU ${pct(runningCpuShare)} while in_progress)`,
    },
    { target: 'batch completed, every custom_id once, files in input order, request_counts match', met: b.status === 'completed' && c.ok, measured: `${b.status}; ${c.countsText}; ${c.duplicates} duplicates, ${c.missing} missing, ${c.output.outOfOrder + c.error.outOfOrder} out of order, ${c.output.wrongKind + c.error.wrongKind + c.output.unknown + c.error.unknown} wrong` },
  ];
  for (const v of verdicts) out.push(verdictLine(v.met, v.target, v.measured));
  process.stdout.write(`${out.join('\n')}\n`);

  if (o.out) {
    const json = {
      bench: 'batch',
      node: process.version,
      pinned: PIN,
      lines: o.lines,
      endpoint: o.endpoint,
      concurrency: o.concurrency,
      delayMs: o.delayMs,
      jitterMs: o.jitterMs,
      failEvery: o.failEvery,
      inputBytes: o.inputBytes,
      ceilingLinesPerSecond: o.ceiling,
      linesPerSecond: rate,
      linesPerSecondApi: apiRate,
      linesPerSecondRunning: runningRate,
      seconds: { wall: o.wallSeconds, upload: o.uploadSeconds, validation: validationSeconds, running: runningSeconds, finalizing: finalizingSeconds, check: c.seconds },
      gateway: { cpuSeconds: batchCpu, cpuUsPerLine: cpuPerLineUs, runningCpuShare, rssIdleMiB: o.rssIdle, peakRssMiB: o.peak, rssEarlyMiB: rssEarly, rssLateMiB: rssLate },
      upstream: { meanConcurrency: meanUpstream, medianInFlightAtPolls: inFlightMedian, maxInFlight: m1?.maxInFlight ?? null, mock: o.mockAt },
      otherLoad: o.otherLoad,
      batch: b,
      check: c,
      samples,
      verdicts,
    };
    writeFileSync(resolve(o.out), `${JSON.stringify(json, null, 2)}\n`);
  }
}

runMain(main);
