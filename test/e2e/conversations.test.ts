/**
 * Server-kept conversations (POST /v1/chat/conversation, GET/DELETE/list under
 * /v1/chat/conversations) over real HTTP: the simulators record every chat
 * request the gateway made for a turn, so the history it kept, the system prompt
 * and the trimming to the model's window are checked message by message. Also
 * the stream trailer after [DONE] on the pass-through and the converted path,
 * the official client, expiry, two turns at once (one instance and two),
 * failed and aborted turns, isolation between keys, and conversations in Redis.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { countPromptTokens, countTextTokens } from '../../src/core/tokens.ts';
import { startAnthropicSimulator, type AnthropicSimulator } from '../helpers/anthropic-simulator.ts';
import { startOpenAISimulator, type OpenAISimulator, type RecordedRequest } from '../helpers/openai-simulator.ts';
import { REDIS_URL, redisKeyPrefix } from '../helpers/redis-server.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

const UPSTREAM_KEY = 'sk-upstream-conversations-0123456789';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const HOUR_S = 3600;

interface Answer {
  status: number;
  json: any;
  headers: Headers;
}

async function post(gw: TestGateway, key: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(`${gw.baseURL}/chat/conversation`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...init,
  });
}

async function turn(gw: TestGateway, key: string, body: Record<string, unknown>): Promise<Answer> {
  const res = await post(gw, key, body);
  return { status: res.status, json: await res.json(), headers: res.headers };
}

/** A streamed turn: every SSE event's data, in order (keep-alive comments dropped). */
async function streamTurn(gw: TestGateway, key: string, body: Record<string, unknown>): Promise<{ status: number; datas: string[]; text: string }> {
  const res = await post(gw, key, { ...body, stream: true });
  const text = await res.text();
  const datas = text
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice('data: '.length));
  return { status: res.status, datas, text };
}

async function call(gw: TestGateway, key: string, method: string, path: string): Promise<Answer> {
  const res = await fetch(`${gw.baseURL}${path}`, { method, headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, json: await res.json(), headers: res.headers };
}

/** The chat messages of the simulator's chat requests, oldest first. */
function chatCalls(sim: OpenAISimulator): RecordedRequest[] {
  return sim.requests.filter((r) => r.path === '/v1/chat/completions');
}

async function waitFor<T>(fn: () => Promise<T | undefined> | T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function usageRecord(gw: TestGateway, requestId: string) {
  return waitFor(async () => {
    await gw.services.recorder.flush();
    return gw.store.db.selectFrom('usage_records').selectAll().where('request_id', '=', requestId).executeTakeFirst();
  });
}

/** Each message's content tokens as the gateway counts them. */
async function withTokens(messages: Array<{ role: string; content: string }>) {
  return Promise.all(messages.map(async (m) => ({ ...m, tokens: await countTextTokens(m.content) })));
}

let sim: OpenAISimulator;
let claude: AnthropicSimulator;
let gw: TestGateway;
let keyA: string;
let keyAId: string;
let keyB: string;

/** The small-window model's conversation: every turn costs the same, and the window holds the system prompt, two turns, the new message and max_tokens. */
const SMALL_SYSTEM = 'You answer geography questions.';
const SMALL_MAX_TOKENS = 16;
const question = (i: number): string => `Question ${i}: what is the capital of France?`;
const answer = (i: number): string => `Answer ${i}: Paris is the capital of France.`;
let smallWindow: number;

const upstreams = () => [
  { name: 'main', type: 'openai', base_url: sim.url, api_key: UPSTREAM_KEY, models: ['gpt-4o-mini', 'small-window'] },
  { name: 'claude', type: 'anthropic', base_url: claude.url, api_key: UPSTREAM_KEY, models: ['claude-sonnet-4-6'] },
];

beforeAll(async () => {
  sim = await startOpenAISimulator({ apiKey: UPSTREAM_KEY });
  claude = await startAnthropicSimulator({ apiKey: UPSTREAM_KEY });
  const turnCost = 3 + (await countTextTokens(question(1))) + 3 + (await countTextTokens(answer(1)));
  for (let i = 2; i <= 4; i++) expect(3 + (await countTextTokens(question(i))) + 3 + (await countTextTokens(answer(i)))).toBe(turnCost);
  const fixed = 3 + 3 + (await countTextTokens(SMALL_SYSTEM)) + 3 + (await countTextTokens(question(1)));
  smallWindow = fixed + 2 * turnCost + SMALL_MAX_TOKENS;
  gw = await startTestGateway({
    upstreams: upstreams(),
    models: { 'gpt-4o-mini': { input_price: 1, output_price: 2 }, 'small-window': { context_window: smallWindow } },
    conversations: { default_model: 'gpt-4o-mini' },
    retry: { attempts: 1 },
  });
  const a = await gw.createKey({ name: 'conversations-a' });
  keyA = a.key;
  keyAId = a.id;
  keyB = (await gw.createKey({ name: 'conversations-b' })).key;
});

afterAll(async () => {
  await gw?.close();
  await sim?.close();
  await claude?.close();
});

beforeEach(() => {
  sim.requests.length = 0;
  claude.requests.length = 0;
});

describe('POST /v1/chat/conversation', () => {
  it('keeps the history across turns: the upstream gets system, every earlier turn and the new message; a later system replaces the stored one', async () => {
    sim.enqueue({ type: 'text', text: 'Hi! How can I help?' });
    const first = await turn(gw, keyA, { content: 'Hello', system: 'You are terse.' });
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ object: 'chat.completion', model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'Hi! How can I help?' }, finish_reason: 'stop' }] });
    const id = first.json.conversationId as string;
    expect(id).toMatch(UUID);

    sim.enqueue({ type: 'text', text: 'It is 4.' });
    const second = await turn(gw, keyA, { content: 'What is 2+2?', conversationId: id });
    expect(second.status).toBe(200);
    expect(second.json.conversationId).toBe(id);
    expect(second.json.choices[0].message.content).toBe('It is 4.');

    sim.enqueue({ type: 'text', text: 'Four, since two and two make four.', omitUsage: true });
    const third = await turn(gw, keyA, { content: 'Explain.', conversationId: id, system: 'You are verbose.', temperature: 0.2, max_tokens: 50, user: 'u-1' });
    expect(third.status).toBe(200);

    const calls = chatCalls(sim);
    expect(calls.map((c) => c.body.messages)).toEqual([
      [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Hello' },
      ],
      [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Hello' },
        { role: 'assistant', content: 'Hi! How can I help?' },
        { role: 'user', content: 'What is 2+2?' },
      ],
      [
        { role: 'system', content: 'You are verbose.' },
        { role: 'user', content: 'Hello' },
        { role: 'assistant', content: 'Hi! How can I help?' },
        { role: 'user', content: 'What is 2+2?' },
        { role: 'assistant', content: 'It is 4.' },
        { role: 'user', content: 'Explain.' },
      ],
    ]);
    // The client's chat parameters go along; the conversation's own fields do not.
    expect(calls[2].body).toEqual({ model: 'gpt-4o-mini', messages: calls[2].body.messages, temperature: 0.2, max_tokens: 50, user: 'u-1' });
    expect(calls.every((c) => c.body.model === 'gpt-4o-mini' && !('content' in c.body) && !('conversationId' in c.body))).toBe(true);

    const got = await call(gw, keyA, 'GET', `/chat/conversations/${id}`);
    expect(got.status).toBe(200);
    expect(got.json).toEqual({
      id,
      object: 'chat.conversation',
      model: 'gpt-4o-mini',
      system: 'You are verbose.',
      messages: await withTokens([
        { role: 'user', content: 'Hello' },
        { role: 'assistant', content: 'Hi! How can I help?' },
        { role: 'user', content: 'What is 2+2?' },
        { role: 'assistant', content: 'It is 4.' },
        { role: 'user', content: 'Explain.' },
        { role: 'assistant', content: 'Four, since two and two make four.' },
      ]),
      created_at: expect.any(Number),
      updated_at: expect.any(Number),
      expires_at: expect.any(Number),
    });
    expect(got.json.expires_at - got.json.updated_at).toBe(48 * HOUR_S);
    expect(Math.abs(got.json.updated_at - Date.now() / 1000)).toBeLessThan(5);

    // Metered as chat.conversation; with no usage from the upstream, the full context it got is what is billed.
    const rec = await usageRecord(gw, third.headers.get('x-request-id') as string);
    const fullContext = await countPromptTokens(calls[2].body.messages.map((m: { content: string }) => ({ texts: [m.content], images: 0 })));
    expect(rec).toMatchObject({ endpoint: 'chat.conversation', key_id: keyAId, model: 'gpt-4o-mini', upstream: 'main', estimated: 1, prompt_tokens: fullContext, charged: 1 });
    const first_rec = await usageRecord(gw, first.headers.get('x-request-id') as string);
    expect(first_rec).toMatchObject({ endpoint: 'chat.conversation', estimated: 0, status: 200 });
  });

  it('trims whole turns, oldest first, keeping the system prompt, so prompt plus max_tokens fits the window', async () => {
    let id: string | undefined;
    for (let i = 1; i <= 4; i++) {
      sim.enqueue({ type: 'text', text: answer(i) });
      const r = await turn(gw, keyA, { content: question(i), model: 'small-window', max_tokens: SMALL_MAX_TOKENS, ...(id ? { conversationId: id } : { system: SMALL_SYSTEM }) });
      expect(r.status).toBe(200);
      id = r.json.conversationId as string;
    }
    const sys = { role: 'system', content: SMALL_SYSTEM };
    const q = (i: number) => ({ role: 'user', content: question(i) });
    const a = (i: number) => ({ role: 'assistant', content: answer(i) });
    expect(chatCalls(sim).map((c) => c.body.messages)).toEqual([
      [sys, q(1)],
      [sys, q(1), a(1), q(2)],
      // Exactly at the window: nothing dropped yet.
      [sys, q(1), a(1), q(2), a(2), q(3)],
      // One token over: the oldest turn goes, whole.
      [sys, q(2), a(2), q(3), a(3), q(4)],
    ]);
    const kept = await call(gw, keyA, 'GET', `/chat/conversations/${id}`);
    expect(kept.json.messages.map((m: { content: string }) => m.content)).toEqual([question(2), answer(2), question(3), answer(3), question(4), answer(4)]);

    // A message that cannot fit even alone is refused before any upstream call, and changes nothing.
    const before = chatCalls(sim).length;
    const tooLong = await turn(gw, keyA, { content: 'word '.repeat(smallWindow), conversationId: id, max_tokens: SMALL_MAX_TOKENS });
    expect(tooLong.status).toBe(400);
    expect(tooLong.json.error).toMatchObject({ type: 'invalid_request_error', code: 'context_length_exceeded', param: 'content' });
    expect(chatCalls(sim).length).toBe(before);
    expect((await call(gw, keyA, 'GET', `/chat/conversations/${id}`)).json.messages).toEqual(kept.json.messages);
  });

  it('streams chat.completion.chunk events, then data: [DONE], then the conversationInfo trailer with the whole reply', async () => {
    sim.enqueue({ type: 'text', text: 'Streaming works fine.' });
    const s = await streamTurn(gw, keyA, { content: 'Stream to me' });
    expect(s.status).toBe(200);
    const trailer = JSON.parse(s.datas.at(-1) as string);
    expect(trailer).toEqual({ id: 'conversationInfo', conversationId: expect.stringMatching(UUID), message: '[DONE]', fullContent: 'Streaming works fine.' });
    expect(s.datas.at(-2)).toBe('[DONE]');
    const chunks = s.datas.slice(0, -2).map((d) => JSON.parse(d));
    expect(chunks.length).toBeGreaterThan(2);
    for (const c of chunks) expect(c.object).toBe('chat.completion.chunk');
    // Usage was asked for by the gateway, not the client: that chunk is not forwarded.
    expect(chunks.every((c) => c.choices.length > 0)).toBe(true);
    expect(chunks.map((c) => c.choices[0].delta.content ?? '').join('')).toBe('Streaming works fine.');
    expect(chatCalls(sim)[0].body).toMatchObject({ stream: true, stream_options: { include_usage: true } });

    sim.enqueue({ type: 'text', text: 'Second streamed reply.' });
    const again = await streamTurn(gw, keyA, { content: 'Once more', conversationId: trailer.conversationId, stream_options: { include_usage: true } });
    const againChunks = again.datas.slice(0, -2).map((d) => JSON.parse(d));
    // The client asked for usage this time: it gets the usage chunk.
    expect(againChunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: expect.any(Number) } });
    expect(JSON.parse(again.datas.at(-1) as string)).toMatchObject({ conversationId: trailer.conversationId, fullContent: 'Second streamed reply.' });
    expect(chatCalls(sim)[1].body.messages).toEqual([
      { role: 'user', content: 'Stream to me' },
      { role: 'assistant', content: 'Streaming works fine.' },
      { role: 'user', content: 'Once more' },
    ]);
  });

  it('works the same through a converted upstream (Anthropic): history in its format, OpenAI chunks and the trailer back', async () => {
    claude.enqueue({ type: 'text', text: 'Claude says hello.' });
    const s = await streamTurn(gw, keyA, { content: 'Hi Claude', model: 'claude-sonnet-4-6', system: 'Be kind.', max_tokens: 100 });
    expect(s.status).toBe(200);
    expect(s.datas.at(-2)).toBe('[DONE]');
    const trailer = JSON.parse(s.datas.at(-1) as string);
    expect(trailer).toMatchObject({ id: 'conversationInfo', message: '[DONE]', fullContent: 'Claude says hello.' });
    expect(JSON.parse(s.datas[0])).toMatchObject({ object: 'chat.completion.chunk', model: 'claude-sonnet-4-6' });

    claude.enqueue({ type: 'text', text: 'Still here.' });
    const second = await turn(gw, keyA, { content: 'Are you there?', conversationId: trailer.conversationId, max_tokens: 100 });
    expect(second.json).toMatchObject({ conversationId: trailer.conversationId, object: 'chat.completion', choices: [{ message: { content: 'Still here.' } }] });
    const sent = claude.requests.filter((r) => r.path === '/v1/messages').map((r) => r.body);
    expect(JSON.stringify(sent[1].system)).toContain('Be kind.');
    expect(sent[1].messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Hi Claude' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'Claude says hello.' }] },
      { role: 'user', content: [{ type: 'text', text: 'Are you there?' }] },
    ]);
  });

  it('serves the official openai client unchanged: post() and a stream that ends at [DONE] (the trailer is ignored)', async () => {
    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: keyA, maxRetries: 0 });
    sim.enqueue({ type: 'text', text: 'From the SDK.' });
    const res = (await client.post('/chat/conversation', { body: { content: 'SDK turn' } })) as OpenAI.ChatCompletion & { conversationId: string };
    expect(res.choices[0].message.content).toBe('From the SDK.');
    sim.enqueue({ type: 'text', text: 'Streamed to the SDK.' });
    const stream = (await client.post('/chat/conversation', { body: { content: 'SDK stream', conversationId: res.conversationId, stream: true }, stream: true })) as unknown as AsyncIterable<OpenAI.ChatCompletionChunk>;
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text).toBe('Streamed to the SDK.');
    const got = await call(gw, keyA, 'GET', `/chat/conversations/${res.conversationId}`);
    expect(got.json.messages.map((m: { content: string }) => m.content)).toEqual(['SDK turn', 'From the SDK.', 'SDK stream', 'Streamed to the SDK.']);
  });

  it('a failed turn and an aborted stream leave the history as it was; a failed first turn leaves no conversation', async () => {
    sim.enqueue({ type: 'text', text: 'Kept reply.' });
    const id = (await turn(gw, keyA, { content: 'Keep me' })).json.conversationId as string;
    const before = (await call(gw, keyA, 'GET', `/chat/conversations/${id}`)).json.messages;

    sim.enqueue({ type: 'error', status: 500, message: 'upstream broke' });
    const failed = await turn(gw, keyA, { content: 'This one fails', conversationId: id });
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expect((await call(gw, keyA, 'GET', `/chat/conversations/${id}`)).json.messages).toEqual(before);

    sim.enqueue({ type: 'drop', afterChunks: 2 });
    const dropped = await streamTurn(gw, keyA, { content: 'This stream breaks', conversationId: id });
    expect(dropped.datas.some((d) => d.includes('"error"'))).toBe(true);
    expect(dropped.text).not.toContain('conversationInfo');
    expect((await call(gw, keyA, 'GET', `/chat/conversations/${id}`)).json.messages).toEqual(before);

    sim.enqueue({ type: 'stall', afterChunks: 2 });
    const controller = new AbortController();
    const res = await post(gw, keyA, { content: 'I will hang up', conversationId: id, stream: true }, { signal: controller.signal });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    await waitFor(() => (chatCalls(sim).at(-1)?.aborted ? true : undefined));

    // The lock was let go: the next turn runs at once, on the history as it was.
    sim.enqueue({ type: 'text', text: 'Back again.' });
    const next = await turn(gw, keyA, { content: 'Next', conversationId: id });
    expect(next.status).toBe(200);
    expect(chatCalls(sim).at(-1)?.body.messages).toEqual([
      { role: 'user', content: 'Keep me' },
      { role: 'assistant', content: 'Kept reply.' },
      { role: 'user', content: 'Next' },
    ]);

    const key = (await gw.createKey({ name: 'first-turn-fails' })).key;
    sim.enqueue({ type: 'error', status: 500 });
    expect((await turn(gw, key, { content: 'Never kept' })).status).toBeGreaterThanOrEqual(500);
    expect((await turn(gw, key, { content: 'Unknown model', model: 'no-such-model' })).status).toBe(404);
    expect((await call(gw, key, 'GET', '/chat/conversations')).json.data).toEqual([]);
  });

  it('runs two turns sent at once on one conversation one after the other, never interleaved', async () => {
    sim.enqueue({ type: 'text', text: 'Start.' });
    const id = (await turn(gw, keyA, { content: 'Begin' })).json.conversationId as string;
    sim.enqueue({ type: 'text', text: 'Reply one two three four five.', chunkDelayMs: 40 }, { type: 'text', text: 'Reply six seven eight nine ten.', chunkDelayMs: 40 });
    const [x, y] = await Promise.all([streamTurn(gw, keyA, { content: 'X', conversationId: id }), turn(gw, keyA, { content: 'Y', conversationId: id })]);
    expect(x.status).toBe(200);
    expect(y.status).toBe(200);
    const [c1, c2, c3] = chatCalls(sim);
    expect(c1.body.messages.at(-1).content).toBe('Begin');
    // The second call started after the first had finished, and carried its reply.
    expect(c3.startedAt).toBeGreaterThanOrEqual(c2.endedAt as number);
    const firstUser = c2.body.messages.at(-1).content as string;
    const secondUser = firstUser === 'X' ? 'Y' : 'X';
    const firstReply = firstUser === 'X' ? JSON.parse(x.datas.at(-1) as string).fullContent : y.json.choices[0].message.content;
    expect(c3.body.messages).toEqual([
      { role: 'user', content: 'Begin' },
      { role: 'assistant', content: 'Start.' },
      { role: 'user', content: firstUser },
      { role: 'assistant', content: firstReply },
      { role: 'user', content: secondUser },
    ]);
    const got = await call(gw, keyA, 'GET', `/chat/conversations/${id}`);
    expect(got.json.messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant', 'user', 'assistant']);
    expect(got.json.messages[4].content).toBe(secondUser);
  });

  it('serialises turns sent at once to two instances on one database', async () => {
    const other = await startTestGateway(
      { upstreams: upstreams(), conversations: { default_model: 'gpt-4o-mini' }, retry: { attempts: 1 } },
      { database: gw.services.config.database },
    );
    try {
      sim.enqueue({ type: 'text', text: 'Shared start.' });
      const id = (await turn(gw, keyA, { content: 'Begin shared' })).json.conversationId as string;
      sim.enqueue({ type: 'text', text: 'Slow reply from somewhere.', chunkDelayMs: 40 }, { type: 'text', text: 'Another slow reply here.', chunkDelayMs: 40 });
      const [p, q] = await Promise.all([turn(gw, keyA, { content: 'P', conversationId: id }), turn(other, keyA, { content: 'Q', conversationId: id })]);
      expect([p.status, q.status]).toEqual([200, 200]);
      const [, c2, c3] = chatCalls(sim);
      expect(c3.startedAt).toBeGreaterThanOrEqual(c2.endedAt as number);
      expect(c3.body.messages).toHaveLength(5);
      expect(c3.body.messages[2].content).toBe(c2.body.messages.at(-1).content);
      const got = await call(other, keyA, 'GET', `/chat/conversations/${id}`);
      expect(got.json.messages).toHaveLength(6);
    } finally {
      await other.close();
    }
  });

  it('keeps conversations to their key: another key gets 404 for it on every route and does not list it', async () => {
    sim.enqueue({ type: 'text', text: 'Private.' });
    const id = (await turn(gw, keyA, { content: 'Mine' })).json.conversationId as string;
    const notFound = { error: { message: `Conversation with id '${id}' not found.`, type: 'invalid_request_error', param: 'conversationId', code: null } };
    const stolen = await turn(gw, keyB, { content: 'Let me in', conversationId: id });
    expect(stolen.status).toBe(404);
    expect(stolen.json).toEqual(notFound);
    expect((await call(gw, keyB, 'GET', `/chat/conversations/${id}`)).status).toBe(404);
    expect((await call(gw, keyB, 'DELETE', `/chat/conversations/${id}`)).status).toBe(404);
    expect((await call(gw, keyB, 'GET', '/chat/conversations?limit=100')).json.data.map((c: { id: string }) => c.id)).not.toContain(id);
    expect((await call(gw, keyA, 'GET', `/chat/conversations/${id}`)).json.messages).toHaveLength(2);
    expect(chatCalls(sim)).toHaveLength(1);

    const noKey = await fetch(`${gw.baseURL}/chat/conversations/${id}`);
    expect(noKey.status).toBe(401);
    const unknown = await turn(gw, keyA, { content: 'Hello?', conversationId: 'e282d7a0-b183-4c7c-ba9c-3559e2af751f' });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toMatchObject({ type: 'invalid_request_error', param: 'conversationId', code: null });
  });

  it('lists the key’s conversations newest first, paginated, and deletes them', async () => {
    const key = (await gw.createKey({ name: 'lister' })).key;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      sim.enqueue({ type: 'text', text: `Reply ${i}` });
      ids.push((await turn(gw, key, { content: `Conversation ${i}`, system: i === 0 ? 'First' : undefined })).json.conversationId);
      await new Promise((r) => setTimeout(r, 5));
    }
    const page1 = await call(gw, key, 'GET', '/chat/conversations?limit=2');
    expect(page1.json).toMatchObject({ object: 'list', first_id: ids[2], last_id: ids[1], has_more: true });
    expect(page1.json.data[0]).toEqual({
      id: ids[2],
      object: 'chat.conversation',
      model: 'gpt-4o-mini',
      system: null,
      message_count: 2,
      created_at: expect.any(Number),
      updated_at: expect.any(Number),
      expires_at: expect.any(Number),
    });
    const page2 = await call(gw, key, 'GET', `/chat/conversations?limit=2&after=${ids[1]}`);
    expect(page2.json).toMatchObject({ data: [{ id: ids[0], system: 'First' }], has_more: false });

    const deleted = await call(gw, key, 'DELETE', `/chat/conversations/${ids[0]}`);
    expect(deleted.json).toEqual({ id: ids[0], object: 'chat.conversation.deleted', deleted: true });
    expect((await call(gw, key, 'GET', `/chat/conversations/${ids[0]}`)).status).toBe(404);
    expect((await turn(gw, key, { content: 'Still there?', conversationId: ids[0] })).status).toBe(404);
    expect((await call(gw, key, 'GET', '/chat/conversations')).json.data.map((c: { id: string }) => c.id)).toEqual([ids[2], ids[1]]);
    // OpenAI's own /v1/conversations (Responses-API conversations) is not this API.
    expect((await call(gw, key, 'GET', '/conversations')).status).toBe(404);
  });

  it('refuses bad input in OpenAI’s shape', async () => {
    const missing = await turn(gw, keyA, {});
    expect(missing.status).toBe(400);
    expect(missing.json.error).toMatchObject({ param: 'content', code: 'missing_required_parameter' });
    const wrongType = await turn(gw, keyA, { content: ['a'] });
    expect(wrongType.json.error).toMatchObject({ param: 'content', code: 'invalid_type' });
    const withMessages = await turn(gw, keyA, { content: 'x', messages: [{ role: 'user', content: 'y' }] });
    expect(withMessages.json.error).toMatchObject({ param: 'messages', code: 'unknown_parameter' });
    const badStream = await turn(gw, keyA, { content: 'x', stream: 'yes' });
    expect(badStream.json.error).toMatchObject({ param: 'stream', code: 'invalid_type' });
    expect(chatCalls(sim)).toHaveLength(0);
  });
});

describe('conversation expiry and a gateway without a default model', () => {
  let short: TestGateway;
  let key: string;

  beforeAll(async () => {
    short = await startTestGateway({ upstreams: upstreams(), conversations: { ttl_hours: 1 / 3600, trailer_id: 'kamiyaInfo' }, retry: { attempts: 1 } });
    key = (await short.createKey({ name: 'short' })).key;
  });

  afterAll(async () => {
    await short?.close();
  });

  it('needs a model when no default is configured; names the trailer as configured', async () => {
    const noModel = await turn(short, key, { content: 'Hi' });
    expect(noModel.status).toBe(400);
    expect(noModel.json.error).toMatchObject({ param: 'model', type: 'invalid_request_error' });
    sim.enqueue({ type: 'text', text: 'Named trailer.' });
    const s = await streamTurn(short, key, { content: 'Hi', model: 'gpt-4o-mini' });
    expect(JSON.parse(s.datas.at(-1) as string)).toMatchObject({ id: 'kamiyaInfo', message: '[DONE]', fullContent: 'Named trailer.' });
  });

  it('expires a conversation its TTL after its last use: 404, and the sweep removes it', async () => {
    sim.enqueue({ type: 'text', text: 'Soon gone.' });
    const first = await turn(short, key, { content: 'Remember me', model: 'gpt-4o-mini' });
    const id = first.json.conversationId as string;
    // A use within the TTL keeps it alive.
    await new Promise((r) => setTimeout(r, 600));
    sim.enqueue({ type: 'text', text: 'Still here.' });
    expect((await turn(short, key, { content: 'Still there?', conversationId: id })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 600));
    expect((await call(short, key, 'GET', `/chat/conversations/${id}`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 600));
    const gone = await turn(short, key, { content: 'Hello?', conversationId: id });
    expect(gone.status).toBe(404);
    expect(gone.json.error).toMatchObject({ type: 'invalid_request_error', param: 'conversationId', code: null });
    expect((await call(short, key, 'GET', `/chat/conversations/${id}`)).status).toBe(404);
    expect((await call(short, key, 'GET', '/chat/conversations')).json.data).toEqual([]);
    await short.services.fileSweeper.sweep();
    expect(await short.store.db.selectFrom('conversations').select('id').where('id', '=', id).executeTakeFirst()).toBeUndefined();
  });
});

describe.skipIf(!REDIS_URL)('conversations in Redis', () => {
  let r1: TestGateway;
  let r2: TestGateway;
  let key: string;
  const prefix = redisKeyPrefix();

  beforeAll(async () => {
    const config = { redis: REDIS_URL, upstreams: upstreams(), conversations: { default_model: 'gpt-4o-mini', ttl_hours: 3 / 3600 }, retry: { attempts: 1 } };
    r1 = await startTestGateway(config, { services: { redisPrefix: prefix } });
    r2 = await startTestGateway(config, { database: r1.services.config.database, services: { redisPrefix: prefix } });
    await waitFor(() => (r1.services.redis?.status === 'ready' && r2.services.redis?.status === 'ready' ? true : undefined));
    key = (await r1.createKey({ name: 'redis' })).key;
  });

  afterAll(async () => {
    await r2?.close();
    await r1?.close();
  });

  it('keeps the history in Redis, shared by every instance, with the TTL on its keys', async () => {
    expect(r1.services.conversations.store.backend).toBe('redis');
    sim.enqueue({ type: 'text', text: 'Kept in Redis.' });
    const id = (await turn(r1, key, { content: 'Hello Redis', system: 'Short answers.' })).json.conversationId as string;
    sim.enqueue({ type: 'text', text: 'Second instance speaking.' });
    const second = await streamTurn(r2, key, { content: 'Other instance', conversationId: id });
    expect(JSON.parse(second.datas.at(-1) as string)).toMatchObject({ conversationId: id, fullContent: 'Second instance speaking.' });
    expect(chatCalls(sim).at(-1)?.body.messages).toEqual([
      { role: 'system', content: 'Short answers.' },
      { role: 'user', content: 'Hello Redis' },
      { role: 'assistant', content: 'Kept in Redis.' },
      { role: 'user', content: 'Other instance' },
    ]);
    // Nothing in the database: the conversation lives in Redis, expiring by itself.
    expect(await r1.store.db.selectFrom('conversations').selectAll().execute()).toEqual([]);
    const ttl = await r1.services.redis!.pttl(`${prefix}conv:${id}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(3000);
    const got = await call(r1, key, 'GET', `/chat/conversations/${id}`);
    expect(got.json.messages).toEqual(
      await withTokens([
        { role: 'user', content: 'Hello Redis' },
        { role: 'assistant', content: 'Kept in Redis.' },
        { role: 'user', content: 'Other instance' },
        { role: 'assistant', content: 'Second instance speaking.' },
      ]),
    );
    expect((await call(r2, key, 'GET', '/chat/conversations')).json.data.map((c: { id: string }) => c.id)).toContain(id);
  });

  it('serialises turns sent at once to two instances through the Redis lease', async () => {
    sim.enqueue({ type: 'text', text: 'Redis start.' });
    const id = (await turn(r1, key, { content: 'Begin Redis' })).json.conversationId as string;
    sim.requests.length = 0;
    sim.enqueue({ type: 'text', text: 'Slow one from an instance.', chunkDelayMs: 40 }, { type: 'text', text: 'Slow two from an instance.', chunkDelayMs: 40 });
    const [a, b] = await Promise.all([turn(r1, key, { content: 'A', conversationId: id }), turn(r2, key, { content: 'B', conversationId: id })]);
    expect([a.status, b.status]).toEqual([200, 200]);
    const [c1, c2] = chatCalls(sim);
    expect(c2.startedAt).toBeGreaterThanOrEqual(c1.endedAt as number);
    expect(c2.body.messages.slice(0, 4)).toEqual([
      { role: 'user', content: 'Begin Redis' },
      { role: 'assistant', content: 'Redis start.' },
      { role: 'user', content: c1.body.messages.at(-1).content },
      { role: 'assistant', content: c1.body.messages.at(-1).content === 'A' ? a.json.choices[0].message.content : b.json.choices[0].message.content },
    ]);
  });

  it('expires in Redis, and deletes and isolates as in the database', async () => {
    sim.enqueue({ type: 'text', text: 'Short-lived.' });
    const id = (await turn(r1, key, { content: 'Expire me' })).json.conversationId as string;
    const other = (await r1.createKey({ name: 'redis-other' })).key;
    expect((await call(r2, other, 'GET', `/chat/conversations/${id}`)).status).toBe(404);
    expect((await call(r2, other, 'DELETE', `/chat/conversations/${id}`)).status).toBe(404);
    await new Promise((r) => setTimeout(r, 3200));
    expect((await turn(r2, key, { content: 'Gone?', conversationId: id })).status).toBe(404);
    expect(await r1.services.redis!.exists(`${prefix}conv:${id}`)).toBe(0);

    sim.enqueue({ type: 'text', text: 'To delete.' });
    const del = (await turn(r1, key, { content: 'Delete me' })).json.conversationId as string;
    expect((await call(r2, key, 'DELETE', `/chat/conversations/${del}`)).json).toEqual({ id: del, object: 'chat.conversation.deleted', deleted: true });
    expect((await call(r1, key, 'GET', `/chat/conversations/${del}`)).status).toBe(404);
  });
});
