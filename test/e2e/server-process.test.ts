import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/db.ts';
import { startOpenAISimulator, type OpenAISimulator } from '../helpers/openai-simulator.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const UPSTREAM_KEY = 'sk-upstream-process-test-secret-XYZ';

interface Server {
  proc: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts the real CLI (`npm start` runs the same command) and waits until it listens. */
async function startServer(configPath: string, env: Record<string, string> = {}): Promise<Server> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--config', configPath], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const until = Date.now() + 30_000;
  while (!out.includes('switchyard ready')) {
    if (proc.exitCode !== null) throw new Error(`server exited: ${out}`);
    if (Date.now() > until) throw new Error(`server did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = /"url":"(http[^"]+)"/.exec(out)?.[1] as string;
  return { proc, url, output: () => out, exited };
}

let sim: OpenAISimulator;
let dir: string;

beforeAll(async () => {
  sim = await startOpenAISimulator({ apiKey: UPSTREAM_KEY });
  dir = mkdtempSync(join(tmpdir(), 'switchyard-proc-'));
});

afterAll(async () => {
  await sim?.close();
});

function writeConfig(name: string, extra: string): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    `listen: { host: 127.0.0.1, port: 0 }
database: sqlite:${join(dir, `${name}.db`)}
log_level: debug
upstreams:
  - name: main
    type: openai
    base_url: ${sim.url}
    api_key: \${TEST_UPSTREAM_KEY}
    models: [gpt-4o-mini]
${extra}`,
  );
  return path;
}

describe('the gateway process', () => {
  it('creates keys from the CLI, drains streams on SIGTERM, flushes usage and logs no secret', async () => {
    const config = writeConfig('main.yaml', 'admin_key: ${TEST_ADMIN_KEY}\n');
    const env = { TEST_UPSTREAM_KEY: UPSTREAM_KEY, TEST_ADMIN_KEY: 'sk-admin-process-test' };
    const cli = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'keys', 'create', '--name', 'proc', '--quota-tokens', '100000', '--config', config], {
      cwd: ROOT,
      env: { ...process.env, ...env },
    });
    const secret = cli.stdout.split('\n').find((l) => /^sk-[A-Za-z0-9_-]+$/.test(l));
    expect(secret).toBeTruthy();

    const server = await startServer(config, env);
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: secret as string, maxRetries: 0 });
    expect((await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })).choices[0].message.content).toBeTruthy();

    sim.enqueue({ type: 'text', text: Array.from({ length: 12 }, (_, i) => `w${i}`).join(' '), chunkDelayMs: 100, promptTokens: 8, completionTokens: 12 });
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'long' }] })
      .withResponse();
    let words = 0;
    let signalled = false;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content) words += 1;
      if (!signalled) {
        server.proc.kill('SIGTERM');
        signalled = true;
      }
    }
    // The in-flight stream finished after SIGTERM...
    expect(words).toBe(12);
    // ...and the process then exited cleanly.
    expect(await server.exited).toBe(0);

    const store = openStore(`sqlite:${join(dir, 'main.yaml.db')}`);
    const rec = await store.db.selectFrom('usage_records').selectAll().where('request_id', '=', response.headers.get('x-request-id') as string).executeTakeFirst();
    await store.close();
    expect(rec).toMatchObject({ prompt_tokens: 8, completion_tokens: 12, status: 200 });

    const logs = server.output();
    expect(logs).toContain('"level"');
    expect(logs).not.toContain(UPSTREAM_KEY);
    expect(logs).not.toContain(secret as string);
    expect(logs).not.toContain('sk-admin-process-test');
  });

  it('generates an admin key on first start, prints it once and stores only its hash', async () => {
    const config = writeConfig('gen.yaml', '');
    const first = await startServer(config, { TEST_UPSTREAM_KEY: UPSTREAM_KEY });
    const adminKey = /Generated admin key[^\n]*\n(\S+)/.exec(first.output())?.[1];
    expect(adminKey).toMatch(/^sk-admin-/);
    const ok = await fetch(`${first.url}/admin/keys`, { headers: { authorization: `Bearer ${adminKey}` } });
    expect(ok.status).toBe(200);
    first.proc.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = await startServer(config, { TEST_UPSTREAM_KEY: UPSTREAM_KEY });
    expect(second.output()).not.toContain('Generated admin key');
    expect((await fetch(`${second.url}/admin/keys`, { headers: { authorization: `Bearer ${adminKey}` } })).status).toBe(200);
    second.proc.kill('SIGTERM');
    expect(await second.exited).toBe(0);

    const store = openStore(`sqlite:${join(dir, 'gen.yaml.db')}`);
    const settings = await store.db.selectFrom('settings').selectAll().execute();
    await store.close();
    expect(JSON.stringify(settings)).not.toContain(adminKey as string);
  });

  it('refuses to start on an invalid config, naming the bad field', async () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, 'listen: { port: "http" }\n');
    const err = (await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--config', path], { cwd: ROOT }).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(err.code).toBe(1);
    expect(err.stderr).toContain('listen.port');
  });
});
