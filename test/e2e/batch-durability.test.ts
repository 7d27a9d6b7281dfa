/**
 * Batches survive what production throws at them: a gateway killed with SIGKILL
 * mid-batch resumes after restart and still writes each custom_id exactly once;
 * two instances on one PostgreSQL share the lines of one batch without running a
 * line twice.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpenAISimulator, type OpenAISimulator } from '../helpers/openai-simulator.ts';
import { PG_URL, postgresTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const UPSTREAM_KEY = 'sk-upstream-durability-0123456789';
const ADMIN_KEY = 'sk-admin-durability-0123456789';

let sim: OpenAISimulator;
let dir: string;
/** Every server process started, so a failing test does not leave one running. */
const spawned = new Set<ChildProcess>();

beforeAll(async () => {
  sim = await startOpenAISimulator({ apiKey: UPSTREAM_KEY });
  // A little latency per call, so a batch is still running when the test strikes.
  sim.handler = () => ({ type: 'text', text: 'ok', firstByteDelayMs: 5 });
  dir = mkdtempSync(join(tmpdir(), 'switchyard-durability-'));
});

afterAll(async () => {
  for (const p of spawned) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await sim?.close();
});

function jsonlOf(n: number): Buffer {
  const lines = Array.from({ length: n }, (_, i) =>
    JSON.stringify({ custom_id: `line-${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `n ${i}` }], max_tokens: 5 } }),
  );
  return Buffer.from(`${lines.join('\n')}\n`);
}

async function outputIds(c: OpenAI, b: OpenAI.Batches.Batch): Promise<string[]> {
  const ids: string[] = [];
  for (const f of [b.output_file_id, b.error_file_id]) {
    if (!f) continue;
    for (const l of (await (await c.files.content(f)).text()).split('\n').filter(Boolean)) ids.push((JSON.parse(l) as { custom_id: string }).custom_id);
  }
  return ids;
}

async function waitFor<T>(fn: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Proc {
  proc: ChildProcess;
  url: string;
  output: () => string;
}

async function startServer(configPath: string): Promise<Proc> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--config', configPath], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  spawned.add(proc);
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const until = Date.now() + 30_000;
  while (!out.includes('switchyard ready')) {
    if (proc.exitCode !== null) throw new Error(`server exited: ${out}`);
    if (Date.now() > until) {
      proc.kill('SIGKILL');
      throw new Error(`server did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, url: /"url":"(http[^"]+)"/.exec(out)?.[1] as string, output: () => out };
}

describe('a gateway killed mid-batch', () => {
  it('resumes after restart and writes each of 2,000 custom_ids exactly once, in order', { timeout: 120_000 }, async () => {
    const config = join(dir, 'kill.yaml');
    writeFileSync(
      config,
      `listen: { host: 127.0.0.1, port: 0 }
database: sqlite:${join(dir, 'kill.db')}
data_dir: ${join(dir, 'kill-data')}
admin_key: ${ADMIN_KEY}
log_level: info
upstreams:
  - { name: main, type: openai, base_url: ${sim.url}, api_key: ${UPSTREAM_KEY}, models: [gpt-4o-mini] }
batch: { poll_ms: 50, per_batch_concurrency: 16, claim_seconds: 2 }
`,
    );
    let server = await startServer(config);
    const created = await fetch(`${server.url}/admin/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'durable' }),
    });
    const key = ((await created.json()) as { key: string }).key;
    let client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: key, maxRetries: 0 });
    const file = await client.files.create({ file: await toFile(jsonlOf(2000), 'big.jsonl'), purpose: 'batch' });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await waitFor(async () => {
      const b = await client.batches.retrieve(batch.id);
      return (b.request_counts?.completed ?? 0) >= 300 ? b : undefined;
    }, 60_000, 'progress');
    server.proc.kill('SIGKILL');
    await new Promise((r) => server.proc.once('exit', r));
    const callsAtKill = sim.requests.length;

    server = await startServer(config);
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: key, maxRetries: 0 });
    const done = await waitFor(async () => {
      const b = await client.batches.retrieve(batch.id);
      return b.status === 'completed' ? b : undefined;
    }, 90_000, 'completion after restart');
    expect(done.request_counts).toEqual({ total: 2000, completed: 2000, failed: 0 });
    const ids = await outputIds(client, done);
    expect(ids).toEqual(Array.from({ length: 2000 }, (_, i) => `line-${i}`));
    // The restarted instance ran what was left, not the whole file again.
    expect(callsAtKill).toBeGreaterThanOrEqual(300);
    expect(sim.requests.length).toBeLessThan(2000 + 100);
    server.proc.kill('SIGTERM');
    await new Promise((r) => server.proc.once('exit', r));
  });
});

describe.skipIf(!PG_URL)('two instances on one PostgreSQL', () => {
  let db: TestDatabase;
  let a: TestGateway;
  let b: TestGateway;

  beforeAll(async () => {
    db = await postgresTestDatabase();
    const shared = join(dir, 'shared-files');
    const config = {
      upstreams: [{ name: 'main', type: 'openai', base_url: sim.url, api_key: UPSTREAM_KEY, models: ['gpt-4o-mini'] }],
      // Both instances read the same files: a shared directory (or object store) is what several instances need.
      files: { dir: shared },
      batch: { poll_ms: 30, per_batch_concurrency: 4 },
    };
    a = await startTestGateway(config, { database: db.url });
    b = await startTestGateway(config, { database: db.url });
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  it('share the lines of one batch, each run once', { timeout: 60_000 }, async () => {
    const key = (await a.createKey({ name: 'shared' })).key;
    const client = new OpenAI({ baseURL: a.baseURL, apiKey: key, maxRetries: 0 });
    const before = sim.requests.length;
    const file = await client.files.create({ file: await toFile(jsonlOf(300), 'shared.jsonl'), purpose: 'batch' });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const viaB = new OpenAI({ baseURL: b.baseURL, apiKey: key, maxRetries: 0 });
    const done = await waitFor(async () => {
      const x = await viaB.batches.retrieve(batch.id);
      return x.status === 'completed' ? x : undefined;
    }, 50_000, 'completion');
    expect(await outputIds(client, done)).toEqual(Array.from({ length: 300 }, (_, i) => `line-${i}`));
    // Exactly one upstream call per line: no line ran on both instances.
    expect(sim.requests.length - before).toBe(300);
    const owners = await a.store.db.selectFrom('batch_lines').select('claimed_by').distinct().where('batch_id', '=', batch.id).execute();
    expect(owners.length).toBe(2);
  });
});
