/**
 * An Anthropic upstream over real HTTP on 127.0.0.1, speaking the Messages API as
 * api.anthropic.com does, for adapter and end-to-end tests.
 *
 * Shapes follow Anthropic's published reference (docs.claude.com: Messages, Streaming
 * Messages, Errors, Token counting):
 * - an API key (`x-api-key`, or `Authorization: Bearer` as the 1.x SDKs send it) and an
 *   `anthropic-version` header are required; every answer carries `request-id`;
 * - a message is `{id: "msg_...", type: "message", role: "assistant", model, content, stop_reason,
 *   stop_sequence, usage: {input_tokens, cache_creation_input_tokens, cache_read_input_tokens,
 *   output_tokens, service_tier}}`;
 * - a stream is named SSE events: message_start (empty content, usage so far), then per block
 *   content_block_start / content_block_delta (text_delta, thinking_delta + signature_delta,
 *   input_json_delta) / content_block_stop, a ping after the first block start, message_delta
 *   (stop_reason, cumulative usage) and message_stop;
 * - errors are `{"type":"error","error":{"type","message"},"request_id"}`, with 529
 *   overloaded_error; in a stream that already answered 200 they are an `event: error`;
 * - requests are checked like the API checks them: required fields, temperature range, thinking
 *   budget (>= 1024 and below max_tokens), tool_result blocks answering the previous turn's
 *   tool_use blocks, non-empty text blocks.
 */
import type { ServerResponse } from 'node:http';
import { type BasicScenario, chunkText, type Exchange, type Pacing, playBasicScenario, randomString, type RecordedRequest, type SimulatorServer, sleep, splitWords, startSimulatorServer, write } from './simulator-server.ts';

export type { RecordedRequest };

export interface ToolUseSpec {
  id?: string;
  name: string;
  input: Record<string, unknown>;
}

export type AnthropicScenario =
  | ({
      type: 'text';
      text?: string;
      /** Stream: split the text into this many deltas; default one per word (words keep their leading space). */
      chunks?: number;
      /** Uncached prompt tokens (Anthropic's input_tokens). */
      inputTokens?: number;
      outputTokens?: number;
      cacheReadTokens?: number;
      cacheCreationTokens?: number;
      stopReason?: string;
      /** Model name in the answer; default: the request's model. */
      model?: string;
    } & Pacing)
  | {
      type: 'tool_use';
      /** Text block before the tool calls, as Claude usually writes one. */
      text?: string;
      calls: ToolUseSpec[];
      inputTokens?: number;
      outputTokens?: number;
      chunkDelayMs?: number;
    }
  | {
      type: 'thinking';
      thinking?: string;
      signature?: string;
      /** Adds a redacted_thinking block with this data after the thinking block. */
      redactedData?: string;
      text?: string;
      inputTokens?: number;
      outputTokens?: number;
      chunkDelayMs?: number;
    }
  /** An HTTP error with Anthropic's error body (or `body` as is, JSON-encoded unless a string). */
  | { type: 'error'; status: number; errorType?: string; message?: string; body?: unknown; headers?: Record<string, string> }
  /** 529 overloaded_error, as Anthropic answers under load. */
  | { type: 'overloaded' }
  /** 200 + text/event-stream whose first event is `event: error`, then the stream ends. */
  | { type: 'stream_error_first'; errorType?: string; message?: string }
  /** A text stream that sends `afterChunks` text deltas, then `event: error`, then ends. */
  | { type: 'stream_error'; afterChunks: number; errorType?: string; message?: string }
  /** Stream: message_start, a text block start and N deltas, then the socket is destroyed; 0 = destroyed before any response. Non-stream: half the body. */
  | { type: 'drop'; afterChunks: number }
  | BasicScenario;

/**
 * `requests` holds auth failures and count_tokens calls too; the queue feeds POST /v1/messages only;
 * the default `handler` answers the text "Hello from the simulator."
 */
export interface AnthropicSimulator extends SimulatorServer<AnthropicScenario> {
  /** Host root, e.g. http://127.0.0.1:PORT (Anthropic's SDKs and base_url append /v1/messages). */
  url: string;
}

export const DEFAULT_TEXT = 'Hello from the simulator.';
export const DEFAULT_SIGNATURE = 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds';
const DEFAULT_INPUT_TOKENS = 25;

type ErrorBody = { type: 'error'; error: { type: string; message: string }; request_id: string };

/** input_json_delta fragments the way the API cuts them: an empty one first, then pieces of a few characters. */
function splitJson(json: string): string[] {
  const out = [''];
  for (let i = 0; i < json.length; i += 12) out.push(json.slice(i, i + 12));
  return out;
}

function statusErrorType(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 504:
      return 'timeout_error';
    case 529:
      return 'overloaded_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

type Block =
  | { kind: 'text'; pieces: string[] }
  | { kind: 'thinking'; pieces: string[]; signature: string }
  | { kind: 'redacted_thinking'; data: string }
  | { kind: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

interface Plan {
  blocks: Block[];
  stopReason: string;
  stopSequence: string | null;
  model: string;
  inputTokens: number;
  outputTokens: number;
  cacheRead: number;
  cacheCreation: number;
  delay: number;
  firstByteDelay: number;
}

export async function startAnthropicSimulator(opts: { apiKey?: string } = {}): Promise<AnthropicSimulator> {
  function requestId(): string {
    return `req_${randomString(24)}`;
  }

  function sendJson(res: ServerResponse, status: number, payload: unknown, extra: Record<string, string> = {}) {
    if (res.destroyed) return;
    const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
    res.writeHead(status, { 'request-id': requestId(), 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra });
    res.end(text);
  }

  function errorBody(type: string, message: string): ErrorBody {
    return { type: 'error', error: { type, message }, request_id: requestId() };
  }

  function sendError(res: ServerResponse, status: number, type: string, message: string, extra: Record<string, string> = {}) {
    sendJson(res, status, errorBody(type, message), extra);
  }

  async function handle(ex: Exchange<AnthropicScenario>) {
    const { req, res, rec, parseFailed } = ex;
    const method = rec.method.toUpperCase();
    const pathname = new URL(rec.path, 'http://localhost').pathname.replace(/\/+$/, '');
    const isMessages = pathname === '/v1/messages';
    const isCount = pathname === '/v1/messages/count_tokens';
    if (!isMessages && !isCount) {
      sendError(res, 404, 'not_found_error', 'Not Found');
      return;
    }
    if (method !== 'POST') {
      sendError(res, 405, 'invalid_request_error', `Method Not Allowed`);
      return;
    }
    if (opts.apiKey !== undefined) {
      // API keys come as x-api-key (anthropic-version 2023-06-01 clients) or as a Bearer token (the 1.x SDKs).
      const auth = req.headers.authorization;
      const bearer = typeof auth === 'string' && /^bearer\s+/i.test(auth) ? auth.replace(/^bearer\s+/i, '').trim() : undefined;
      const key = req.headers['x-api-key'] ?? bearer;
      if (typeof key !== 'string' || key === '') {
        sendError(res, 401, 'authentication_error', 'x-api-key header is required');
        return;
      }
      if (key !== opts.apiKey) {
        sendError(res, 401, 'authentication_error', 'invalid x-api-key');
        return;
      }
    }
    if (typeof req.headers['anthropic-version'] !== 'string') {
      sendError(res, 400, 'invalid_request_error', 'anthropic-version: header is required');
      return;
    }
    if (parseFailed || rec.body === null || typeof rec.body !== 'object' || Array.isArray(rec.body)) {
      sendError(res, 400, 'invalid_request_error', 'There was an error parsing the body of your request. Please make sure it is valid JSON.');
      return;
    }
    const problem = validate(rec.body, isCount);
    if (problem) {
      sendError(res, 400, 'invalid_request_error', problem);
      return;
    }
    if (isCount) {
      const { system, messages, tools } = rec.body as Record<string, unknown>;
      sendJson(res, 200, { input_tokens: Math.max(1, Math.ceil(JSON.stringify({ system, messages, tools }).length / 4)) });
      return;
    }
    await answer(ex, ex.nextScenario());
  }

  /** The checks the Messages API makes that an adapter can get wrong; null when the request is acceptable. */
  function validate(body: Record<string, any>, isCount: boolean): string | null {
    if (typeof body.model !== 'string' || body.model === '') return 'model: Field required';
    if (!isCount && body.max_tokens === undefined) return 'max_tokens: Field required';
    if (!isCount && (!Number.isInteger(body.max_tokens) || body.max_tokens < 1)) return 'max_tokens: Input should be a valid integer greater than or equal to 1';
    if (!Array.isArray(body.messages)) return 'messages: Field required';
    if (body.temperature !== undefined && (typeof body.temperature !== 'number' || body.temperature < 0 || body.temperature > 1)) {
      return 'temperature: Input should be less than or equal to 1';
    }
    if (body.thinking?.type === 'enabled') {
      const budget = body.thinking.budget_tokens;
      if (!Number.isInteger(budget) || budget < 1024) return 'thinking.enabled.budget_tokens: Input should be greater than or equal to 1024';
      if (!isCount && budget >= body.max_tokens) {
        return '`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size';
      }
    }
    const messages = body.messages as Array<{ role?: unknown; content?: unknown }>;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i];
      if (m.role === 'system') {
        // Mid-conversation system messages (Claude Opus 4.8 and later; clients send the mid-conversation-system-2026-04-07 beta):
        // never first, right after a user turn, then an assistant turn or the end; text only.
        if (i === 0) return 'messages.0: a system message cannot be the first message; use the top-level `system` parameter';
        if (messages[i - 1].role !== 'user') return `messages.${i}: a system message must follow a user message`;
        const next = messages[i + 1];
        if (next !== undefined && next.role !== 'assistant') return `messages.${i}: a system message must be last or followed by an assistant message`;
        if (typeof m.content === 'string') continue;
        if (!Array.isArray(m.content) || m.content.some((b: any) => b?.type !== 'text')) return `messages.${i}.content: a system message takes a string or text blocks`;
        continue;
      }
      if (m.role !== 'user' && m.role !== 'assistant') return `messages.${i}.role: Input should be 'user', 'assistant' or 'system'`;
      if (typeof m.content === 'string') continue;
      if (!Array.isArray(m.content)) return `messages.${i}.content: Input should be a valid list`;
      const blocks = m.content as Array<Record<string, any>>;
      if (blocks.length === 0 && i < messages.length - 1) return `messages.${i}: all messages must have non-empty content except for the optional final assistant message`;
      for (const b of blocks) {
        if (b.type === 'text' && (typeof b.text !== 'string' || b.text === '')) return 'messages: text content blocks must be non-empty';
      }
      const ids = (list: Array<Record<string, any>>, type: string, field: string) => list.filter((b) => b.type === type).map((b) => String(b[field]));
      const results = ids(blocks, 'tool_result', 'tool_use_id');
      if (results.length > 0) {
        const prev = messages[i - 1];
        const prevUses = prev && prev.role === 'assistant' && Array.isArray(prev.content) ? ids(prev.content as Array<Record<string, any>>, 'tool_use', 'id') : [];
        const unexpected = results.filter((id) => !prevUses.includes(id));
        if (unexpected.length > 0) {
          return `messages.${i}.content.0: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${unexpected.join(', ')}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`;
        }
      }
      if (m.role === 'assistant' && i < messages.length - 1) {
        const uses = ids(blocks, 'tool_use', 'id');
        const next = messages[i + 1];
        const answered = Array.isArray(next.content) ? ids(next.content as Array<Record<string, any>>, 'tool_result', 'tool_use_id') : [];
        const missing = uses.filter((id) => !answered.includes(id));
        if (missing.length > 0) {
          return `messages.${i + 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`;
        }
      }
    }
    return null;
  }

  function event(type: string, payload: Record<string, unknown>): string {
    return `event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`;
  }

  function openStream(res: ServerResponse) {
    res.writeHead(200, { 'request-id': requestId(), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    res.flushHeaders();
  }

  function plan(scenario: AnthropicScenario, body: Record<string, any>): Plan {
    const base = {
      model: body.model as string,
      inputTokens: DEFAULT_INPUT_TOKENS,
      cacheRead: 0,
      cacheCreation: 0,
      stopSequence: null as string | null,
      delay: 0,
      firstByteDelay: 0,
    };
    switch (scenario.type) {
      case 'tool_use': {
        const blocks: Block[] = [];
        if (scenario.text) blocks.push({ kind: 'text', pieces: splitWords(scenario.text) });
        for (const c of scenario.calls) blocks.push({ kind: 'tool_use', id: c.id ?? `toolu_01${randomString(22)}`, name: c.name, input: c.input });
        return {
          ...base,
          blocks,
          stopReason: 'tool_use',
          inputTokens: scenario.inputTokens ?? base.inputTokens,
          outputTokens: scenario.outputTokens ?? countOutput(blocks),
          delay: scenario.chunkDelayMs ?? 0,
        };
      }
      case 'thinking': {
        const blocks: Block[] = [
          { kind: 'thinking', pieces: splitWords(scenario.thinking ?? 'Let me think about this step by step.'), signature: scenario.signature ?? DEFAULT_SIGNATURE },
        ];
        if (scenario.redactedData !== undefined) blocks.push({ kind: 'redacted_thinking', data: scenario.redactedData });
        blocks.push({ kind: 'text', pieces: splitWords(scenario.text ?? DEFAULT_TEXT) });
        return {
          ...base,
          blocks,
          stopReason: 'end_turn',
          inputTokens: scenario.inputTokens ?? base.inputTokens,
          outputTokens: scenario.outputTokens ?? countOutput(blocks),
          delay: scenario.chunkDelayMs ?? 0,
        };
      }
      case 'text':
      default: {
        const s = scenario.type === 'text' ? scenario : { type: 'text' as const };
        let text = s.text ?? DEFAULT_TEXT;
        let stopReason = s.stopReason ?? 'end_turn';
        let stopSequence: string | null = null;
        for (const seq of Array.isArray(body.stop_sequences) ? (body.stop_sequences as string[]) : []) {
          const at = text.indexOf(seq);
          if (seq !== '' && at !== -1) {
            text = text.slice(0, at);
            stopReason = 'stop_sequence';
            stopSequence = seq;
          }
        }
        let pieces = chunkText(text, s.chunks);
        if (typeof body.max_tokens === 'number' && pieces.length > body.max_tokens) {
          pieces = pieces.slice(0, body.max_tokens);
          stopReason = 'max_tokens';
          stopSequence = null;
        }
        const blocks: Block[] = [{ kind: 'text', pieces }];
        return {
          ...base,
          blocks,
          stopReason,
          stopSequence,
          model: s.model ?? base.model,
          inputTokens: s.inputTokens ?? base.inputTokens,
          cacheRead: s.cacheReadTokens ?? 0,
          cacheCreation: s.cacheCreationTokens ?? 0,
          outputTokens: s.outputTokens ?? pieces.length,
          delay: s.chunkDelayMs ?? 0,
          firstByteDelay: s.firstByteDelayMs ?? 0,
        };
      }
    }
  }

  function countOutput(blocks: Block[]): number {
    let n = 0;
    for (const b of blocks) {
      if (b.kind === 'text' || b.kind === 'thinking') n += b.pieces.length;
      else if (b.kind === 'tool_use') n += splitJson(JSON.stringify(b.input)).length + 5;
      else n += 10;
    }
    return n;
  }

  function usage(p: Plan, output: number) {
    return {
      input_tokens: p.inputTokens,
      cache_creation_input_tokens: p.cacheCreation,
      cache_read_input_tokens: p.cacheRead,
      output_tokens: output,
      service_tier: 'standard',
    };
  }

  function messageObject(id: string, p: Plan) {
    const content = p.blocks.map((b) => {
      switch (b.kind) {
        case 'text':
          return { type: 'text', text: b.pieces.join('') };
        case 'thinking':
          return { type: 'thinking', thinking: b.pieces.join(''), signature: b.signature };
        case 'redacted_thinking':
          return { type: 'redacted_thinking', data: b.data };
        case 'tool_use':
          return { type: 'tool_use', id: b.id, name: b.name, input: b.input };
      }
    });
    return { id, type: 'message', role: 'assistant', model: p.model, content, stop_reason: p.stopReason, stop_sequence: p.stopSequence, usage: usage(p, p.outputTokens) };
  }

  /**
   * The SSE events of a whole streamed message, in order. `isDelta` marks content deltas; `prefix`
   * marks the opening events (message_start, the first block start, ping) that come before any delta.
   */
  function streamEvents(id: string, p: Plan): Array<{ text: string; isDelta: boolean; prefix: boolean }> {
    const out: Array<{ text: string; isDelta: boolean; prefix: boolean }> = [];
    let sawDelta = false;
    const push = (type: string, payload: Record<string, unknown>, isDelta = false) => {
      sawDelta ||= isDelta;
      const prefix = !sawDelta && (type === 'message_start' || type === 'content_block_start' || type === 'ping');
      out.push({ text: event(type, payload), isDelta, prefix });
    };
    push('message_start', {
      message: { id, type: 'message', role: 'assistant', model: p.model, content: [], stop_reason: null, stop_sequence: null, usage: usage(p, 1) },
    });
    p.blocks.forEach((b, index) => {
      switch (b.kind) {
        case 'text':
          push('content_block_start', { index, content_block: { type: 'text', text: '' } });
          if (index === 0) push('ping', {});
          for (const piece of b.pieces) push('content_block_delta', { index, delta: { type: 'text_delta', text: piece } }, true);
          break;
        case 'thinking':
          push('content_block_start', { index, content_block: { type: 'thinking', thinking: '', signature: '' } });
          if (index === 0) push('ping', {});
          for (const piece of b.pieces) push('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: piece } }, true);
          push('content_block_delta', { index, delta: { type: 'signature_delta', signature: b.signature } });
          break;
        case 'redacted_thinking':
          push('content_block_start', { index, content_block: { type: 'redacted_thinking', data: b.data } });
          break;
        case 'tool_use':
          push('content_block_start', { index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } });
          if (index === 0) push('ping', {});
          for (const piece of splitJson(JSON.stringify(b.input))) push('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: piece } }, true);
          break;
      }
      push('content_block_stop', { index });
    });
    push('message_delta', {
      delta: { stop_reason: p.stopReason, stop_sequence: p.stopSequence },
      usage: { input_tokens: p.inputTokens, cache_creation_input_tokens: p.cacheCreation, cache_read_input_tokens: p.cacheRead, output_tokens: p.outputTokens },
    });
    push('message_stop', {});
    return out;
  }

  async function answer(ex: Exchange<AnthropicScenario>, scenario: AnthropicScenario) {
    if (playBasicScenario(ex, scenario)) return;
    const { res, rec } = ex;
    const body = rec.body as Record<string, any>;
    const stream = body.stream === true;
    const id = `msg_01${randomString(22)}`;

    switch (scenario.type) {
      case 'error': {
        if (ex.closed) return;
        const payload = scenario.body ?? errorBody(scenario.errorType ?? statusErrorType(scenario.status), scenario.message ?? 'Simulated error');
        sendJson(res, scenario.status, payload, scenario.headers);
        return;
      }

      case 'overloaded':
        if (ex.closed) return;
        sendError(res, 529, 'overloaded_error', 'Overloaded');
        return;

      case 'stream_error_first':
        if (ex.closed) return;
        openStream(res);
        await write(res, event('error', { error: { type: scenario.errorType ?? 'overloaded_error', message: scenario.message ?? 'Overloaded' } }));
        res.end();
        return;

      case 'stream_error':
      case 'drop': {
        if (scenario.type === 'drop' && scenario.afterChunks <= 0) {
          ex.destroy();
          return;
        }
        const pool = splitWords(`${DEFAULT_TEXT} ${DEFAULT_TEXT} ${DEFAULT_TEXT}`);
        const words = Array.from({ length: Math.max(0, scenario.afterChunks) }, (_, i) => pool[i % pool.length]);
        const p = plan({ type: 'text', text: words.join('') }, body);
        if (!stream) {
          if (scenario.type === 'stream_error') {
            sendError(res, 529, scenario.errorType ?? 'overloaded_error', scenario.message ?? 'Overloaded');
            return;
          }
          const full = JSON.stringify(messageObject(id, p));
          res.writeHead(200, { 'request-id': requestId(), 'content-type': 'application/json', 'content-length': Buffer.byteLength(full) });
          await write(res, full.slice(0, Math.floor(full.length / 2)));
          ex.destroy();
          return;
        }
        openStream(res);
        let deltas = 0;
        for (const ev of streamEvents(id, p)) {
          if (deltas >= scenario.afterChunks && !ev.prefix) break;
          if (ex.closed) return;
          await write(res, ev.text);
          if (ev.isDelta) deltas++;
        }
        if (scenario.type === 'drop') {
          ex.destroy();
          return;
        }
        await write(res, event('error', { error: { type: scenario.errorType ?? 'overloaded_error', message: scenario.message ?? 'Overloaded' } }));
        res.end();
        return;
      }

      case 'text':
      case 'tool_use':
      case 'thinking': {
        const p = plan(scenario, body);
        if (p.firstByteDelay > 0) await sleep(p.firstByteDelay);
        if (ex.closed) return;
        if (!stream) {
          if (p.delay > 0) await sleep(p.delay * countOutput(p.blocks));
          if (ex.closed) return;
          sendJson(res, 200, messageObject(id, p));
          return;
        }
        openStream(res);
        for (const ev of streamEvents(id, p)) {
          if (ev.isDelta && p.delay > 0) await sleep(p.delay);
          if (ex.closed) return;
          await write(res, ev.text);
        }
        res.end();
        return;
      }
    }
  }

  return startSimulatorServer<AnthropicScenario>({
    handle,
    internalError: (res) => sendError(res, 500, 'api_error', 'Internal server error'),
    handler: () => ({ type: 'text' }),
  });
}
