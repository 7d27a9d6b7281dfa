/**
 * A deliberately cheap OpenAI-compatible upstream for the benchmark: raw node:http,
 * fixed answers, no framework. POST .../chat/completions answers
 *   - a chat.completion with usage (non-stream), or
 *   - a stream of 20 content chunks, a finish chunk, a usage chunk (only when
 *     stream_options.include_usage is set, as OpenAI does) and `data: [DONE]`,
 *     each event written separately, as a real upstream sends them.
 *
 * Usage: node --import tsx bench/mock-upstream.ts [--port N]
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

const JSON_HEADERS = { 'content-type': 'application/json', 'content-length': String(COMPLETION.length) };
const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };

function handle(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"not found","type":"invalid_request_error","code":null,"param":null}}');
    return;
  }
  let parsed: { stream?: unknown; stream_options?: { include_usage?: unknown } | null };
  try {
    parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
  } catch {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"invalid json","type":"invalid_request_error","code":null,"param":null}}');
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
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } } });
  const server = createServer({ keepAliveTimeout: 75_000 }, (req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => handle(req, res, parts.length === 1 ? parts[0] : Buffer.concat(parts)));
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
