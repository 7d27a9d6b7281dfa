/**
 * The agent command-line tools people point at a gateway every day, run for real in their
 * non-interactive modes through Switchyard, offline, against upstream simulators of the same
 * format and of another format:
 *
 * - Claude Code (`@anthropic-ai/claude-code`, `claude -p`) with `ANTHROPIC_BASE_URL`;
 * - Gemini CLI (`@google/gemini-cli`, `gemini -p`) with `GOOGLE_GEMINI_BASE_URL`.
 *
 * Both are large, so they live in their own package, test-tools/, which `.ci/run` installs
 * (`npm ci --prefix test-tools`); without it these tests skip. Versions are pinned there to the
 * newest that install on Node 20. Claude Code 2.1.197 is a native executable brought by a
 * per-platform optional dependency (@anthropic-ai/claude-code-linux-x64, ...); its postinstall,
 * which would copy it over bin/claude.exe, is turned off there, so the tests start it through the
 * package's own Node launcher, cli-wrapper.cjs (2.1.112 and earlier shipped cli.js; from 2.1.200
 * on, the package needs Node >= 22). Gemini CLI is a plain JavaScript bundle.
 *
 * Each run gets a fresh HOME and working directory (nothing of the machine's own configuration
 * leaks in), the tools' own switches for telemetry, auto-update, error reporting and other
 * background traffic, and HTTP(S)_PROXY pointing at a trap on 127.0.0.1 that refuses and records
 * anything that would still leave the machine. A recording proxy in front of the gateway keeps every
 * request the CLI sent, so the tests state exactly what these clients send: paths with query
 * strings, beta headers, thinking and cache-control fields, how many tools, and where Claude
 * Code puts its mid-conversation system messages (`role: "system"` inside `messages`).
 *
 * Codex CLI, which speaks only the Responses API, runs in codex-cli.test.ts; the proxies, sandbox
 * and runner both use are in test/helpers/agent-cli-harness.ts.
 *
 * `WRITE_OBSERVED_REQUESTS=1 npx vitest run test/e2e/agent-cli.test.ts` rewrites this file's part
 * of test-tools/observed-requests.md from what the runs recorded.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAnthropicSimulator, type AnthropicSimulator, type RecordedRequest as AnthropicRecorded } from '../helpers/anthropic-simulator.ts';
import { startGeminiSimulator, type GeminiRecordedRequest as GeminiRecorded, type GeminiSimulator } from '../helpers/gemini-simulator.ts';
import { startOpenAISimulator, type OpenAISimulator, type RecordedRequest as OpenAIRecorded } from '../helpers/openai-simulator.ts';
import {
  authKind,
  cell,
  countOccurrences,
  describeRun,
  type GatewayCall,
  header,
  makeSandbox,
  mentionsSecret,
  PINNED,
  proxyEnv,
  type RecordingProxy,
  type RunResult,
  runCli,
  type Sandbox,
  SECRET,
  SECRET_FILE,
  startRecordingProxy,
  startTrapProxy,
  table,
  TEST_TIMEOUT_MS,
  TOOLS_DIR,
  type TrapProxy,
  writeObservedSection,
} from '../helpers/agent-cli-harness.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

/** Claude Code's Node launcher: it finds the platform's native binary and runs it with the same arguments. */
const CLAUDE_JS = join(TOOLS_DIR, 'node_modules/@anthropic-ai/claude-code/cli-wrapper.cjs');
const GEMINI_JS = join(TOOLS_DIR, 'node_modules/@google/gemini-cli/bundle/gemini.js');
const TOOLS_INSTALLED = existsSync(CLAUDE_JS) && existsSync(GEMINI_JS);
if (!TOOLS_INSTALLED) {
  console.warn('agent-cli e2e tests skipped: test-tools/node_modules is absent (install it with `npm ci --prefix test-tools`).');
}

const UPSTREAM_KEY = 'sk-upstream-agent-cli-0123456789';

/** What Claude Code 2.1.197 asks for in `-p` mode by default: one model for the main loop, no background calls with nonessential traffic off. */
const CLAUDE_MAIN_MODEL = 'claude-opus-4-8';
/** Its small-fast model, for the background jobs it would run (titles, summaries); listed so they resolve if they ever come. */
const CLAUDE_SMALL_MODEL = 'claude-haiku-4-5-20251001';
/** A model that is not Claude (`claude --model gpt-5.5`), as people run Claude Code on an OpenAI model through a gateway. */
const CLAUDE_CROSS_MODEL = 'gpt-5.5';
/** The first words of the mid-conversation system message Claude Code 2.1.197 puts right after the user's prompt. */
const CLAUDE_SYSTEM_MESSAGE_START = 'Available agent types for the Agent tool:';
/** Gemini CLI 0.61.0 with model "auto": a routing classifier call on the lite model, then the main model. */
const GEMINI_ROUTER_MODEL = 'gemini-3.5-flash-lite';
const GEMINI_MAIN_MODEL = 'gemini-3.8-flash';

// ---------------------------------------------------------------------------------------------
// Each CLI's own settings: where to send model calls, and every background sender off
// ---------------------------------------------------------------------------------------------

/** Claude Code's own switches for everything but the model calls (names checked in its cli.js). */
function claudeEnv(sb: Sandbox, baseUrl: string, trap: TrapProxy, auth: { apiKey: string } | { authToken: string }): Record<string, string> {
  return {
    HOME: sb.home,
    TMPDIR: sb.tmp,
    CLAUDE_CONFIG_DIR: join(sb.home, '.claude'),
    ANTHROPIC_BASE_URL: baseUrl,
    ...('apiKey' in auth ? { ANTHROPIC_API_KEY: auth.apiKey } : { ANTHROPIC_AUTH_TOKEN: auth.authToken }),
    // Covers DISABLE_AUTOUPDATER, DISABLE_TELEMETRY, DISABLE_ERROR_REPORTING and /feedback; set each too, as the docs list them.
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    DISABLE_BUG_COMMAND: '1',
    ...proxyEnv(trap),
  };
}

function claudeArgs(prompt: string, maxTurns: number, model?: string): string[] {
  return ['-p', prompt, '--output-format', 'json', '--max-turns', String(maxTurns), ...(model ? ['--model', model] : [])];
}

/** ~/.gemini/settings.json: API-key auth chosen up front (no auth dialog), every background sender off. */
const GEMINI_SETTINGS = {
  general: { enableAutoUpdate: false, enableAutoUpdateNotification: false },
  privacy: { usageStatisticsEnabled: false },
  telemetry: { enabled: false },
  security: { auth: { selectedType: 'gemini-api-key' }, folderTrust: { enabled: false } },
};

function geminiEnv(sb: Sandbox, baseUrl: string, trap: TrapProxy, apiKey: string): Record<string, string> {
  mkdirSync(join(sb.home, '.gemini'), { recursive: true });
  writeFileSync(join(sb.home, '.gemini', 'settings.json'), JSON.stringify(GEMINI_SETTINGS, null, 2));
  return {
    HOME: sb.home,
    TMPDIR: sb.tmp,
    GEMINI_API_KEY: apiKey,
    GOOGLE_GEMINI_BASE_URL: baseUrl,
    // Without it the CLI re-spawns itself with a bigger heap; one process is easier to bound and kill.
    GEMINI_CLI_NO_RELAUNCH: 'true',
    // The machine-wide settings files (/etc/gemini-cli/...) stay out of it too.
    GEMINI_CLI_SYSTEM_SETTINGS_PATH: join(sb.home, 'system-settings.json'),
    GEMINI_CLI_SYSTEM_DEFAULTS_PATH: join(sb.home, 'system-defaults.json'),
    ...proxyEnv(trap),
  };
}

function geminiArgs(prompt: string): string[] {
  return ['-p', prompt, '--yolo', '--output-format', 'json'];
}

// ---------------------------------------------------------------------------------------------
// What the CLIs sent, in a form the tests and the snapshot file can state
// ---------------------------------------------------------------------------------------------

interface AnthropicCallSummary {
  request: string;
  status: number;
  auth: string;
  anthropicVersion?: string;
  anthropicBeta: string[];
  model?: string;
  stream?: boolean;
  maxTokens?: number;
  fields: string[];
  thinking?: unknown;
  cacheControl: number;
  tools: string[];
  messages?: number;
  /** Roles of `messages`, in order ('system' for a mid-conversation system message). */
  roles: string[];
}

function summarizeAnthropicCall(c: GatewayCall): AnthropicCallSummary {
  const b = c.body && typeof c.body === 'object' ? c.body : undefined;
  return {
    request: `${c.method} ${c.path}`,
    status: c.status,
    auth: authKind(c.headers, c.path),
    anthropicVersion: header(c.headers, 'anthropic-version'),
    anthropicBeta: (header(c.headers, 'anthropic-beta') ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    model: b?.model,
    stream: b?.stream,
    maxTokens: b?.max_tokens,
    fields: b ? Object.keys(b).sort() : [],
    thinking: b?.thinking,
    cacheControl: countOccurrences(b, 'cache_control'),
    tools: Array.isArray(b?.tools) ? b.tools.map((t: { name?: string; type?: string }) => t.name ?? t.type) : [],
    messages: Array.isArray(b?.messages) ? b.messages.length : undefined,
    roles: Array.isArray(b?.messages) ? b.messages.map((m: { role?: string }) => String(m.role)) : [],
  };
}

interface GeminiCallSummary {
  request: string;
  status: number;
  auth: string;
  model?: string;
  fields: string[];
  generationConfig: string[];
  thinkingConfig?: unknown;
  responseJsonSchema: boolean;
  systemInstruction: boolean;
  tools: string[];
  /** How the function declarations give their schemas: parametersJsonSchema or parameters. */
  schemaFields: string[];
  contents?: number;
}

function summarizeGeminiCall(c: GatewayCall): GeminiCallSummary {
  const b = c.body && typeof c.body === 'object' ? c.body : undefined;
  const decls: Array<Record<string, unknown>> = Array.isArray(b?.tools) ? b.tools.flatMap((t: { functionDeclarations?: unknown[] }) => t.functionDeclarations ?? []) : [];
  const gc = b?.generationConfig && typeof b.generationConfig === 'object' ? b.generationConfig : {};
  return {
    request: `${c.method} ${c.path}`,
    status: c.status,
    auth: authKind(c.headers, c.path),
    model: /\/models\/([^:/?]+)/.exec(c.path)?.[1],
    fields: b ? Object.keys(b).sort() : [],
    generationConfig: Object.keys(gc).sort(),
    thinkingConfig: gc.thinkingConfig,
    responseJsonSchema: gc.responseJsonSchema !== undefined || gc.responseSchema !== undefined,
    systemInstruction: b?.systemInstruction !== undefined,
    tools: decls.map((d) => String(d.name)),
    schemaFields: [...new Set(decls.flatMap((d) => ['parametersJsonSchema', 'parameters'].filter((k) => d[k] !== undefined)))],
    contents: Array.isArray(b?.contents) ? b.contents.length : undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// The readable record: test-tools/observed-requests.md
// ---------------------------------------------------------------------------------------------

interface Observation {
  title: string;
  command: string;
  run?: RunResult;
  client: 'claude' | 'gemini';
  calls: GatewayCall[];
  upstream: Array<{ kind: 'anthropic' | 'gemini' | 'openai'; requests: AnthropicRecorded[] | GeminiRecorded[] | OpenAIRecorded[] }>;
  offMachine: string[];
}

const observations: Observation[] = [];

function renderObservation(o: Observation): string[] {
  const out = [`## ${o.title}`, '', `Command: \`${o.command}\``, ''];
  if (o.run) {
    let printed = o.run.stdout.trim();
    try {
      const json = JSON.parse(printed);
      printed = json.result ?? json.response ?? printed;
    } catch {
      // not JSON: keep the raw text
    }
    out.push(`Exit code ${o.run.code}; printed: ${cell(String(printed).slice(0, 200))}`, '');
  }
  out.push('Requests the CLI sent to the gateway:', '');
  if (o.client === 'claude') {
    const calls = o.calls.map(summarizeAnthropicCall);
    out.push(
      ...table(
        ['#', 'request', 'status', 'auth', 'model', 'stream', 'max_tokens', 'thinking', 'cache_control', 'tools', 'roles'],
        calls.map((c, i) => [i + 1, c.request, c.status, c.auth, c.model, c.stream, c.maxTokens, c.thinking, c.cacheControl, c.tools.length, c.roles.join(',')]),
      ),
    );
    const first = calls[0];
    if (first) {
      out.push('', `- \`anthropic-version\`: ${cell(first.anthropicVersion)}; \`anthropic-beta\`: ${first.anthropicBeta.map(cell).join(', ') || 'none'}`);
      out.push(`- body fields: ${first.fields.map(cell).join(', ')}`);
      const body = o.calls[0].body ?? {};
      for (const f of ['output_config', 'context_management']) if (body[f] !== undefined) out.push(`- \`${f}\`: ${cell(body[f])}`);
      const systemAt = first.roles.indexOf('system');
      if (systemAt >= 0) {
        const m = body.messages[systemAt];
        const text = typeof m.content === 'string' ? m.content : JSON.stringify(m.content);
        out.push(`- mid-conversation system message at \`messages[${systemAt}]\` (${typeof m.content === 'string' ? 'string content' : 'blocks'}): ${cell(`${text.slice(0, 60).replace(/\s+/g, ' ')}...`)}`);
      }
      out.push(`- tools: ${first.tools.map(cell).join(', ')}`);
    }
  } else {
    const calls = o.calls.map(summarizeGeminiCall);
    out.push(
      ...table(
        ['#', 'request', 'status', 'auth', 'generationConfig', 'thinkingConfig', 'JSON schema', 'tools', 'contents'],
        calls.map((c, i) => [i + 1, c.request, c.status, c.auth, c.generationConfig.join(','), c.thinkingConfig, c.responseJsonSchema, c.tools.length, c.contents]),
      ),
    );
    const main = calls.find((c) => c.tools.length > 0);
    if (main) out.push('', `- tools (${main.schemaFields.join(', ')}): ${main.tools.map(cell).join(', ')}`);
  }
  for (const c of o.calls) if (c.status >= 300) out.push(`- gateway answered ${c.status} to \`${c.method} ${c.path}\`: ${cell(c.errorBody?.slice(0, 300))}`);
  for (const u of o.upstream) {
    const reqs = u.requests.filter((r) => r.method === 'POST');
    out.push('', `What the gateway sent to the ${u.kind} upstream:`, '');
    if (reqs.length === 0) {
      out.push('(nothing)');
      continue;
    }
    if (u.kind === 'openai') {
      out.push(
        ...table(
          ['#', 'request', 'model', 'stream', 'stream_options', 'reasoning_effort', 'tools', 'roles', 'other fields'],
          reqs.map((r, i) => {
            const b = r.body ?? {};
            const shown = ['model', 'stream', 'stream_options', 'reasoning_effort', 'tools', 'messages'];
            const other = Object.keys(b).filter((k) => !shown.includes(k)).sort();
            return [i + 1, `${r.method} ${r.path}`, b.model, b.stream, b.stream_options, b.reasoning_effort, Array.isArray(b.tools) ? b.tools.length : 0, (b.messages ?? []).map((m: { role: string }) => m.role).join(','), other.join(',')];
          }),
        ),
      );
    } else if (u.kind === 'anthropic') {
      out.push(
        ...table(
          ['#', 'request', 'model', 'anthropic-beta', 'thinking', 'cache_control', 'tools', 'roles'],
          reqs.map((r, i) => [
            i + 1,
            `${r.method} ${r.path}`,
            r.body?.model,
            r.headers['anthropic-beta'],
            r.body?.thinking,
            countOccurrences(r.body, 'cache_control'),
            (r.body?.tools ?? []).length,
            (r.body?.messages ?? []).map((m: { role: string }) => m.role).join(','),
          ]),
        ),
      );
    } else {
      out.push(
        ...table(
          ['#', 'request', 'generationConfig', 'tools', 'contents'],
          reqs.map((r, i) => [i + 1, `${r.method} ${r.path}`, Object.keys(r.body?.generationConfig ?? {}).sort().join(','), (r.body?.tools ?? []).flatMap((t: { functionDeclarations?: unknown[] }) => t.functionDeclarations ?? []).length, (r.body?.contents ?? []).length]),
        ),
      );
    }
  }
  out.push('', `Off the machine (refused by the trap proxy): ${o.offMachine.length ? o.offMachine.map(cell).join(', ') : 'nothing'}.`, '');
  return out;
}

/** The packages this file runs (test-tools pins Codex CLI too, for codex-cli.test.ts). */
const PINNED_HERE = ['@anthropic-ai/claude-code', '@google/gemini-cli'];

function writeObservedFile(): void {
  if (process.env.WRITE_OBSERVED_REQUESTS !== '1' || observations.length === 0) return;
  const out = [
    '# What the agent CLIs send through the gateway',
    '',
    'Written by `WRITE_OBSERVED_REQUESTS=1 npx vitest run test/e2e/agent-cli.test.ts` (Claude Code, Gemini CLI) and',
    '`WRITE_OBSERVED_REQUESTS=1 npx vitest run test/e2e/codex-cli.test.ts` (Codex CLI, at the end), each rewriting only',
    'its own part, from what a recording proxy in front of the gateway saw; statuses are what the gateway answered that',
    'day. The assertions in those tests are the contract; this file is the readable record.',
    '',
    `Pinned: ${PINNED_HERE.map((name) => `\`${name}@${PINNED[name]}\``).join(', ')}; Node ${process.version}.`,
    '',
    '## Setup common to every run',
    '',
    '- A fresh HOME, TMPDIR and working directory per run (holding `notes.txt` for the tool round trips); the environment',
    '  is built from scratch (only PATH is inherited).',
    '- `HTTP(S)_PROXY` points at a trap on 127.0.0.1 that refuses and records every request headed off the machine;',
    '  `NO_PROXY=127.0.0.1,localhost` lets the gateway traffic through.',
    '- Claude Code: `ANTHROPIC_BASE_URL`, `ANTHROPIC_API_KEY` (sent as `x-api-key`) or `ANTHROPIC_AUTH_TOKEN` (sent as',
    '  `Authorization: Bearer`), `CLAUDE_CONFIG_DIR`, `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`, `DISABLE_AUTOUPDATER=1`,',
    '  `DISABLE_TELEMETRY=1`, `DISABLE_ERROR_REPORTING=1`, `DISABLE_BUG_COMMAND=1`. It runs as',
    '  `node node_modules/@anthropic-ai/claude-code/cli-wrapper.cjs`, the package\'s launcher for its native binary',
    '  (`@anthropic-ai/claude-code-linux-x64/claude`; the postinstall that would copy it into place is turned off).',
    '  - With an API key or with `ANTHROPIC_AUTH_TOKEN`, nothing but model calls is sent (2.1.112 still asked',
    '    `https://api.anthropic.com/api/claude_code/organizations/metrics_enabled` as it exited when it had an API key).',
    '  - With no proxy variable set it also fires `HEAD /` at `ANTHROPIC_BASE_URL` at start-up to warm the connection',
    '    (answer ignored); any proxy variable turns that off, so it does not appear below.',
    '  - Every call carries a mid-conversation system message (`{"role": "system"}` right after the prompt, with the',
    '    `mid-conversation-system-2026-04-07` beta): the list of agent types. It decides by model name: not for the',
    '    older Claude models it knows (claude-3-*, Opus 4.0 to 4.7, Sonnet 4.0 to 4.6, Haiku 4.5), yes for',
    '    `claude-opus-4-8` and for names it does not know, such as `gpt-5.5`; `CLAUDE_CODE_FORCE_MID_CONVERSATION_SYSTEM=1`',
    '    forces it on.',
    '- Gemini CLI: `GOOGLE_GEMINI_BASE_URL`, `GEMINI_API_KEY` (sent as `x-goog-api-key`), `GEMINI_CLI_NO_RELAUNCH=true`',
    '  (no self re-spawn with a bigger heap), and `~/.gemini/settings.json`:',
    '',
    '```json',
    JSON.stringify(GEMINI_SETTINGS, null, 2),
    '```',
    '',
    '  Without `privacy.usageStatisticsEnabled: false` it posts usage statistics to `play.googleapis.com`; without',
    '  `security.auth.selectedType` it stops with "Invalid auth method selected" (exit 41); with folder trust on, an',
    '  untrusted working directory stops it (exit 55).',
    '- Claude Code runs with its default model, `' + CLAUDE_MAIN_MODEL + '`, on the Anthropic upstream, and with',
    '  `--model ' + CLAUDE_CROSS_MODEL + '` on the OpenAI upstream. Gemini CLI runs with its default ("auto"): it asks',
    '  `' + GEMINI_ROUTER_MODEL + '` to classify the prompt, then `' + GEMINI_MAIN_MODEL + '` for the turn; the cross-format gateway',
    '  serves those names from an OpenAI upstream with `model_map`.',
    '',
  ];
  for (const o of observations) out.push(...renderObservation(o));
  writeObservedSection('agent-cli', out);
}

// ---------------------------------------------------------------------------------------------
// Two gateways: one whose models live on upstreams of the CLIs' own formats, one with an OpenAI
// upstream, as a user would set up either. Claude Code asks the first for its default model and
// the second for an OpenAI model by name; Gemini CLI asks both for its default models, which the
// second serves from the OpenAI upstream (model_map).
// ---------------------------------------------------------------------------------------------

let anthropicSim: AnthropicSimulator;
let geminiSim: GeminiSimulator;
let openaiSim: OpenAISimulator;
let sameFormat: TestGateway;
let crossFormat: TestGateway;
let sameKey: string;
let crossKey: string;
let proxy: RecordingProxy;
let trap: TrapProxy;

const suite = describe.skipIf(!TOOLS_INSTALLED);

suite('agent CLIs through the gateway', () => {
  beforeAll(async () => {
    anthropicSim = await startAnthropicSimulator({ apiKey: UPSTREAM_KEY });
    geminiSim = await startGeminiSimulator({ apiKey: UPSTREAM_KEY, models: [GEMINI_ROUTER_MODEL, GEMINI_MAIN_MODEL] });
    openaiSim = await startOpenAISimulator({ apiKey: UPSTREAM_KEY, models: [CLAUDE_CROSS_MODEL, 'gpt-4o', 'gpt-4o-mini'] });
    sameFormat = await startTestGateway({
      upstreams: [
        { name: 'anthropic', type: 'anthropic', base_url: anthropicSim.url, api_key: UPSTREAM_KEY, models: [CLAUDE_MAIN_MODEL, CLAUDE_SMALL_MODEL] },
        { name: 'gemini', type: 'gemini', base_url: geminiSim.url, api_key: UPSTREAM_KEY, models: [GEMINI_ROUTER_MODEL, GEMINI_MAIN_MODEL] },
      ],
    });
    crossFormat = await startTestGateway({
      upstreams: [
        {
          name: 'openai',
          type: 'openai',
          base_url: openaiSim.url,
          api_key: UPSTREAM_KEY,
          models: [CLAUDE_CROSS_MODEL],
          model_map: {
            [GEMINI_MAIN_MODEL]: 'gpt-4o',
            [GEMINI_ROUTER_MODEL]: 'gpt-4o-mini',
          },
        },
      ],
    });
    sameKey = (await sameFormat.createKey({ name: 'agent-cli' })).key;
    crossKey = (await crossFormat.createKey({ name: 'agent-cli' })).key;
    proxy = await startRecordingProxy(sameFormat.url);
    trap = await startTrapProxy();
  }, 60_000);

  afterAll(async () => {
    writeObservedFile();
    await proxy?.close();
    await trap?.close();
    await sameFormat?.close();
    await crossFormat?.close();
    await anthropicSim?.close();
    await geminiSim?.close();
    await openaiSim?.close();
  });

  interface RunSpec {
    title: string;
    client: 'claude' | 'gemini';
    command: string;
    gateway: TestGateway;
    upstreams: Array<'anthropic' | 'gemini' | 'openai'>;
  }

  /**
   * One CLI run with a fresh sandbox, recording and trap log. What was seen goes to the
   * observations before the test's assertions run, so the record shows failures too.
   */
  async function withRun(spec: RunSpec, fn: (sb: Sandbox, done: (run: RunResult) => void) => Promise<void>): Promise<void> {
    proxy.target = spec.gateway.url;
    proxy.calls.length = 0;
    trap.attempts.length = 0;
    anthropicSim.requests.length = 0;
    geminiSim.requests.length = 0;
    openaiSim.requests.length = 0;
    const sb = makeSandbox();
    const sims = { anthropic: anthropicSim, gemini: geminiSim, openai: openaiSim };
    const observe = (run?: RunResult) =>
      observations.push({
        title: spec.title,
        client: spec.client,
        command: spec.command,
        run,
        calls: [...proxy.calls],
        upstream: spec.upstreams.map((kind) => ({ kind, requests: [...sims[kind].requests] as AnthropicRecorded[] })),
        offMachine: [...trap.attempts],
      });
    let observed = false;
    try {
      await fn(sb, (run) => {
        observe(run);
        observed = true;
      });
    } finally {
      if (!observed) observe();
      sb.remove();
    }
  }

  const TOOL_PROMPT = `What is the passphrase in ${SECRET_FILE}? Read the file to find out.`;
  const PONG_PROMPT = 'Reply with one word: pong';

  // ------------------------------------------------------------------------------------------
  describe('Claude Code (claude -p)', () => {
    /** The betas of every call; for its own default model it also asks for the 1M-token context window, second in the list. */
    const CLAUDE_BETAS = [
      'claude-code-20250219',
      'interleaved-thinking-2025-05-14',
      'thinking-token-count-2026-05-13',
      'context-management-2025-06-27',
      'prompt-caching-scope-2026-01-05',
      'mid-conversation-system-2026-04-07',
      'effort-2025-11-24',
    ];
    const betasFor = (model: string) => (model === CLAUDE_MAIN_MODEL ? [CLAUDE_BETAS[0], 'context-1m-2025-08-07', ...CLAUDE_BETAS.slice(1)] : CLAUDE_BETAS);
    /** max_tokens: its default model's output limit; 32000 for a model it does not know. */
    const maxTokensFor = (model: string) => (model === CLAUDE_MAIN_MODEL ? 64000 : 32000);
    const CLAUDE_TOOLS = [
      'Agent',
      'Bash',
      'CronCreate',
      'CronDelete',
      'CronList',
      'Edit',
      'EnterWorktree',
      'ExitWorktree',
      'NotebookEdit',
      'Read',
      'ReportFindings',
      'ScheduleWakeup',
      'SendMessage',
      'Skill',
      'TaskCreate',
      'TaskGet',
      'TaskList',
      'TaskOutput',
      'TaskStop',
      'TaskUpdate',
      'WebFetch',
      'WebSearch',
      'Workflow',
      'Write',
    ];

    /** What every Messages call of Claude Code 2.1.197 looks like, whatever the upstream. */
    function expectClaudeMessagesCall(c: AnthropicCallSummary, body: any, auth: string, model: string) {
      expect(c.request).toBe('POST /v1/messages?beta=true');
      expect(c.status).toBe(200);
      expect(c.auth).toBe(auth);
      expect(c.anthropicVersion).toBe('2023-06-01');
      expect(c.anthropicBeta).toEqual(betasFor(model));
      expect(c.model).toBe(model);
      expect(c.stream).toBe(true);
      expect(c.maxTokens).toBe(maxTokensFor(model));
      expect(c.fields).toEqual(['context_management', 'max_tokens', 'messages', 'metadata', 'model', 'output_config', 'stream', 'system', 'thinking', 'tools']);
      expect(c.thinking).toEqual({ type: 'adaptive' });
      expect(body.output_config).toEqual({ effort: 'high' });
      expect(body.context_management).toEqual({ edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] });
      expect(typeof body.metadata?.user_id).toBe('string');
      // Cache breakpoints on the system prompt blocks and the newest message.
      expect(c.cacheControl).toBeGreaterThanOrEqual(3);
      expect(c.tools).toEqual(CLAUDE_TOOLS);
      // The mid-conversation system message: right after the prompt, a string, on every call.
      expect(c.roles.slice(0, 2)).toEqual(['user', 'system']);
      expect(body.messages[1]).toEqual({ role: 'system', content: expect.stringContaining(CLAUDE_SYSTEM_MESSAGE_START) });
    }

    type ClaudeAuth = { apiKey: string } | { authToken: string };

    async function runClaude(sb: Sandbox, done: (run: RunResult) => void, prompt: string, maxTurns: number, auth: ClaudeAuth, model?: string) {
      const run = await runCli(CLAUDE_JS, claudeArgs(prompt, maxTurns, model), claudeEnv(sb, proxy.url, trap, auth), sb.cwd);
      done(run);
      const why = describeRun(run, proxy.calls);
      expect(run.code, why).toBe(0);
      let result: { is_error: boolean; result: string; num_turns: number };
      try {
        result = JSON.parse(run.stdout);
      } catch {
        throw new Error(`claude printed no JSON result\n${why}`);
      }
      expect(result.is_error, why).toBe(false);
      return result;
    }

    const claudeCommand = (prompt: string, maxTurns: number, auth: string, model?: string) =>
      `${auth}=<gateway key> claude ${claudeArgs(prompt, maxTurns, model).map((a) => (a.includes(' ') ? JSON.stringify(a) : a)).join(' ')}`;

    it(
      'answers a prompt through an Anthropic upstream (same format)',
      async () => {
        const spec: RunSpec = {
          title: 'Claude Code -> Anthropic upstream (same format): a prompt',
          client: 'claude',
          command: claudeCommand(PONG_PROMPT, 1, 'ANTHROPIC_API_KEY'),
          gateway: sameFormat,
          upstreams: ['anthropic'],
        };
        await withRun(spec, async (sb, done) => {
          anthropicSim.handler = () => ({ type: 'text', text: 'Pong from the Anthropic upstream.' });
          const result = await runClaude(sb, done, PONG_PROMPT, 1, { apiKey: sameKey });
          expect(result.result).toBe('Pong from the Anthropic upstream.');

          const calls = proxy.calls.map(summarizeAnthropicCall);
          // One streamed call, the beta flag in the query string. (Without HTTP(S)_PROXY set, Claude Code
          // first fires `HEAD /` at the base URL to warm the connection and ignores the answer.)
          expect(calls.map((c) => c.request)).toEqual(['POST /v1/messages?beta=true']);
          expectClaudeMessagesCall(calls[0], proxy.calls[0].body, 'x-api-key', CLAUDE_MAIN_MODEL);
          expect(calls[0].roles).toEqual(['user', 'system']);

          // Same format: forwarded as sent (the mid-conversation system message too), with the gateway's key and the client's beta header.
          const up = anthropicSim.requests.filter((r) => r.method === 'POST');
          expect(up.map((r) => r.path)).toEqual(['/v1/messages']);
          expect(up[0].headers['x-api-key']).toBe(UPSTREAM_KEY);
          expect(up[0].headers['anthropic-beta']).toBe(betasFor(CLAUDE_MAIN_MODEL).join(','));
          expect(up[0].body).toEqual(proxy.calls[0].body);

          // With an API key, 2.1.112 asked api.anthropic.com/api/claude_code/organizations/metrics_enabled as it
          // exited; 2.1.197 does not: nothing leaves the machine.
          expect(trap.attempts).toEqual([]);
        });
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'runs a tool round trip through an Anthropic upstream (same format)',
      async () => {
        const spec: RunSpec = {
          title: 'Claude Code -> Anthropic upstream (same format): tool round trip',
          client: 'claude',
          command: claudeCommand(TOOL_PROMPT, 3, 'ANTHROPIC_AUTH_TOKEN'),
          gateway: sameFormat,
          upstreams: ['anthropic'],
        };
        await withRun(spec, async (sb, done) => {
          const filePath = join(sb.cwd, SECRET_FILE);
          anthropicSim.handler = (req: AnthropicRecorded) =>
            mentionsSecret(req.body?.messages)
              ? { type: 'text', text: `The passphrase is ${SECRET}.` }
              : { type: 'tool_use', text: 'Let me read the file.', calls: [{ name: 'Read', input: { file_path: filePath } }] };
          const result = await runClaude(sb, done, TOOL_PROMPT, 3, { authToken: sameKey });
          expect(result.result).toBe(`The passphrase is ${SECRET}.`);
          expect(result.num_turns).toBe(2);

          const calls = proxy.calls.map(summarizeAnthropicCall);
          expect(calls.map((c) => c.request)).toEqual(['POST /v1/messages?beta=true', 'POST /v1/messages?beta=true']);
          for (const [i, c] of calls.entries()) expectClaudeMessagesCall(c, proxy.calls[i].body, 'authorization: Bearer', CLAUDE_MAIN_MODEL);
          // The system message stays where it was; the tool round trip follows it.
          expect(calls[1].roles).toEqual(['user', 'system', 'assistant', 'user']);
          const second = proxy.calls[1].body as { messages: Array<{ role: string; content: unknown }> };
          const types = second.messages.flatMap((m) => (Array.isArray(m.content) ? (m.content as Array<{ type: string }>).map((b) => b.type) : []));
          expect(types).toEqual(expect.arrayContaining(['tool_use', 'tool_result']));

          const up = anthropicSim.requests.filter((r) => r.method === 'POST');
          expect(up).toHaveLength(2);
          expect(up.map((r) => r.body)).toEqual(proxy.calls.map((c) => c.body));
          expect(mentionsSecret(up[1].body.messages)).toBe(true);
          // Bearer auth: nothing at all leaves the machine.
          expect(trap.attempts).toEqual([]);
        });
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'answers a prompt through an OpenAI upstream (cross-format, an OpenAI model by name)',
      async () => {
        const spec: RunSpec = {
          title: `Claude Code -> OpenAI upstream (cross-format, --model ${CLAUDE_CROSS_MODEL}): a prompt`,
          client: 'claude',
          command: claudeCommand(PONG_PROMPT, 1, 'ANTHROPIC_AUTH_TOKEN', CLAUDE_CROSS_MODEL),
          gateway: crossFormat,
          upstreams: ['openai'],
        };
        await withRun(spec, async (sb, done) => {
          openaiSim.handler = () => ({ type: 'text', text: 'Pong from the OpenAI upstream.' });
          const result = await runClaude(sb, done, PONG_PROMPT, 1, { authToken: crossKey }, CLAUDE_CROSS_MODEL);
          expect(result.result).toBe('Pong from the OpenAI upstream.');

          const calls = proxy.calls.map(summarizeAnthropicCall);
          expect(calls.map((c) => c.request)).toEqual(['POST /v1/messages?beta=true']);
          expectClaudeMessagesCall(calls[0], proxy.calls[0].body, 'authorization: Bearer', CLAUDE_CROSS_MODEL);
          expect(calls[0].roles).toEqual(['user', 'system']);

          const up = openaiSim.requests.filter((r) => r.method === 'POST');
          expect(up.map((r) => r.path)).toEqual(['/v1/chat/completions']);
          expect(up[0].headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
          expect(up[0].body.model).toBe(CLAUDE_CROSS_MODEL);
          expect(up[0].body.stream).toBe(true);
          expect(up[0].body.tools).toHaveLength(CLAUDE_TOOLS.length);
          // The system prompt first; the mid-conversation system message stays a system message after the prompt.
          const messages = up[0].body.messages as Array<{ role: string; content: unknown }>;
          expect(messages.map((m) => m.role)).toEqual(['system', 'user', 'system']);
          expect(messages[2].content).toBe(proxy.calls[0].body.messages[1].content);
          expect(trap.attempts).toEqual([]);
        });
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'runs a tool round trip through an OpenAI upstream (cross-format, an OpenAI model by name)',
      async () => {
        const spec: RunSpec = {
          title: `Claude Code -> OpenAI upstream (cross-format, --model ${CLAUDE_CROSS_MODEL}): tool round trip`,
          client: 'claude',
          command: claudeCommand(TOOL_PROMPT, 3, 'ANTHROPIC_AUTH_TOKEN', CLAUDE_CROSS_MODEL),
          gateway: crossFormat,
          upstreams: ['openai'],
        };
        await withRun(spec, async (sb, done) => {
          const filePath = join(sb.cwd, SECRET_FILE);
          openaiSim.handler = (req: OpenAIRecorded) =>
            mentionsSecret(req.body?.messages)
              ? { type: 'text', text: `The passphrase is ${SECRET}.` }
              : { type: 'tool_call', calls: [{ name: 'Read', arguments: JSON.stringify({ file_path: filePath }) }] };
          const result = await runClaude(sb, done, TOOL_PROMPT, 3, { authToken: crossKey }, CLAUDE_CROSS_MODEL);
          expect(result.result).toBe(`The passphrase is ${SECRET}.`);
          expect(result.num_turns).toBe(2);

          const calls = proxy.calls.map(summarizeAnthropicCall);
          expect(calls.map((c) => c.request)).toEqual(['POST /v1/messages?beta=true', 'POST /v1/messages?beta=true']);
          for (const [i, c] of calls.entries()) expectClaudeMessagesCall(c, proxy.calls[i].body, 'authorization: Bearer', CLAUDE_CROSS_MODEL);
          expect(calls[1].roles).toEqual(['user', 'system', 'assistant', 'user']);

          const up = openaiSim.requests.filter((r) => r.method === 'POST');
          expect(up.map((r) => r.path)).toEqual(['/v1/chat/completions', '/v1/chat/completions']);
          expect(up.map((r) => r.body.model)).toEqual([CLAUDE_CROSS_MODEL, CLAUDE_CROSS_MODEL]);
          expect(up[1].body.tools).toHaveLength(CLAUDE_TOOLS.length);
          const messages = up[1].body.messages as Array<{ role: string; content: unknown; tool_calls?: Array<{ function: { name: string } }> }>;
          // In place: the system message between the prompt and the tool call, as Claude Code sent it.
          expect(messages.map((m) => m.role)).toEqual(['system', 'user', 'system', 'assistant', 'tool']);
          expect(String(messages[2].content)).toContain(CLAUDE_SYSTEM_MESSAGE_START);
          expect(messages[3].tool_calls?.map((t) => t.function.name)).toEqual(['Read']);
          expect(JSON.stringify(messages[4].content)).toContain(SECRET);
          expect(trap.attempts).toEqual([]);
        });
      },
      TEST_TIMEOUT_MS,
    );
  });

  // ------------------------------------------------------------------------------------------
  describe('Gemini CLI (gemini -p --yolo)', () => {
    const GEMINI_TOOLS = [
      'update_topic',
      'list_directory',
      'read_file',
      'grep_search',
      'glob',
      'replace',
      'write_file',
      'web_fetch',
      'run_shell_command',
      'list_background_processes',
      'read_background_output',
      'google_web_search',
      'enter_plan_mode',
      'invoke_agent',
      'activate_skill',
    ];
    const ROUTER_ANSWER = JSON.stringify({ complexity_reasoning: 'A one-line request.', complexity_score: 5 });
    const ROUTER_CALL = `POST /v1beta/models/${GEMINI_ROUTER_MODEL}:generateContent`;
    const MAIN_CALL = `POST /v1beta/models/${GEMINI_MAIN_MODEL}:streamGenerateContent?alt=sse`;

    /** Model "auto": a non-streamed classifier call with a JSON schema and no tools. */
    function expectRouterCall(c: GeminiCallSummary) {
      expect(c.request).toBe(ROUTER_CALL);
      expect(c.status).toBe(200);
      expect(c.auth).toBe('x-goog-api-key');
      expect(c.fields).toEqual(['contents', 'generationConfig', 'systemInstruction']);
      expect(c.responseJsonSchema).toBe(true);
      expect(c.thinkingConfig).toEqual({ includeThoughts: true, thinkingLevel: 'HIGH' });
      expect(c.tools).toEqual([]);
    }

    /** The main turn: streamed over SSE, 15 function declarations given as parametersJsonSchema. */
    function expectMainCall(c: GeminiCallSummary) {
      expect(c.request).toBe(MAIN_CALL);
      expect(c.status).toBe(200);
      expect(c.auth).toBe('x-goog-api-key');
      expect(c.fields).toEqual(['contents', 'generationConfig', 'systemInstruction', 'tools']);
      expect(c.generationConfig).toEqual(['temperature', 'thinkingConfig', 'topK', 'topP']);
      expect(c.thinkingConfig).toEqual({ includeThoughts: true, thinkingLevel: 'HIGH' });
      expect(c.systemInstruction).toBe(true);
      expect(c.tools).toEqual(GEMINI_TOOLS);
      expect(c.schemaFields).toEqual(['parametersJsonSchema']);
    }

    async function runGemini(sb: Sandbox, done: (run: RunResult) => void, prompt: string, apiKey: string) {
      const run = await runCli(GEMINI_JS, geminiArgs(prompt), geminiEnv(sb, proxy.url, trap, apiKey), sb.cwd);
      done(run);
      const why = describeRun(run, proxy.calls);
      expect(run.code, why).toBe(0);
      let result: { response?: string; error?: unknown };
      try {
        result = JSON.parse(run.stdout);
      } catch {
        throw new Error(`gemini printed no JSON result\n${why}`);
      }
      expect(result.error, why).toBeUndefined();
      return result;
    }

    const geminiCommand = (prompt: string) => `GEMINI_API_KEY=<gateway key> gemini ${geminiArgs(prompt).map((a) => (a.includes(' ') ? JSON.stringify(a) : a)).join(' ')}`;
    const isRouter = (body: any) => body?.generationConfig?.responseJsonSchema !== undefined;

    it(
      'answers a prompt through a Gemini upstream (same format)',
      async () => {
        const spec: RunSpec = {
          title: 'Gemini CLI -> Gemini upstream (same format): a prompt',
          client: 'gemini',
          command: geminiCommand(PONG_PROMPT),
          gateway: sameFormat,
          upstreams: ['gemini'],
        };
        await withRun(spec, async (sb, done) => {
          geminiSim.handler = (req) => ({ type: 'text', text: isRouter(req.body) ? ROUTER_ANSWER : 'Pong from the Gemini upstream.' });
          const result = await runGemini(sb, done, PONG_PROMPT, sameKey);
          expect(result.response).toBe('Pong from the Gemini upstream.');

          const calls = proxy.calls.map(summarizeGeminiCall);
          expect(calls.map((c) => c.request)).toEqual([ROUTER_CALL, MAIN_CALL]);
          expectRouterCall(calls[0]);
          expectMainCall(calls[1]);

          const up = geminiSim.requests.filter((r) => r.method === 'POST');
          expect(up.map((r) => r.path)).toEqual([`/v1beta/models/${GEMINI_ROUTER_MODEL}:generateContent`, `/v1beta/models/${GEMINI_MAIN_MODEL}:streamGenerateContent?alt=sse`]);
          expect(up.every((r) => r.headers['x-goog-api-key'] === UPSTREAM_KEY)).toBe(true);
          expect(up[1].body.tools[0].functionDeclarations).toHaveLength(GEMINI_TOOLS.length);
          expect(trap.attempts).toEqual([]);
        });
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'runs a tool round trip through a Gemini upstream (same format)',
      async () => {
        const spec: RunSpec = {
          title: 'Gemini CLI -> Gemini upstream (same format): tool round trip',
          client: 'gemini',
          command: geminiCommand(TOOL_PROMPT),
          gateway: sameFormat,
          upstreams: ['gemini'],
        };
        await withRun(spec, async (sb, done) => {
          const filePath = join(sb.cwd, SECRET_FILE);
          geminiSim.handler = (req) => {
            if (isRouter(req.body)) return { type: 'text', text: ROUTER_ANSWER };
            if (mentionsSecret(req.body?.contents)) return { type: 'text', text: `The passphrase is ${SECRET}.` };
            return { type: 'function_call', calls: [{ name: 'read_file', args: { file_path: filePath } }] };
          };
          const result = await runGemini(sb, done, TOOL_PROMPT, sameKey);
          expect(result.response).toBe(`The passphrase is ${SECRET}.`);

          const calls = proxy.calls.map(summarizeGeminiCall);
          expect(calls.map((c) => c.request)).toEqual([ROUTER_CALL, MAIN_CALL, MAIN_CALL]);
          expectRouterCall(calls[0]);
          expectMainCall(calls[1]);
          expectMainCall(calls[2]);
          // The second turn sends the call back with the file's text in a functionResponse.
          const parts = (proxy.calls[2].body.contents as Array<{ parts: Array<Record<string, unknown>> }>).flatMap((c) => c.parts);
          expect(parts.some((p) => p.functionCall)).toBe(true);
          expect(JSON.stringify(parts.find((p) => p.functionResponse))).toContain(SECRET);
          expect(trap.attempts).toEqual([]);
        });
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'answers a prompt through an OpenAI upstream (cross-format)',
      async () => {
        const spec: RunSpec = {
          title: 'Gemini CLI -> OpenAI upstream (cross-format): a prompt',
          client: 'gemini',
          command: geminiCommand(PONG_PROMPT),
          gateway: crossFormat,
          upstreams: ['openai'],
        };
        await withRun(spec, async (sb, done) => {
          openaiSim.handler = (req) => ({ type: 'text', text: req.body?.response_format ? ROUTER_ANSWER : 'Pong from the OpenAI upstream.' });
          const result = await runGemini(sb, done, PONG_PROMPT, crossKey);
          expect(result.response).toBe('Pong from the OpenAI upstream.');

          const calls = proxy.calls.map(summarizeGeminiCall);
          expect(calls.map((c) => c.request)).toEqual([ROUTER_CALL, MAIN_CALL]);
          expectRouterCall(calls[0]);
          expectMainCall(calls[1]);

          const up = openaiSim.requests.filter((r) => r.method === 'POST');
          expect(up.map((r) => r.path)).toEqual(['/v1/chat/completions', '/v1/chat/completions']);
          expect(up.map((r) => r.body.model)).toEqual(['gpt-4o-mini', 'gpt-4o']);
          expect(up[0].body.stream ?? false).toBe(false);
          expect(up[0].body.response_format?.type).toBe('json_schema');
          expect(up[1].body.stream).toBe(true);
          expect(up[1].body.tools).toHaveLength(GEMINI_TOOLS.length);
          expect(trap.attempts).toEqual([]);
        });
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'runs a tool round trip through an OpenAI upstream (cross-format)',
      async () => {
        const spec: RunSpec = {
          title: 'Gemini CLI -> OpenAI upstream (cross-format): tool round trip',
          client: 'gemini',
          command: geminiCommand(TOOL_PROMPT),
          gateway: crossFormat,
          upstreams: ['openai'],
        };
        await withRun(spec, async (sb, done) => {
          const filePath = join(sb.cwd, SECRET_FILE);
          openaiSim.handler = (req) => {
            if (req.body?.response_format) return { type: 'text', text: ROUTER_ANSWER };
            if (mentionsSecret(req.body?.messages)) return { type: 'text', text: `The passphrase is ${SECRET}.` };
            return { type: 'tool_call', calls: [{ name: 'read_file', arguments: JSON.stringify({ file_path: filePath }) }] };
          };
          const result = await runGemini(sb, done, TOOL_PROMPT, crossKey);
          expect(result.response).toBe(`The passphrase is ${SECRET}.`);

          const calls = proxy.calls.map(summarizeGeminiCall);
          expect(calls.map((c) => c.request)).toEqual([ROUTER_CALL, MAIN_CALL, MAIN_CALL]);
          const up = openaiSim.requests.filter((r) => r.method === 'POST');
          expect(up.map((r) => r.body.model)).toEqual(['gpt-4o-mini', 'gpt-4o', 'gpt-4o']);
          const toolMessage = (up[2].body.messages as Array<{ role: string; content: unknown }>).find((m) => m.role === 'tool');
          expect(JSON.stringify(toolMessage?.content)).toContain(SECRET);
          expect(trap.attempts).toEqual([]);
        });
      },
      TEST_TIMEOUT_MS,
    );
  });
});
