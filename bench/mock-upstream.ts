/**
 * A deliberately cheap OpenAI-compatible upstream for the benchmark: raw node:http,
 * fixed answers, no framework. POST .../chat/completions answers
 *   - a chat.completion with usage (non-stream), or
 *   - a stream of 20 content chunks, a finish chunk, a usage chunk (only when
 *     stream_options.include_usage is set, as OpenAI does) and `data: [DONE]`,
 *     each event written separately, as a real upstream sends them;
 * and POST .../v1/messages answers in Anthropic's Messages format: a `message`
 * with usage, or the documented event sequence (message_start, content_block_start,
 * 20 content_block_delta, content_block_stop, message_delta with usage, message_stop).
 * POST .../embeddings answers a list of one fixed 8-dimension embedding per input
 * with usage. A request whose JSON body has `"user": "bench-fail"` is answered
 * 400 invalid_request_error (bench/batch.ts uses it to put lines in the error file).
 *
 * Usage: node --import tsx bench/mock-upstream.ts [--port N] [--delay-ms MS] [--jitter-ms J] [--stats]
 *
 *   --delay-ms MS   answer every request MS ms after its body arrived (default 0:
 *                   at once); a fixed upstream latency, e.g. for bench/batch.ts
 *   --jitter-ms J   spread that delay uniformly over MS - J .. MS + J (mean MS;
 *                   default 0: fixed)
 *   --stats         count requests for GET /stats (off by default: the relay bench
 *                   uses the mock's CPU per request as a gauge of the host's speed)
 *
 * GET /stats answers {"requests", "inFlight", "maxInFlight", "busyMs"}: requests
 * answered, requests between their body's arrival and the end of the answer now
 * and at most, and the sum of those times (busyMs / wall time = mean concurrency).
 *
 * Prints `listening PORT` on stdout once ready. Listens on 127.0.0.1 only.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';

const STREAM_CONTENT_CHUNKS = 20;

const CREATED = 1_700_000_000;
const MODEL = 'bench-model';
const USAGE = { prompt_tokens: 24, completion_tokens: STREAM_CONTENT_CHUNKS, total_tokens: 24 + STREAM_CONTENT_CHUNKS };

const COMPLETION = Buffer.from(
  JSON.stringify({
    id: 'chatcmpl-bench0000000000000000000000',
    object: 'chat.completion',
    created: CREATED,
    model: MODEL,
    system_fingerprint: 'fp_bench',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: 'Hello! This is a fixed answer from the benchmark upstream, twenty tokens long or so.', refusal: null },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: { ...USAGE, prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 } },
  }),
);

function chunk(delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}): string {
  const body = {
    id: 'chatcmpl-bench0000000000000000000000',
    object: 'chat.completion.chunk',
    created: CREATED,
    model: MODEL,
    system_fingerprint: 'fp_bench',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...extra,
  };
  return `data: ${JSON.stringify(body)}\n\n`;
}

/** The stream's events, built once: the mock's per-request cost stays small and constant. */
const STREAM_EVENTS: string[] = [];
for (let i = 0; i < STREAM_CONTENT_CHUNKS; i++) {
  STREAM_EVENTS.push(chunk(i === 0 ? { role: 'assistant', content: 'Hello', refusal: null } : { content: ` tok${i}` }, null));
}
STREAM_EVENTS.push(chunk({}, 'stop'));
const USAGE_EVENT = `data: ${JSON.stringify({
  id: 'chatcmpl-bench0000000000000000000000',
  object: 'chat.completion.chunk',
  created: CREATED,
  model: MODEL,
  system_fingerprint: 'fp_bench',
  choices: [],
  usage: USAGE,
})}\n\n`;
const DONE_EVENT = 'data: [DONE]\n\n';

const ANTHROPIC_MESSAGE = Buffer.from(
  JSON.stringify({
    id: 'msg_bench000000000000000000',
    type: 'message',
    role: 'assistant',
    model: 'bench-claude',
    content: [{ type: 'text', text: 'Hello! This is a fixed answer from the benchmark upstream, twenty tokens long or so.' }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 24, output_tokens: STREAM_CONTENT_CHUNKS, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
  }),
);

function anthropicEvent(type: string, data: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
}

const ANTHROPIC_EVENTS: string[] = [
  anthropicEvent('message_start', {
    message: {
      id: 'msg_bench000000000000000000', type: 'message', role: 'assistant', model: 'bench-claude', content: [],
      stop_reason: null, stop_sequence: null, usage: { input_tokens: 24, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    },
  }),
  anthropicEvent('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
  ...Array.from({ length: STREAM_CONTENT_CHUNKS }, (_, i) => anthropicEvent('content_block_delta', { index: 0, delta: { type: 'text_delta', text: i === 0 ? 'Hello' : ` tok${i}` } })),
  anthropicEvent('content_block_stop', { index: 0 }),
  anthropicEvent('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: STREAM_CONTENT_CHUNKS } }),
  anthropicEvent('message_stop', {}),
];

const ANTHROPIC_JSON_HEADERS = { 'content-type': 'application/json', 'content-length': String(ANTHROPIC_MESSAGE.length) };

const JSON_HEADERS = { 'content-type': 'application/json', 'content-length': String(COMPLETION.length) };

const EMBEDDING = [0.0125, -0.0311, 0.0442, 0.0017, -0.0203, 0.0568, -0.0094, 0.0371];
const EMBEDDING_USAGE_PER_INPUT = 8;

function embeddings(input: unknown): Buffer {
  const n = Array.isArray(input) && input.length > 0 && typeof input[0] !== 'number' ? input.length : 1;
  return Buffer.from(
    JSON.stringify({
      object: 'list',
      data: Array.from({ length: n }, (_, index) => ({ object: 'embedding', index, embedding: EMBEDDING })),
      model: MODEL,
      usage: { prompt_tokens: n * EMBEDDING_USAGE_PER_INPUT, total_tokens: n * EMBEDDING_USAGE_PER_INPUT },
    }),
  );
}

const FAIL_BODY = Buffer.from('{"error":{"message":"bench-fail: this request is refused on purpose","type":"invalid_request_error","code":"bench_fail","param":"user"}}');
const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };

function handle(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const messages = req.method === 'POST' && req.url?.endsWith('/v1/messages');
  const embed = req.method === 'POST' && req.url?.endsWith('/embeddings');
  if (!messages && !embed && (req.method !== 'POST' || !req.url?.endsWith('/chat/completions'))) {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"not found","type":"invalid_request_error","code":null,"param":null}}');
    return;
  }
  let parsed: { stream?: unknown; stream_options?: { include_usage?: unknown } | null; user?: unknown; input?: unknown };
  try {
    parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
  } catch {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"invalid json","type":"invalid_request_error","code":null,"param":null}}');
    return;
  }
  if (parsed.user === 'bench-fail') {
    res.writeHead(400, { 'content-type': 'application/json', 'content-length': String(FAIL_BODY.length) });
    res.end(FAIL_BODY);
    return;
  }
  if (embed) {
    const out = embeddings(parsed.input);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(out.length) });
    res.end(out);
    return;
  }
  if (messages) {
    if (parsed.stream !== true) {
      res.writeHead(200, ANTHROPIC_JSON_HEADERS);
      res.end(ANTHROPIC_MESSAGE);
      return;
    }
    res.writeHead(200, SSE_HEADERS);
    for (let i = 0; i < ANTHROPIC_EVENTS.length - 1; i++) res.write(ANTHROPIC_EVENTS[i]);
    res.end(ANTHROPIC_EVENTS[ANTHROPIC_EVENTS.length - 1]);
    return;
  }
  if (parsed.stream !== true) {
    res.writeHead(200, JSON_HEADERS);
    res.end(COMPLETION);
    return;
  }
  res.writeHead(200, SSE_HEADERS);
  for (const ev of STREAM_EVENTS) res.write(ev);
  if (parsed.stream_options?.include_usage === true) res.write(USAGE_EVENT);
  res.end(DONE_EVENT);
}

function main(): void {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, 'delay-ms': { type: 'string', default: '0' }, 'jitter-ms': { type: 'string', default: '0' }, stats: { type: 'boolean', default: false } } });
  const counting = values.stats === true;
  const delayMs = Number(values['delay-ms']);
  const jitterMs = Number(values['jitter-ms']);
  if (!Number.isFinite(delayMs) || delayMs < 0) throw new Error(`--delay-ms wants a number >= 0, got "${values['delay-ms']}"`);
  if (!Number.isFinite(jitterMs) || jitterMs < 0 || jitterMs > delayMs) throw new Error(`--jitter-ms wants a number from 0 to the delay, got "${values['jitter-ms']}"`);
  const stats = { requests: 0, inFlight: 0, maxInFlight: 0, busyMs: 0 };
  const server = createServer({ keepAliveTimeout: 75_000 }, (req, res) => {
    if (counting && req.method === 'GET' && req.url === '/stats') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(stats));
      return;
    }
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = parts.length === 1 ? parts[0] : Buffer.concat(parts);
      if (counting) {
        const t0 = performance.now();
        if (++stats.inFlight > stats.maxInFlight) stats.maxInFlight = stats.inFlight;
        res.once('finish', () => {
          stats.inFlight--;
          stats.requests++;
          stats.busyMs += performance.now() - t0;
        });
      }
      const wait = jitterMs > 0 ? delayMs - jitterMs + Math.random() * 2 * jitterMs : delayMs;
      if (wait > 0) setTimeout(() => handle(req, res, body), wait);
      else handle(req, res, body);
    });
  });
  server.listen(Number(values.port), '127.0.0.1', () => {
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    process.stdout.write(`listening ${port}\n`);
  });
  const stop = (): void => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
