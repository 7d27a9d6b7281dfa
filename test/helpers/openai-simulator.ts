/**
 * An OpenAI upstream over real HTTP on 127.0.0.1, speaking the Chat Completions wire format as
 * api.openai.com does, for adapter and end-to-end tests.
 *
 * Shapes follow the published API reference (chat completion object, chat completion chunk object,
 * `stream_options`) and recorded live traffic from 2025:
 * - every chunk carries `service_tier`, `system_fingerprint`, `logprobs: null` per choice, and an
 *   `obfuscation` padding string unless the request set `stream_options.include_obfuscation: false`;
 * - with `stream_options.include_usage` every chunk carries `"usage": null`, and one extra chunk with
 *   `choices: []` and the usage comes after the finish chunk, before `data: [DONE]`;
 * - a text stream opens with `delta: {role, content: "", refusal: null}`; a tool-call stream opens
 *   with `delta: {role, content: null, tool_calls: [<first call header>], refusal: null}` (no separate
 *   role chunk), then argument fragments, `finish_reason: "tool_calls"`;
 * - errors are `{"error":{"message","type","param","code"}}`, also as the first SSE event of a 200.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { type BasicScenario, chunkText, type Exchange, type Pacing, playBasicScenario, randomString, type RecordedRequest, type SimulatorServer, sleep, splitWords, startSimulatorServer, write } from './simulator-server.ts';

export type { RecordedRequest };

export type Scenario =
  | ({
      type: 'text';
      text?: string;
      /** Stream: split the text into this many content chunks; default one per word (words keep their leading space, as OpenAI's tokens do). */
      chunks?: number;
      promptTokens?: number;
      /** Default: number of content chunks (plus reasoningTokens, which OpenAI counts inside completion_tokens). */
      completionTokens?: number;
      cachedTokens?: number;
      reasoningTokens?: number;
      /** Never send usage, even if asked (like OpenAI-compatible servers that ignore stream_options). */
      omitUsage?: boolean;
      finishReason?: string;
      /** Model name in the answer; default: the request's model. */
      model?: string;
    } & Pacing)
  | { type: 'tool_call'; calls: Array<{ id?: string; name: string; arguments: string }>; promptTokens?: number; completionTokens?: number; chunkDelayMs?: number }
  | {
      type: 'error';
      status: number;
      /** Sent as is (JSON-encoded unless a string); default: OpenAI error shape. */
      body?: unknown;
      message?: string;
      errorType?: string;
      code?: string | null;
      /** Extra response headers (lower-case names), e.g. `{ 'retry-after': '1' }` with a 429; they win over the defaults except content-length. */
      headers?: Record<string, string>;
    }
  /** 200 + text/event-stream whose first event is `data: {"error":{...}}`, then the stream ends. */
  | { type: 'stream_error_first'; message?: string }
  /** Stream: send N content chunks then destroy the socket (no [DONE]); afterChunks 0 = destroy before any response. Non-stream: part of the body. */
  | { type: 'drop'; afterChunks: number }
  /**
   * Stream: send the opening chunk and N content chunks, then go silent with the connection open (no
   * finish, no [DONE]) until the client aborts or close() runs, like `hang`. Non-stream: hang before the headers.
   */
  | { type: 'stall'; afterChunks: number }
  | BasicScenario;

/**
 * `requests` holds auth failures, bad JSON and /models calls too; the queue feeds chat requests only;
 * the default `handler` answers the text "Hello from the simulator."
 */
export interface OpenAISimulator extends SimulatorServer<Scenario> {
  /** Base URL including /v1, e.g. http://127.0.0.1:PORT/v1 */
  url: string;
}

export const DEFAULT_TEXT = 'Hello from the simulator.';
const DEFAULT_PROMPT_TOKENS = 11;
const SYSTEM_FINGERPRINT = 'fp_5fd1a7b3c2';

type OpenAIErrorBody = { error: { message: string; type: string; param: string | null; code: string | null } };

function openAIError(message: string, type: string, param: string | null = null, code: string | null = null): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

/** The `type` OpenAI uses for each status when the scenario does not name one. */
function defaultErrorType(status: number): string {
  if (status === 429) return 'requests';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** The first `n` word tokens of DEFAULT_TEXT repeated: the content of a stream that breaks off (drop, stall). */
function fillerWords(n: number): string[] {
  const pool = splitWords(`${DEFAULT_TEXT} ${DEFAULT_TEXT} ${DEFAULT_TEXT}`);
  const words: string[] = [];
  for (let i = 0; i < n; i++) words.push(pool[i % pool.length]);
  return words;
}

/** Argument fragments the way OpenAI's tokenizer cuts JSON: `{"`, `city`, `":"`, `Paris`, `"}`. */
function splitArguments(args: string): string[] {
  const parts = args.match(/[A-Za-z0-9_]+|\s+|[^A-Za-z0-9_\s]+/g) ?? [];
  return parts.length > 0 ? parts : [args];
}

function usageObject(prompt: number, completion: number, cached: number, reasoning: number) {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

export async function startOpenAISimulator(opts: { apiKey?: string; models?: string[] } = {}): Promise<OpenAISimulator> {
  const models = opts.models ?? ['gpt-4o-mini'];
  async function handle(ex: Exchange<Scenario>) {
    const { req, res, rec, parseFailed } = ex;
    const method = rec.method.toUpperCase();
    const pathname = new URL(rec.path, 'http://localhost').pathname.replace(/\/+$/, '');

    // Azure OpenAI: /openai/deployments/{deployment}/chat/completions?api-version=..., key in `api-key`.
    const azure = method === 'POST' && /^\/openai\/deployments\/[^/]+\/chat\/completions$/.test(pathname);
    if (azure && !new URL(rec.path, 'http://localhost').searchParams.get('api-version')) {
      sendJson(res, 404, { error: { code: '404', message: 'Resource not found' } });
      return;
    }
    const isChat = (method === 'POST' && pathname === '/v1/chat/completions') || azure;
    const isModels = method === 'GET' && pathname === '/v1/models';
    const modelMatch = method === 'GET' ? /^\/v1\/models\/(.+)$/.exec(pathname) : null;
    if (!isChat && !isModels && !modelMatch) {
      sendJson(res, 404, openAIError(`Invalid URL (${method} ${pathname || '/'})`, 'invalid_request_error'));
      return;
    }

    if (opts.apiKey !== undefined) {
      const auth = req.headers.authorization;
      const azureKey = req.headers['api-key'];
      const token = azure
        ? (typeof azureKey === 'string' ? azureKey : '')
        : typeof auth === 'string' && /^bearer\s+/i.test(auth) ? auth.replace(/^bearer\s+/i, '').trim() : '';
      if (!token) {
        sendJson(
          res,
          401,
          openAIError(
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
            'invalid_request_error',
          ),
        );
        return;
      }
      if (token !== opts.apiKey) {
        // Quotes the whole presented key on purpose: gateways must scrub upstream messages.
        sendJson(res, 401, openAIError(`Incorrect API key provided: ${token}. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_request_error', null, 'invalid_api_key'));
        return;
      }
    }

    if (isModels) {
      sendJson(res, 200, { object: 'list', data: models.map(modelObject) });
      return;
    }
    if (modelMatch) {
      const id = decodeURIComponent(modelMatch[1]);
      if (models.includes(id)) sendJson(res, 200, modelObject(id));
      else sendJson(res, 404, openAIError(`The model '${id}' does not exist`, 'invalid_request_error', 'model', 'model_not_found'));
      return;
    }

    // POST /v1/chat/completions
    if (parseFailed || rec.body === undefined) {
      sendJson(
        res,
        400,
        openAIError(
          "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
          'invalid_request_error',
        ),
      );
      return;
    }
    const body = rec.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      sendJson(res, 400, openAIError(`Invalid type for request body: expected an object, but got ${Array.isArray(body) ? 'an array' : typeof body} instead.`, 'invalid_request_error', null, 'invalid_type'));
      return;
    }
    if (typeof body.model !== 'string' || body.model.length === 0) {
      sendJson(res, 400, openAIError('you must provide a model parameter', 'invalid_request_error'));
      return;
    }
    if (!Array.isArray(body.messages)) {
      sendJson(res, 400, openAIError("Missing required parameter: 'messages'.", 'invalid_request_error', 'messages', 'missing_required_parameter'));
      return;
    }

    await answerChat(ex, ex.nextScenario());
  }

  function modelObject(id: string) {
    return { id, object: 'model', created: 1721172741, owned_by: 'system' };
  }

  function baseHeaders(): Record<string, string> {
    return {
      'x-request-id': `req_${randomBytes(16).toString('hex')}`,
      'openai-version': '2020-10-01',
      'openai-processing-ms': '42',
    };
  }

  function sendJson(res: ServerResponse, status: number, payload: unknown) {
    if (res.destroyed) return;
    const text = JSON.stringify(payload);
    res.writeHead(status, { ...baseHeaders(), 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  async function answerChat(ex: Exchange<Scenario>, scenario: Scenario) {
    if (playBasicScenario(ex, scenario)) return;
    const { res, rec } = ex;
    const body = rec.body as Record<string, any>;
    const stream = body.stream === true;
    const includeUsage = stream && body.stream_options?.include_usage === true;
    const obfuscate = stream && body.stream_options?.include_obfuscation !== false;
    const id = `chatcmpl-${randomString(29)}`;
    const created = Math.floor(Date.now() / 1000);

    switch (scenario.type) {
      case 'error': {
        if (ex.closed) return;
        const payload =
          scenario.body !== undefined
            ? scenario.body
            : openAIError(
                scenario.message ?? (scenario.status >= 500 ? 'The server had an error while processing your request. Sorry about that!' : 'Simulated error'),
                scenario.errorType ?? defaultErrorType(scenario.status),
                null,
                scenario.code === undefined ? (scenario.status === 429 ? 'rate_limit_exceeded' : null) : scenario.code,
              );
        const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
        res.writeHead(scenario.status, { ...baseHeaders(), 'content-type': 'application/json', ...scenario.headers, 'content-length': Buffer.byteLength(text) });
        res.end(text);
        return;
      }

      case 'stream_error_first': {
        if (ex.closed) return;
        res.writeHead(200, { ...baseHeaders(), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
        const err = openAIError(scenario.message ?? 'The server had an error while processing your request. Sorry about that!', 'server_error');
        await write(res, `data: ${JSON.stringify(err)}\n\n`);
        res.end();
        return;
      }

      case 'drop': {
        if (scenario.afterChunks <= 0) {
          ex.destroy();
          return;
        }
        const words = fillerWords(scenario.afterChunks);
        if (!stream) {
          // Headers promise a whole body; only part of it arrives.
          const full = JSON.stringify(completionObject(id, created, body.model, words.join(''), undefined, 'stop', usageObject(DEFAULT_PROMPT_TOKENS, words.length, 0, 0)));
          res.writeHead(200, { ...baseHeaders(), 'content-type': 'application/json', 'content-length': Buffer.byteLength(full) });
          await write(res, full.slice(0, Math.floor(full.length / 2)));
          ex.destroy();
          return;
        }
        const chunk = makeChunker(id, created, body.model, includeUsage, obfuscate);
        res.writeHead(200, { ...baseHeaders(), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
        await write(res, chunk({ role: 'assistant', content: '', refusal: null }, null));
        for (const w of words) {
          if (ex.closed) return;
          await write(res, chunk({ content: w }, null));
        }
        ex.destroy();
        return;
      }

      case 'stall': {
        // Non-stream: nothing at all, as `hang`; the request stays open until the client gives up.
        if (!stream || ex.closed) return;
        const chunk = makeChunker(id, created, body.model, includeUsage, obfuscate);
        res.writeHead(200, { ...baseHeaders(), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
        res.flushHeaders();
        await write(res, chunk({ role: 'assistant', content: '', refusal: null }, null));
        for (const w of fillerWords(scenario.afterChunks)) {
          if (ex.closed) return;
          await write(res, chunk({ content: w }, null));
        }
        // Then silence: the response is left open (no end, no destroy), so only the client's abort or close() settles it.
        return;
      }

      case 'text': {
        const text = scenario.text ?? DEFAULT_TEXT;
        const pieces = chunkText(text, scenario.chunks);
        const reasoning = scenario.reasoningTokens ?? 0;
        const usage = scenario.omitUsage
          ? undefined
          : usageObject(scenario.promptTokens ?? DEFAULT_PROMPT_TOKENS, scenario.completionTokens ?? pieces.length + reasoning, scenario.cachedTokens ?? 0, reasoning);
        const model = scenario.model ?? body.model;
        const finish = scenario.finishReason ?? 'stop';
        const delay = scenario.chunkDelayMs ?? 0;
        if (scenario.firstByteDelayMs) await sleep(scenario.firstByteDelayMs);
        if (ex.closed) return;

        if (!stream) {
          if (delay > 0) await sleep(delay * pieces.length);
          if (ex.closed) return;
          sendJson(res, 200, completionObject(id, created, model, text, undefined, finish, usage));
          return;
        }

        const chunk = makeChunker(id, created, model, includeUsage && usage !== undefined, obfuscate);
        res.writeHead(200, { ...baseHeaders(), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
        res.flushHeaders();
        await write(res, chunk({ role: 'assistant', content: '', refusal: null }, null));
        for (const piece of pieces) {
          if (delay > 0) await sleep(delay);
          if (ex.closed) return;
          await write(res, chunk({ content: piece }, null));
        }
        if (delay > 0) await sleep(delay);
        if (ex.closed) return;
        await write(res, chunk({}, finish));
        if (includeUsage && usage) await write(res, chunk(null, null, usage));
        if (ex.closed) return;
        await write(res, 'data: [DONE]\n\n');
        res.end();
        return;
      }

      case 'tool_call': {
        const calls = scenario.calls.map((c) => ({ id: c.id ?? `call_${randomString(24)}`, name: c.name, arguments: c.arguments, fragments: splitArguments(c.arguments) }));
        const fragmentCount = calls.reduce((n, c) => n + c.fragments.length, 0);
        const usage = usageObject(scenario.promptTokens ?? DEFAULT_PROMPT_TOKENS, scenario.completionTokens ?? fragmentCount + calls.length * 5, 0, 0);
        const delay = scenario.chunkDelayMs ?? 0;
        if (ex.closed) return;

        if (!stream) {
          if (delay > 0) await sleep(delay * fragmentCount);
          if (ex.closed) return;
          const toolCalls = calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
          sendJson(res, 200, completionObject(id, created, body.model, null, toolCalls, 'tool_calls', usage));
          return;
        }

        const chunk = makeChunker(id, created, body.model, includeUsage, obfuscate);
        res.writeHead(200, { ...baseHeaders(), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
        res.flushHeaders();
        for (const [index, c] of calls.entries()) {
          const header = { index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } };
          // OpenAI folds the role into the first tool-call chunk instead of sending a role-only chunk.
          const delta = index === 0 ? { role: 'assistant', content: null, tool_calls: [header], refusal: null } : { tool_calls: [header] };
          if (index > 0 && delay > 0) await sleep(delay);
          if (ex.closed) return;
          await write(res, chunk(delta, null));
          for (const fragment of c.fragments) {
            if (delay > 0) await sleep(delay);
            if (ex.closed) return;
            await write(res, chunk({ tool_calls: [{ index, function: { arguments: fragment } }] }, null));
          }
        }
        if (calls.length === 0) await write(res, chunk({ role: 'assistant', content: null, refusal: null }, null));
        if (delay > 0) await sleep(delay);
        if (ex.closed) return;
        await write(res, chunk({}, 'tool_calls'));
        if (includeUsage) await write(res, chunk(null, null, usage));
        if (ex.closed) return;
        await write(res, 'data: [DONE]\n\n');
        res.end();
        return;
      }
    }
  }

  function completionObject(
    id: string,
    created: number,
    model: string,
    content: string | null,
    toolCalls: unknown[] | undefined,
    finishReason: string,
    usage: ReturnType<typeof usageObject> | undefined,
  ) {
    const message: Record<string, unknown> = { role: 'assistant', content };
    if (toolCalls) message.tool_calls = toolCalls;
    message.refusal = null;
    message.annotations = [];
    return {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
      ...(usage ? { usage } : {}),
      service_tier: 'default',
      system_fingerprint: SYSTEM_FINGERPRINT,
    };
  }

  /**
   * Builds `data: <chunk>\n\n`. `delta === null` makes the usage-only chunk (`choices: []`).
   * With include_usage every other chunk carries `"usage": null`, as OpenAI sends.
   */
  function makeChunker(id: string, created: number, model: string, includeUsage: boolean, obfuscate: boolean) {
    return (delta: Record<string, unknown> | null, finishReason: string | null, usage?: ReturnType<typeof usageObject>): string => {
      const chunk: Record<string, unknown> = {
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        service_tier: 'default',
        system_fingerprint: SYSTEM_FINGERPRINT,
        choices: delta === null ? [] : [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      };
      if (includeUsage) chunk.usage = usage ?? null;
      if (obfuscate) chunk.obfuscation = randomString(1 + (randomBytes(1)[0] % 14));
      return `data: ${JSON.stringify(chunk)}\n\n`;
    };
  }

  const sim = await startSimulatorServer<Scenario>({
    handle,
    internalError: (res) => sendJson(res, 500, openAIError('The server had an error while processing your request.', 'server_error')),
    handler: () => ({ type: 'text' }),
  });
  sim.url += '/v1';
  return sim;
}
