import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAnthropicSimulator, type AnthropicSimulator } from '../helpers/anthropic-simulator.ts';
import { startGeminiSimulator, type GeminiSimulator } from '../helpers/gemini-simulator.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

let gemini: GeminiSimulator;
let anthropic: AnthropicSimulator;
let gw: TestGateway;
let key: string;

beforeAll(async () => {
  gemini = await startGeminiSimulator({ apiKey: 'g-upstream-key' });
  anthropic = await startAnthropicSimulator({ apiKey: 'a-upstream-key' });
  gw = await startTestGateway({
    upstreams: [
      { name: 'g', type: 'gemini', base_url: gemini.url, api_key: 'g-upstream-key', models: ['gemini-2.5-flash'] },
      { name: 'a', type: 'anthropic', base_url: `${anthropic.url}/v1`, api_key: 'a-upstream-key', models: ['claude-3-5-haiku'] },
    ],
  });
  key = (await gw.createKey()).key;
});

afterAll(async () => {
  await gw?.close();
  await gemini?.close();
  await anthropic?.close();
});

const geminiBody = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] });

describe('how each client format presents its key', () => {
  it('Gemini: ?key= and x-goog-api-key, under /v1beta and /v1; a bad key is 400 INVALID_ARGUMENT', async () => {
    for (const url of [`${gw.url}/v1beta/models/gemini-2.5-flash:generateContent?key=${key}`, `${gw.url}/v1/models/gemini-2.5-flash:generateContent?key=${key}`]) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: geminiBody });
      expect(res.status).toBe(200);
      const json = (await res.json()) as { candidates: Array<{ content: { parts: Array<{ text: string }> } }> };
      expect(json.candidates[0].content.parts[0].text).toBeTruthy();
    }
    // The gateway's key never goes upstream; the upstream gets its own, in a header, not the URL.
    const upstreamReq = gemini.requests.at(-1);
    expect(upstreamReq?.path).not.toContain(key);
    expect(upstreamReq?.headers['x-goog-api-key']).toBe('g-upstream-key');

    const header = await fetch(`${gw.url}/v1beta/models/gemini-2.5-flash:generateContent`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-goog-api-key': key }, body: geminiBody });
    expect(header.status).toBe(200);

    const bad = await fetch(`${gw.url}/v1beta/models/gemini-2.5-flash:generateContent?key=nope`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: geminiBody });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: number; status: string } }).error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });

    const unknownMethod = await fetch(`${gw.url}/v1beta/models/gemini-2.5-flash:explode?key=${key}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: geminiBody });
    expect(unknownMethod.status).toBe(404);
    expect(((await unknownMethod.json()) as { error: { status: string } }).error.status).toBe('NOT_FOUND');
  });

  it('Anthropic: x-api-key or Bearer, old and new anthropic-version, base_url with a trailing /v1', async () => {
    const body = JSON.stringify({ model: 'claude-3-5-haiku', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
    for (const headers of <Array<Record<string, string>>>[
      { 'x-api-key': key, 'anthropic-version': '2023-06-01' },
      { authorization: `Bearer ${key}`, 'anthropic-version': '2026-10-21' },
    ]) {
      const res = await fetch(`${gw.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { type: string; content: unknown[] }).type).toBe('message');
    }
    expect(anthropic.requests.at(-1)?.path).toBe('/v1/messages');
    expect(anthropic.requests.at(-1)?.headers['x-api-key']).toBe('a-upstream-key');
    const bad = await fetch(`${gw.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'sk-bad' }, body });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    const malformed = await fetch(`${gw.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: '{"model":' });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
  });
});
