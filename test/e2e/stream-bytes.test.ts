import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

/** An upstream that sends fixed byte chunks, one write each, with a pause between them. */
let chunks: Buffer[] = [];
let upstream: Server;
let gw: TestGateway;
let key: string;

const ev = (o: unknown): string => `data: ${JSON.stringify(o)}\n\n`;
const content = (text: string): string => ev({ id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: text } }] });
const USAGE = ev({ id: 'c', object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } });

beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    req.on('end', async () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const c of chunks) {
        res.write(c);
        await new Promise((r) => setTimeout(r, 30));
      }
      res.end();
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
  gw = await startTestGateway({ upstreams: [{ name: 'raw', type: 'openai', base_url: url, api_key: 'sk-upstream-0123456789', models: ['m'] }] });
  key = (await gw.createKey({ name: 'bytes' })).key;
});

afterAll(async () => {
  await gw?.close();
  await new Promise((r) => upstream?.close(r));
});

async function streamThrough(): Promise<Buffer> {
  const res = await fetch(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'x' }] }),
  });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

describe('same-protocol stream bytes', () => {
  it('keeps a multi-byte character split between two upstream chunks intact', async () => {
    const first = Buffer.from(content('Hi 👋 there'));
    const split = first.indexOf(Buffer.from('👋')) + 2; // inside the emoji's four bytes
    const second = Buffer.from(content('é') + 'data: [DONE]\n\n');
    chunks = [first.subarray(0, split), first.subarray(split), second];
    const out = await streamThrough();
    expect(out.toString('utf8')).toBe(content('Hi 👋 there') + content('é') + 'data: [DONE]\n\n');
    expect(out.includes(Buffer.from('\ufffd'))).toBe(false);
  });

  it('drops the usage chunk and comments within a chunk, and an event split across chunks arrives whole', async () => {
    const all = Buffer.from(content('a') + ': keep-alive\n\n' + content('b') + USAGE + 'data: [DONE]\n\n');
    chunks = [all.subarray(0, 10), all.subarray(10, 200), all.subarray(200)];
    const out = (await streamThrough()).toString('utf8');
    expect(out).toBe(content('a') + content('b') + 'data: [DONE]\n\n');
  });
});

describe('a stream cut short', () => {
  it('forwards an only event that lacks its closing blank line, with proper SSE headers', async () => {
    chunks = [Buffer.from(content('Hi').trimEnd())];
    const res = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    expect(await res.text()).toBe(content('Hi'));
  });
});

describe('cross-format stream bytes', () => {
  it('keeps a multi-byte character split between upstream chunks intact when converting (OpenAI upstream, Anthropic client)', async () => {
    const first = Buffer.from(content('Hi 👋'));
    const split = first.indexOf(Buffer.from('👋')) + 1;
    const finish = ev({ id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
    chunks = [first.subarray(0, split), first.subarray(split), Buffer.from(finish + USAGE + 'data: [DONE]\n\n')];
    const res = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', max_tokens: 20, stream: true, messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(res.status).toBe(200);
    const text = await res.text();
    const deltas = text
      .split('\n')
      .filter((l) => l.startsWith('data: ') && l.includes('text_delta'))
      .map((l) => (JSON.parse(l.slice(6)) as { delta: { text: string } }).delta.text)
      .join('');
    expect(deltas).toBe('Hi 👋');
    expect(text).not.toContain('\ufffd');
    expect(text).toContain('event: message_stop');
  });
});
