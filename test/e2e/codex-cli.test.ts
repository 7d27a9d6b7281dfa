/**
 * Codex CLI (`@openai/codex`, `codex exec`), which speaks only the OpenAI Responses API, run for
 * real through Switchyard's POST /v1/responses, offline, as agent-cli.test.ts runs Claude Code and
 * Gemini CLI (same harness: test/helpers/agent-cli-harness.ts):
 *
 * - against an OpenAI upstream with `responses: native`: the gateway passes the Responses call through
 *   to the upstream's own /v1/responses;
 * - against a chat-only upstream (`responses: chat`): the gateway translates every turn to
 *   /v1/chat/completions and the answer back into a Responses event stream.
 *
 * Each run gets a fresh HOME and CODEX_HOME whose config.toml names the gateway as a custom model
 * provider (`wire_api = "responses"`, the key from an environment variable) and turns off what
 * would leave the machine (curated-plugin sync from GitHub and chatgpt.com, analytics metrics to
 * ab.chatgpt.com, OTel exporters, update checks); HTTP(S)_PROXY points at a trap that refuses and
 * records anything that still tries. The task needs a tool call: the simulator answers the first
 * turn with a call to Codex's shell tool (`exec_command`, found in the request's tools), Codex runs
 * `cat notes.txt` in its read-only sandbox, and the second turn, which carries the command's output
 * as a function_call_output (a `tool` message on the chat upstream), is answered with the passphrase
 * read from that output.
 *
 * Codex 0.171.0 is a native executable from a per-platform optional dependency
 * (@openai/codex-linux-x64, an npm alias of @openai/codex@0.171.0-linux-x64); bin/codex.js finds it
 * and runs it. No install script is involved.
 *
 * `WRITE_OBSERVED_REQUESTS=1 npx vitest run test/e2e/codex-cli.test.ts` rewrites the Codex part of
 * test-tools/observed-requests.md.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cell,
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
  shellWords,
  startRecordingProxy,
  startTrapProxy,
  table,
  TEST_TIMEOUT_MS,
  TOOLS_DIR,
  type TrapProxy,
  writeObservedSection,
} from '../helpers/agent-cli-harness.ts';
import { startOpenAISimulator, type OpenAISimulator, type RecordedRequest, type Scenario } from '../helpers/openai-simulator.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

const CODEX_PACKAGE = '@openai/codex';
/** The package's Node launcher: it resolves @openai/codex-<platform> and runs its native binary with the same arguments. */
const CODEX_JS = join(TOOLS_DIR, 'node_modules/@openai/codex/bin/codex.js');
const CODEX_INSTALLED = existsSync(CODEX_JS);
if (!CODEX_INSTALLED) {
  console.warn('codex-cli e2e tests skipped: test-tools/node_modules is absent (install it with `npm ci --prefix test-tools`).');
}
const CODEX_VERSION = PINNED[CODEX_PACKAGE];

const UPSTREAM_KEY = 'sk-upstream-codex-cli-0123456789';
/** A model Codex 0.171.0 knows (no "unknown model" fallback), served by both gateways. */
const CODEX_MODEL = 'gpt-5.5';
/** The environment variable the provider's `env_key` names. */
const KEY_VAR = 'SWITCHYARD_API_KEY';
const PROVIDER_ID = 'switchyard';

const TOOL_PROMPT = `What is the passphrase in ${SECRET_FILE}? Read the file to find out.`;
const PONG_PROMPT = 'Reply with one word: pong';
/** What the simulator tells Codex's shell tool to run. */
const SHELL_TOOL = 'exec_command';
const SHELL_ARGUMENTS = JSON.stringify({ cmd: `cat ${SECRET_FILE}` });

/** The tools of every Codex 0.171.0 turn (`type:name`), in its order; exec_command is its shell. */
const CODEX_TOOLS = [
  'function:exec_command',
  'function:write_stdin',
  'function:request_user_input',
  'custom:apply_patch',
  'function:view_image',
  'function:get_goal',
  'function:create_goal',
  'function:update_goal',
  'tool_search',
  'web_search',
];
/** What reaches a chat-only upstream: the function tools (a freeform `custom` tool, client-side tool_search and hosted web_search cannot be offered there). */
const CHAT_TOOLS = CODEX_TOOLS.filter((t) => t.startsWith('function:')).map((t) => t.slice('function:'.length));
const CODEX_BODY_FIELDS = ['client_metadata', 'include', 'input', 'model', 'parallel_tool_calls', 'prompt_cache_key', 'reasoning', 'store', 'stream', 'text', 'tool_choice', 'tools'];
/** The simulator's default input tokens per call: Codex adds up both turns' usage. */
const SIM_PROMPT_TOKENS = 11;

// ---------------------------------------------------------------------------------------------
// Codex's settings: $CODEX_HOME/config.toml and the command line
// ---------------------------------------------------------------------------------------------

/**
 * $CODEX_HOME/config.toml: the gateway as the model provider, and each background sender off.
 * Every key is checked by `--strict-config` (an unknown key stops Codex). What each switch stops,
 * seen through the trap with it removed: `features.plugins` the curated-plugin sync (git and
 * HTTPS to github.com and api.github.com, then an archive from chatgpt.com); `analytics.enabled`
 * (or `otel.metrics_exporter = "none"`) OTLP metrics to ab.chatgpt.com/otlp/v1/metrics. The update
 * check and feedback upload belong to the interactive TUI and stay off for good measure.
 */
function codexConfig(baseUrl: string): string {
  return [
    `model = "${CODEX_MODEL}"`,
    `model_provider = "${PROVIDER_ID}"`,
    'approval_policy = "never"',
    'check_for_update_on_startup = false',
    '',
    '[analytics]',
    'enabled = false',
    '',
    '[feedback]',
    'enabled = false',
    '',
    '[otel]',
    'exporter = "none"',
    'metrics_exporter = "none"',
    'trace_exporter = "none"',
    '',
    '[features]',
    'plugins = false',
    '',
    `[model_providers.${PROVIDER_ID}]`,
    'name = "Switchyard"',
    `base_url = "${baseUrl}"`,
    `env_key = "${KEY_VAR}"`,
    'wire_api = "responses"',
    '',
  ].join('\n');
}

/**
 * `codex exec`: JSONL events on stdout, no session files, config checked strictly, no git repository
 * needed, and the read-only sandbox (commands may read the workspace, never write or reach the
 * network); with `approval_policy = "never"` nothing waits for a person.
 */
function codexArgs(prompt: string): string[] {
  return ['exec', '--json', '--ephemeral', '--strict-config', '--skip-git-repo-check', '--sandbox', 'read-only', '--color', 'never', prompt];
}

function codexEnv(sb: Sandbox, baseUrl: string, trap: TrapProxy, apiKey: string): Record<string, string> {
  const codexHome = join(sb.home, '.codex');
  mkdirSync(codexHome, { recursive: true });
  writeFileSync(join(codexHome, 'config.toml'), codexConfig(baseUrl));
  return { HOME: sb.home, TMPDIR: sb.tmp, CODEX_HOME: codexHome, [KEY_VAR]: apiKey, ...proxyEnv(trap) };
}

const codexCommand = (prompt: string) => `${KEY_VAR}=<gateway key> CODEX_HOME=<sandbox>/.codex codex ${shellWords(codexArgs(prompt))}`;

/** `codex exec --json` events. */
interface CodexEvent {
  type: string;
  item?: { id: string; type: string; text?: string; command?: string; aggregated_output?: string; exit_code?: number | null; status?: string };
  usage?: { input_tokens: number; cached_input_tokens: number; output_tokens: number; reasoning_output_tokens: number };
  error?: unknown;
  message?: string;
}

function parseEvents(stdout: string): CodexEvent[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as CodexEvent);
}

// ---------------------------------------------------------------------------------------------
// The upstream's side: a shell-tool call while no result came back, then an answer from the result
// ---------------------------------------------------------------------------------------------

/** The shell tool as the request offers it: Responses `{type, name, parameters}` or chat `{type, function}`. */
function offersShellTool(body: any): boolean {
  const tools: any[] = Array.isArray(body?.tools) ? body.tools : [];
  const fn = tools.map((t) => (t?.function ? t.function : t)).find((t) => t?.name === SHELL_TOOL);
  return Array.isArray(fn?.parameters?.required) && fn.parameters.required.includes('cmd');
}

/** The tool result of a turn: a function_call_output item, or a `tool` message on chat. */
function toolResult(body: any): string | undefined {
  const items: any[] = Array.isArray(body?.input) ? body.input : [];
  const out = items.find((i) => i?.type === 'function_call_output');
  if (out) return typeof out.output === 'string' ? out.output : JSON.stringify(out.output);
  const messages: any[] = Array.isArray(body?.messages) ? body.messages : [];
  const tool = messages.find((m) => m?.role === 'tool');
  if (tool) return typeof tool.content === 'string' ? tool.content : JSON.stringify(tool.content);
  return undefined;
}

function toolLoopHandler(req: RecordedRequest): Scenario {
  const result = toolResult(req.body);
  if (result !== undefined) {
    return { type: 'text', text: result.includes(SECRET) ? `The passphrase is ${SECRET}.` : 'The command output held no passphrase.' };
  }
  if (!offersShellTool(req.body)) return { type: 'text', text: `No ${SHELL_TOOL} tool with a cmd parameter was offered.` };
  return { type: 'tool_call', calls: [{ name: SHELL_TOOL, arguments: SHELL_ARGUMENTS }] };
}

// ---------------------------------------------------------------------------------------------
// The readable record: Codex's part of test-tools/observed-requests.md
// ---------------------------------------------------------------------------------------------

interface Observation {
  title: string;
  command: string;
  run?: RunResult;
  calls: GatewayCall[];
  upstream: RecordedRequest[];
  offMachine: string[];
}

const observations: Observation[] = [];

/** Input items as `type:role` for messages, else the item type (function_call:name). */
function inputShape(input: unknown): string {
  if (typeof input === 'string') return 'string';
  if (!Array.isArray(input)) return '';
  return input.map((i: any) => (i?.type === 'message' || (i?.type === undefined && i?.role) ? `${i.role}` : i?.type === 'function_call' ? `function_call:${i.name}` : String(i?.type))).join(',');
}

const toolName = (t: any): string => (t?.name ? `${t.type}:${t.name}` : String(t?.type));
/** A one-line excerpt of a multi-line text, for a table cell or a list item. */
const oneLine = (text: unknown, max = 160): string => String(text ?? '').slice(0, max).replace(/\n/g, '\\n');
/** Codex's shell-tool output with what changes from run to run (chunk id, wall time) elided. */
const shellOutput = (text: unknown): string => oneLine(String(text ?? '').replace(/^Chunk ID: \S+/m, 'Chunk ID: ...').replace(/^Wall time: .+$/m, 'Wall time: ...'));

function renderObservation(o: Observation): string[] {
  const out = [`## ${o.title}`, '', `Command: \`${o.command}\``, ''];
  if (o.run) {
    const said = parseEvents(o.run.stdout)
      .filter((e) => e.type === 'item.completed' && e.item?.type === 'agent_message')
      .map((e) => e.item?.text ?? '')
      .join(' ');
    const ran = parseEvents(o.run.stdout).filter((e) => e.type === 'item.completed' && e.item?.type === 'command_execution');
    out.push(`Exit code ${o.run.code}; printed: ${cell(said.slice(0, 200))}${ran.length ? `; ran: ${ran.map((e) => cell(e.item?.command)).join(', ')}` : ''}`, '');
  }
  out.push('Requests the CLI sent to the gateway:', '');
  out.push(
    ...table(
      ['#', 'request', 'status', 'model', 'stream', 'store', 'reasoning', 'include', 'tools', 'input'],
      o.calls.map((c, i) => {
        const b = c.body ?? {};
        return [i + 1, `${c.method} ${c.path}`, c.status, b.model, b.stream, b.store, b.reasoning, b.include, Array.isArray(b.tools) ? b.tools.length : 0, inputShape(b.input)];
      }),
    ),
  );
  const first = o.calls[0];
  if (first) {
    const b = first.body ?? {};
    const h = first.headers;
    out.push(
      '',
      `- headers: ${Object.keys(h)
        .filter((k) => !['host', 'content-length'].includes(k))
        .map(cell)
        .join(', ')}`,
      `- \`authorization\`: Bearer (the \`${KEY_VAR}\` value); \`originator\`: ${cell(header(h, 'originator'))}; \`user-agent\`: ${cell(header(h, 'user-agent'))}; \`accept\`: ${cell(header(h, 'accept'))}; \`accept-encoding\`: ${cell(header(h, 'accept-encoding'))}; \`x-codex-beta-features\`: ${cell(header(h, 'x-codex-beta-features'))}`,
      `- \`session-id\`, \`thread-id\`, \`x-client-request-id\`: the session id; \`x-codex-window-id\`: \`<session id>:0\`; \`x-codex-turn-metadata\`: JSON with the keys ${cell(Object.keys(JSON.parse(header(h, 'x-codex-turn-metadata') ?? '{}')).join(','))}`,
      `- body fields: ${Object.keys(b).sort().map(cell).join(', ')}`,
      `- \`tool_choice\`: ${cell(b.tool_choice)}; \`parallel_tool_calls\`: ${cell(b.parallel_tool_calls)}; \`text\`: ${cell(b.text)}; \`prompt_cache_key\`: the session id; \`client_metadata\` keys: ${cell(Object.keys(b.client_metadata ?? {}).sort().join(','))}`,
      `- tools: ${(b.tools ?? []).map((t: unknown) => cell(toolName(t))).join(', ')}`,
    );
    const shell = (b.tools ?? []).find((t: any) => t?.name === SHELL_TOOL);
    if (shell) out.push(`- \`${SHELL_TOOL}\` parameters: ${Object.keys(shell.parameters?.properties ?? {}).map(cell).join(', ')} (required: ${cell(shell.parameters?.required)})`);
  }
  const last = o.calls.at(-1)?.body?.input;
  if (o.calls.length > 1 && Array.isArray(last)) {
    const call = last.find((i: any) => i?.type === 'function_call');
    const result = last.find((i: any) => i?.type === 'function_call_output');
    if (call) out.push(`- the second turn sends the whole conversation again (no \`previous_response_id\`); it ends with ${cell({ type: call.type, name: call.name, arguments: call.arguments })} and a \`function_call_output\` whose \`output\` is ${cell(shellOutput(result?.output))}`);
  }
  const warnings = [...new Set(o.calls.map((c) => (c.responseHeaders ? header(c.responseHeaders, 'x-switchyard-warnings') : undefined)).filter(Boolean))];
  for (const w of warnings) out.push(`- the gateway's \`x-switchyard-warnings\`${warnings.length === 1 && o.calls.length > 1 ? ' (the same on every call)' : ''}: ${cell(w)}`);
  for (const c of o.calls) if (c.status >= 300) out.push(`- gateway answered ${c.status} to \`${c.method} ${c.path}\`: ${cell(c.errorBody?.slice(0, 300))}`);
  const reqs = o.upstream.filter((r) => r.method === 'POST');
  out.push('', 'What the gateway sent to the OpenAI upstream:', '');
  if (reqs.length === 0) out.push('(nothing)');
  else {
    out.push(
      ...table(
        ['#', 'request', 'model', 'stream', 'tools', 'input / roles', 'other fields'],
        reqs.map((r, i) => {
          const b = r.body ?? {};
          const shown = ['model', 'stream', 'tools', 'input', 'messages'];
          const shape = Array.isArray(b.messages) ? b.messages.map((m: { role: string }) => m.role).join(',') : inputShape(b.input);
          return [i + 1, `${r.method} ${r.path}`, b.model, b.stream, Array.isArray(b.tools) ? b.tools.length : 0, shape, Object.keys(b).filter((k) => !shown.includes(k)).sort().join(',')];
        }),
      ),
    );
    const chat = reqs.find((r) => r.path.endsWith('/chat/completions'));
    if (chat) {
      const b = chat.body ?? {};
      out.push('', `- tools: ${(b.tools ?? []).map((t: any) => cell(t?.function?.name)).join(', ')}; \`reasoning_effort\`: ${cell(b.reasoning_effort)}; \`stream_options\`: ${cell(b.stream_options)}`);
      const lastChat = reqs.at(-1)?.body?.messages;
      const tool = Array.isArray(lastChat) ? lastChat.find((m: any) => m?.role === 'tool') : undefined;
      if (tool) out.push(`- the tool result as a \`tool\` message: ${cell(shellOutput(tool.content))}`);
    }
  }
  out.push('', `Off the machine (refused by the trap proxy): ${o.offMachine.length ? o.offMachine.map(cell).join(', ') : 'nothing'}.`, '');
  return out;
}

function writeObservedFile(): void {
  if (process.env.WRITE_OBSERVED_REQUESTS !== '1' || observations.length === 0) return;
  const out = [
    '# Codex CLI',
    '',
    'Written by `WRITE_OBSERVED_REQUESTS=1 npx vitest run test/e2e/codex-cli.test.ts`.',
    '',
    `Pinned: \`${CODEX_PACKAGE}@${CODEX_VERSION}\`; Node ${process.version}.`,
    '',
    '## Setup',
    '',
    '- Same sandbox and trap as above. Codex runs as `node node_modules/@openai/codex/bin/codex.js`, the package\'s',
    '  launcher for its native binary (`@openai/codex-linux-x64`, an npm alias of `@openai/codex@' + CODEX_VERSION + '-linux-x64`;',
    '  no install script). `CODEX_HOME=<sandbox>/.codex`, the gateway key in `' + KEY_VAR + '`, and `$CODEX_HOME/config.toml`:',
    '',
    '```toml',
    codexConfig('http://127.0.0.1:<recording proxy>/v1').trimEnd(),
    '```',
    '',
    '  Without `features.plugins = false` it syncs its curated plugins: `git ls-remote https://github.com/openai/plugins.git`,',
    '  then `https://api.github.com/repos/openai/plugins`, then an export archive from `chatgpt.com`. Without',
    '  `analytics.enabled = false` (or `otel.metrics_exporter = "none"`) it posts OTLP metrics to',
    '  `https://ab.chatgpt.com/otlp/v1/metrics`. Standard input is /dev/null (it prints "Reading additional input from',
    '  stdin..." and reads nothing); bubblewrap is not on PATH, so it warns and uses the bundled one for the sandbox.',
    '- `gpt-5.5` on two gateways: one whose OpenAI upstream has `responses: native` (the call is passed through to the',
    "  upstream's /v1/responses) and one whose upstream has `responses: chat` (translated to /v1/chat/completions).",
    '',
  ];
  for (const o of observations) out.push(...renderObservation(o));
  writeObservedSection('codex', out);
}

// ---------------------------------------------------------------------------------------------
// Two gateways on one OpenAI simulator: Responses served natively, and chat completions only
// ---------------------------------------------------------------------------------------------

let sim: OpenAISimulator;
let native: TestGateway;
let chatOnly: TestGateway;
let nativeKey: string;
let chatKey: string;
let proxy: RecordingProxy;
let trap: TrapProxy;

describe.skipIf(!CODEX_INSTALLED)(`Codex CLI ${CODEX_VERSION} (codex exec) through the gateway`, () => {
  beforeAll(async () => {
    sim = await startOpenAISimulator({ apiKey: UPSTREAM_KEY, models: [CODEX_MODEL] });
    const upstream = { name: 'openai', type: 'openai', base_url: sim.url, api_key: UPSTREAM_KEY, models: [CODEX_MODEL] };
    native = await startTestGateway({ upstreams: [{ ...upstream, responses: 'native' }] });
    chatOnly = await startTestGateway({ upstreams: [{ ...upstream, responses: 'chat' }] });
    nativeKey = (await native.createKey({ name: 'codex-cli' })).key;
    chatKey = (await chatOnly.createKey({ name: 'codex-cli' })).key;
    proxy = await startRecordingProxy(native.url);
    trap = await startTrapProxy();
  }, 60_000);

  afterAll(async () => {
    writeObservedFile();
    await proxy?.close();
    await trap?.close();
    await native?.close();
    await chatOnly?.close();
    await sim?.close();
  });

  /** One run with a fresh sandbox; what was seen goes to the record before the assertions run. */
  async function withRun(title: string, prompt: string, gateway: TestGateway, fn: (run: () => Promise<{ run: RunResult; events: CodexEvent[] }>) => Promise<void>): Promise<void> {
    proxy.target = gateway.url;
    proxy.calls.length = 0;
    trap.attempts.length = 0;
    sim.requests.length = 0;
    const sb = makeSandbox();
    let observed = false;
    const observe = (run?: RunResult) => {
      observed = true;
      observations.push({ title, command: codexCommand(prompt), run, calls: [...proxy.calls], upstream: [...sim.requests], offMachine: [...trap.attempts] });
    };
    try {
      await fn(async () => {
        const key = gateway === native ? nativeKey : chatKey;
        const run = await runCli(CODEX_JS, codexArgs(prompt), codexEnv(sb, `${proxy.url}/v1`, trap, key), sb.cwd);
        observe(run);
        const why = describeRun(run, proxy.calls);
        expect(run.code, why).toBe(0);
        const events = parseEvents(run.stdout);
        expect(events.filter((e) => e.type === 'error' || e.type === 'turn.failed'), why).toEqual([]);
        expect(events.map((e) => e.type).at(-1), why).toBe('turn.completed');
        return { run, events };
      });
    } finally {
      if (!observed) observe();
      sb.remove();
    }
  }

  const agentText = (events: CodexEvent[]) => events.filter((e) => e.type === 'item.completed' && e.item?.type === 'agent_message').map((e) => e.item?.text);
  const commands = (events: CodexEvent[]) => events.filter((e) => e.type === 'item.completed' && e.item?.type === 'command_execution').map((e) => e.item);

  /** What every Codex turn sends, whichever upstream serves it. */
  function expectCodexCall(c: GatewayCall, key: string) {
    expect(`${c.method} ${c.path}`).toBe('POST /v1/responses');
    expect(c.status).toBe(200);
    expect(c.headers.authorization).toBe(`Bearer ${key}`);
    expect(c.headers.accept).toBe('text/event-stream');
    expect(c.headers['content-type']).toBe('application/json');
    expect(c.headers.originator).toBe('codex_exec');
    expect(c.headers['user-agent']).toMatch(new RegExp(`^codex_exec/${CODEX_VERSION.replace(/\./g, '\\.')} `));
    const session = header(c.headers, 'session-id');
    expect(session).toMatch(/^[0-9a-f-]{36}$/);
    expect(c.headers['thread-id']).toBe(session);
    expect(c.headers['x-client-request-id']).toBe(session);
    expect(c.headers['x-codex-window-id']).toBe(`${session}:0`);
    expect(JSON.parse(header(c.headers, 'x-codex-turn-metadata') ?? '{}')).toMatchObject({ session_id: session, model: CODEX_MODEL, sandbox_mode: 'read-only', analytics_enabled: false });

    const b = c.body;
    expect(Object.keys(b).sort()).toEqual(CODEX_BODY_FIELDS);
    expect(b.model).toBe(CODEX_MODEL);
    expect(b.stream).toBe(true);
    // Nothing kept upstream: every turn sends the whole conversation again.
    expect(b.store).toBe(false);
    expect(b.previous_response_id).toBeUndefined();
    expect(b.include).toEqual(['reasoning.encrypted_content']);
    expect(b.reasoning).toEqual({ effort: 'medium' });
    expect(b.tool_choice).toBe('auto');
    expect(b.parallel_tool_calls).toBe(true);
    expect(b.text).toEqual({ verbosity: 'low' });
    expect(b.prompt_cache_key).toBe(session);
    expect(b.tools.map(toolName)).toEqual(CODEX_TOOLS);
    const shell = b.tools.find((t: any) => t.name === SHELL_TOOL);
    expect(shell.parameters.required).toEqual(['cmd']);
    // Instructions travel as developer messages in `input`, not in `instructions`; then the environment and the prompt.
    expect(inputShape(b.input).split(',').slice(0, 4)).toEqual(['developer', 'developer', 'user', 'user']);
    expect(b.input[0].content[0].text).toMatch(/^You are Codex/);
    expect(b.input[2].content[0].text).toMatch(/^<environment_context>/);
  }

  /** The two turns of the tool task as Codex sends them: the second adds the call and its output. */
  function expectToolRoundTrip(key: string) {
    expect(proxy.calls).toHaveLength(2);
    for (const c of proxy.calls) expectCodexCall(c, key);
    const [first, second] = proxy.calls.map((c) => c.body);
    expect(first.input.at(-1)).toEqual({ type: 'message', id: expect.any(String), role: 'user', content: [{ type: 'input_text', text: TOOL_PROMPT }] });
    expect(inputShape(second.input)).toBe(`${inputShape(first.input)},function_call:${SHELL_TOOL},function_call_output`);
    const [call, output] = second.input.slice(-2);
    expect(call).toMatchObject({ type: 'function_call', name: SHELL_TOOL, arguments: SHELL_ARGUMENTS, call_id: expect.any(String) });
    expect(output).toMatchObject({ type: 'function_call_output', call_id: call.call_id });
    expect(output.output).toContain(`The passphrase is ${SECRET}.`);
    // Same session, same turn.
    expect(proxy.calls[1].headers['session-id']).toBe(proxy.calls[0].headers['session-id']);
  }

  /** Codex ran the command in its sandbox and answered from its output. */
  function expectToolTaskDone(events: CodexEvent[]) {
    const ran = commands(events);
    expect(ran).toHaveLength(1);
    expect(ran[0]).toMatchObject({ status: 'completed', exit_code: 0 });
    expect(ran[0]?.command).toContain(`cat ${SECRET_FILE}`);
    expect(ran[0]?.aggregated_output).toContain(SECRET);
    expect(agentText(events)).toEqual([`The passphrase is ${SECRET}.`]);
    // Both turns' usage, added up by Codex from what the gateway reported.
    expect(events.at(-1)?.usage?.input_tokens).toBe(2 * SIM_PROMPT_TOKENS);
  }

  describe('OpenAI upstream, responses: native (passed through)', () => {
    it(
      'answers a prompt',
      async () => {
        await withRun(`Codex CLI -> OpenAI upstream, responses: native: a prompt`, PONG_PROMPT, native, async (run) => {
          sim.handler = () => ({ type: 'text', text: 'Pong from the Responses upstream.' });
          const { events } = await run();
          expect(agentText(events)).toEqual(['Pong from the Responses upstream.']);
          expect(commands(events)).toEqual([]);
          expect(events.at(-1)?.usage?.input_tokens).toBe(SIM_PROMPT_TOKENS);

          expect(proxy.calls).toHaveLength(1);
          expectCodexCall(proxy.calls[0], nativeKey);
          expect(proxy.calls[0].body.input.at(-1).content).toEqual([{ type: 'input_text', text: PONG_PROMPT }]);

          const up = sim.requests.filter((r) => r.method === 'POST');
          expect(up.map((r) => r.path)).toEqual(['/v1/responses']);
          expect(up[0].headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
          // Same model name: the body goes through as Codex sent it.
          expect(up[0].body).toEqual(proxy.calls[0].body);
          expect(trap.attempts).toEqual([]);
        });
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'runs a shell-tool round trip (cat notes.txt) and answers from its output',
      async () => {
        await withRun(`Codex CLI -> OpenAI upstream, responses: native: tool round trip`, TOOL_PROMPT, native, async (run) => {
          sim.handler = toolLoopHandler;
          const { events } = await run();
          expectToolTaskDone(events);
          expectToolRoundTrip(nativeKey);

          const up = sim.requests.filter((r) => r.method === 'POST');
          expect(up.map((r) => r.path)).toEqual(['/v1/responses', '/v1/responses']);
          expect(up.every((r) => r.headers.authorization === `Bearer ${UPSTREAM_KEY}`)).toBe(true);
          expect(up.map((r) => r.body)).toEqual(proxy.calls.map((c) => c.body));
          expect(mentionsSecret(up[1].body.input)).toBe(true);
          expect(trap.attempts).toEqual([]);
        });
      },
      TEST_TIMEOUT_MS,
    );
  });

  describe('chat-only upstream, responses: chat (translated to chat completions)', () => {
    /** What the gateway makes of a Codex turn for a chat upstream. */
    function expectChatCall(r: RecordedRequest) {
      expect(r.path).toBe('/v1/chat/completions');
      expect(r.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
      const b = r.body;
      expect(b.model).toBe(CODEX_MODEL);
      expect(b.stream).toBe(true);
      expect(b.stream_options).toEqual({ include_usage: true });
      expect(b.reasoning_effort).toBe('medium');
      expect(b.tool_choice).toBe('auto');
      expect(b.parallel_tool_calls).toBe(true);
      expect(b.tools.map((t: { type: string; function: { name: string } }) => `${t.type}:${t.function.name}`)).toEqual(CHAT_TOOLS.map((n) => `function:${n}`));
      // Neither Responses-only fields nor the client's store/include reach a chat upstream.
      for (const f of ['input', 'store', 'include', 'text', 'prompt_cache_key', 'client_metadata', 'reasoning']) expect(b[f], f).toBeUndefined();
      // The developer messages become the system message; the environment context and the prompt stay user messages.
      expect(b.messages.slice(0, 3).map((m: { role: string }) => m.role)).toEqual(['system', 'user', 'user']);
      expect(JSON.stringify(b.messages[0].content)).toContain('You are Codex');
    }

    /** The gateway says what it could not carry: the three non-function tools among them. */
    function expectDroppedToolWarnings(c: GatewayCall) {
      const warnings = header(c.responseHeaders ?? {}, 'x-switchyard-warnings') ?? '';
      for (const t of ['custom', 'tool_search', 'web_search']) expect(warnings).toContain(`'${t}' tools are not supported by this gateway; the tool was dropped`);
    }

    it(
      'answers a prompt',
      async () => {
        await withRun(`Codex CLI -> chat-only OpenAI upstream, responses: chat: a prompt`, PONG_PROMPT, chatOnly, async (run) => {
          sim.handler = () => ({ type: 'text', text: 'Pong from the chat upstream.' });
          const { events } = await run();
          expect(agentText(events)).toEqual(['Pong from the chat upstream.']);
          expect(events.at(-1)?.usage?.input_tokens).toBe(SIM_PROMPT_TOKENS);

          expect(proxy.calls).toHaveLength(1);
          expectCodexCall(proxy.calls[0], chatKey);
          expectDroppedToolWarnings(proxy.calls[0]);

          const up = sim.requests.filter((r) => r.method === 'POST');
          expect(up).toHaveLength(1);
          expectChatCall(up[0]);
          expect(up[0].body.messages.map((m: { role: string }) => m.role)).toEqual(['system', 'user', 'user']);
          expect(up[0].body.messages[2].content).toEqual(expect.stringContaining(PONG_PROMPT));
          expect(trap.attempts).toEqual([]);
        });
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'runs a shell-tool round trip, the call and its result as chat tool_calls and a tool message',
      async () => {
        await withRun(`Codex CLI -> chat-only OpenAI upstream, responses: chat: tool round trip`, TOOL_PROMPT, chatOnly, async (run) => {
          sim.handler = toolLoopHandler;
          const { events } = await run();
          expectToolTaskDone(events);
          // Codex cannot tell: it sends the same Responses turns as against the native upstream.
          expectToolRoundTrip(chatKey);
          for (const c of proxy.calls) expectDroppedToolWarnings(c);

          const up = sim.requests.filter((r) => r.method === 'POST');
          expect(up.map((r) => r.path)).toEqual(['/v1/chat/completions', '/v1/chat/completions']);
          for (const r of up) expectChatCall(r);
          expect(up[0].body.messages.map((m: { role: string }) => m.role)).toEqual(['system', 'user', 'user']);
          const messages = up[1].body.messages as Array<{ role: string; content: unknown; tool_calls?: Array<{ id: string; type: string; function: { name: string; arguments: string } }>; tool_call_id?: string }>;
          expect(messages.map((m) => m.role)).toEqual(['system', 'user', 'user', 'assistant', 'tool']);
          const [assistant, tool] = messages.slice(-2);
          expect(assistant.tool_calls).toEqual([{ id: expect.any(String), type: 'function', function: { name: SHELL_TOOL, arguments: SHELL_ARGUMENTS } }]);
          // The call id Codex echoed is the one the chat upstream gave, and the tool message answers it.
          const codexCall = proxy.calls[1].body.input.at(-2);
          expect(codexCall.call_id).toBe(assistant.tool_calls?.[0].id);
          expect(tool.tool_call_id).toBe(assistant.tool_calls?.[0].id);
          expect(tool.content).toEqual(expect.stringContaining(`The passphrase is ${SECRET}.`));
          expect(trap.attempts).toEqual([]);
        });
      },
      TEST_TIMEOUT_MS,
    );
  });
});
