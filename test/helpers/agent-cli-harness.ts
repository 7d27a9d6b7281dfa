/**
 * What the agent-CLI e2e tests (test/e2e/agent-cli.test.ts, codex-cli.test.ts) share to run a real
 * command-line tool through the gateway, offline:
 *
 * - a recording proxy in front of the gateway that forwards byte for byte (streams too) and keeps
 *   every request the CLI sent (path with query, headers, parsed body, the gateway's status);
 * - a trap for HTTP(S)_PROXY that refuses and records anything headed off the machine;
 * - a sandbox per run (fresh HOME, TMPDIR and working directory holding `notes.txt` with a secret);
 * - `runCli`: the CLI's Node entry run with this Node and an environment built from scratch (only
 *   PATH is inherited), in its own process group that is killed when it ends or times out;
 * - the readable record, test-tools/observed-requests.md: each test file rewrites only its own
 *   section of it (`writeObservedSection`).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TOOLS_DIR = fileURLToPath(new URL('../../test-tools/', import.meta.url));
/** test-tools/package.json's pins, by package name. */
export const PINNED = JSON.parse(readFileSync(join(TOOLS_DIR, 'package.json'), 'utf8')).dependencies as Record<string, string>;

/** One CLI run: bounded well under the test timeout, so a hung CLI fails the test with its output. */
export const RUN_TIMEOUT_MS = 60_000;
export const TEST_TIMEOUT_MS = 90_000;

export const SECRET = 'TANGERINE-7741';
export const SECRET_FILE = 'notes.txt';
export const mentionsSecret = (body: unknown): boolean => JSON.stringify(body ?? null).includes(SECRET);

// ---------------------------------------------------------------------------------------------
// Recording proxy in front of the gateway, and a trap for anything headed off the machine
// ---------------------------------------------------------------------------------------------

export interface GatewayCall {
  method: string;
  /** Path with the query string, exactly as the CLI sent it. */
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body, or undefined. */
  body: any;
  /** The gateway's status, or 0 when the gateway could not be reached. */
  status: number;
  /** The gateway's response headers (x-switchyard-warnings among them), once it answered. */
  responseHeaders?: IncomingHttpHeaders;
  /** For answers that were not 2xx: the first part of the gateway's body, for the failure message. */
  errorBody?: string;
}

export interface RecordingProxy {
  url: string;
  /** Where requests go; tests switch it between gateways. */
  target: string;
  calls: GatewayCall[];
  close(): Promise<void>;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Forwards everything to the gateway byte for byte (streams too) and records each request. */
export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const calls: GatewayCall[] = [];
  const server = createServer((req, res) => {
    const t = new URL(proxy.target);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      let body: unknown;
      try {
        body = raw.length > 0 ? JSON.parse(raw.toString('utf8')) : undefined;
      } catch {
        body = undefined;
      }
      const call: GatewayCall = { method: req.method ?? 'GET', path: req.url ?? '/', headers: { ...req.headers }, body, status: 0 };
      calls.push(call);
      const upstream = httpRequest(
        { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: { ...req.headers, host: t.host } },
        (up) => {
          call.status = up.statusCode ?? 0;
          call.responseHeaders = { ...up.headers };
          res.writeHead(up.statusCode ?? 502, up.headers);
          if (call.status >= 300) {
            const errChunks: Buffer[] = [];
            up.on('data', (c: Buffer) => {
              if (errChunks.length < 4) errChunks.push(c);
            });
            up.on('end', () => (call.errorBody = Buffer.concat(errChunks).toString('utf8').slice(0, 500)));
          }
          up.pipe(res);
        },
      );
      upstream.on('error', (err) => {
        call.errorBody = String(err);
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('recording proxy: gateway unreachable');
      });
      upstream.end(raw);
    });
  });
  const proxy: RecordingProxy = { url: '', target, calls, close: () => closeServer(server) };
  proxy.url = await listen(server);
  return proxy;
}

export interface TrapProxy {
  url: string;
  /** `CONNECT host:port` for HTTPS, or the absolute URL of a plain-HTTP proxy request. */
  attempts: string[];
  close(): Promise<void>;
}

/** HTTP(S)_PROXY for the CLIs: refuses every request and records where it was headed. */
export async function startTrapProxy(): Promise<TrapProxy> {
  const attempts: string[] = [];
  const server = createServer((req, res) => {
    attempts.push(`${req.method} ${req.url}`);
    res.writeHead(403, { 'content-type': 'text/plain' });
    res.end('blocked by the agent-cli test trap');
  });
  server.on('connect', (req, socket) => {
    attempts.push(`CONNECT ${req.url}`);
    socket.on('error', () => {});
    socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
  });
  const url = await listen(server);
  return { url, attempts, close: () => closeServer(server) };
}

/** The proxy variables, both spellings: everything but 127.0.0.1/localhost goes to the trap. */
export function proxyEnv(trap: TrapProxy): Record<string, string> {
  return {
    HTTPS_PROXY: trap.url,
    HTTP_PROXY: trap.url,
    https_proxy: trap.url,
    http_proxy: trap.url,
    NO_PROXY: '127.0.0.1,localhost',
    no_proxy: '127.0.0.1,localhost',
  };
}

// ---------------------------------------------------------------------------------------------
// Running a CLI in a sandbox
// ---------------------------------------------------------------------------------------------

export interface Sandbox {
  home: string;
  cwd: string;
  tmp: string;
  remove(): void;
}

/** A fresh HOME, TMPDIR and working directory; the working directory holds SECRET_FILE with SECRET in it. */
export function makeSandbox(): Sandbox {
  const root = mkdtempSync(join(tmpdir(), 'switchyard-agent-cli-'));
  const sandbox = { home: join(root, 'home'), cwd: join(root, 'work'), tmp: join(root, 'tmp') };
  for (const dir of Object.values(sandbox)) mkdirSync(dir, { recursive: true });
  writeFileSync(join(sandbox.cwd, SECRET_FILE), `Meeting notes.\nThe passphrase is ${SECRET}.\n`);
  return { ...sandbox, remove: () => rmSync(root, { recursive: true, force: true }) };
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs a CLI's JavaScript entry with this Node (20) and a built-from-scratch environment: only PATH
 * is taken from the test process, so no ANTHROPIC_* / GEMINI_* / OPENAI_* / proxy setting of the
 * machine leaks in. Standard input is closed.
 */
export function runCli(entry: string, args: string[], env: Record<string, string>, cwd: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry, ...args], {
      cwd,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        TERM: 'dumb',
        NO_COLOR: '1',
        LANG: 'C.UTF-8',
        ...(env.HOME
          ? { XDG_CONFIG_HOME: join(env.HOME, '.config'), XDG_CACHE_HOME: join(env.HOME, '.cache'), XDG_DATA_HOME: join(env.HOME, '.local/share'), XDG_STATE_HOME: join(env.HOME, '.local/state') }
          : {}),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, RUN_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      // Anything the CLI left running in its process group (shell tools) goes with it.
      killGroup();
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** For failure messages: exit, every request to the gateway with its status, and the ends of stdout and stderr. */
export function describeRun(r: RunResult, calls: GatewayCall[]): string {
  const lines = calls.map((c) => `  ${c.method} ${c.path} -> ${c.status}${c.errorBody ? ` ${c.errorBody.replace(/\s+/g, ' ').slice(0, 300)}` : ''}`);
  return [
    `exit code ${r.code}${r.signal ? ` signal ${r.signal}` : ''}${r.timedOut ? ` (killed after ${RUN_TIMEOUT_MS} ms)` : ''}`,
    `requests to the gateway:\n${lines.join('\n') || '  (none)'}`,
    `stdout:\n${r.stdout.slice(-3000)}`,
    `stderr:\n${r.stderr.slice(-3000)}`,
  ].join('\n');
}

/** A command line for the record: arguments with spaces quoted. */
export function shellWords(args: string[]): string {
  return args.map((a) => (/[\s"'$]/.test(a) ? JSON.stringify(a) : a)).join(' ');
}

// ---------------------------------------------------------------------------------------------
// What the CLIs sent, in a form the tests and the record can state
// ---------------------------------------------------------------------------------------------

export function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
}

export function countOccurrences(value: unknown, key: string): number {
  let n = 0;
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        if (k === key) n++;
        walk(child);
      }
    }
  };
  walk(value);
  return n;
}

export function authKind(h: IncomingHttpHeaders, path: string): string {
  if (header(h, 'x-api-key')) return 'x-api-key';
  if (header(h, 'x-goog-api-key')) return 'x-goog-api-key';
  if (/^bearer /i.test(header(h, 'authorization') ?? '')) return 'authorization: Bearer';
  if (/[?&]key=/.test(path)) return '?key=';
  return 'none';
}

// ---------------------------------------------------------------------------------------------
// The readable record: test-tools/observed-requests.md
// ---------------------------------------------------------------------------------------------

export const OBSERVED_FILE = join(TOOLS_DIR, 'observed-requests.md');
/** The parts of observed-requests.md, in order: agent-cli.test.ts's (Claude Code, Gemini CLI), then codex-cli.test.ts's. */
export const OBSERVED_SECTIONS = ['agent-cli', 'codex'] as const;

/** A markdown table cell: JSON for non-strings, in backticks, pipes escaped. */
export const cell = (v: unknown): string => {
  if (v === undefined) return '';
  const text = typeof v === 'string' ? v : JSON.stringify(v);
  return `\`${text.replace(/\|/g, '\\|')}\``;
};

export function table(head: string[], rows: unknown[][]): string[] {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.map((v) => (typeof v === 'number' ? String(v) : cell(v))).join(' | ')} |`)];
}

const SECTION_MARK = /^<!-- observed: ([a-z0-9-]+) -->$/;

/**
 * Replaces one test file's section of test-tools/observed-requests.md (from its
 * `<!-- observed: ID -->` line to the next such line), keeping the other files' sections;
 * a section not there yet is added in `order` (ids not in it go last).
 */
export function writeObservedSection(id: string, lines: string[], order: readonly string[] = OBSERVED_SECTIONS): void {
  const sections = new Map<string, string[]>();
  if (existsSync(OBSERVED_FILE)) {
    let current: string[] | undefined;
    for (const line of readFileSync(OBSERVED_FILE, 'utf8').split('\n')) {
      const m = SECTION_MARK.exec(line);
      if (m) sections.set(m[1], (current = []));
      else current?.push(line);
    }
  }
  sections.set(id, [...lines]);
  const rank = (k: string) => (order.includes(k) ? order.indexOf(k) : order.length);
  const ids = [...sections.keys()].sort((a, b) => rank(a) - rank(b));
  const out = ids.flatMap((k) => {
    const body = sections.get(k) ?? [];
    while (body.length > 0 && body.at(-1) === '') body.pop();
    return [`<!-- observed: ${k} -->`, ...body, ''];
  });
  // Read and written in one synchronous stretch, through a rename, so that two test files finishing together
  // (vitest runs files in parallel) neither tear the file nor, but for that instant, drop each other's part.
  const tmp = `${OBSERVED_FILE}.${process.pid}.tmp`;
  writeFileSync(tmp, out.join('\n'));
  renameSync(tmp, OBSERVED_FILE);
}
