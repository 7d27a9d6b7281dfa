/**
 * The tokenizer (~65 MiB, ~0.4 s to load) is loaded only once something will count tokens:
 * traffic on keys without token limits, from upstreams that report usage, never loads it; the
 * first key with a quota that the gateway sees starts loading it.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { tokenizerLoaded } from '../../src/core/tokens.ts';
import { type OpenAISimulator, startOpenAISimulator } from '../helpers/openai-simulator.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

let sim: OpenAISimulator;
let gw: TestGateway;

beforeAll(async () => {
  sim = await startOpenAISimulator();
  sim.handler = () => ({ type: 'text', text: 'hi', promptTokens: 3, completionTokens: 1 });
  gw = await startTestGateway({ upstreams: [{ name: 'main', type: 'openai', base_url: sim.url, models: ['m'] }] });
});

afterAll(async () => {
  await gw?.close();
  await sim?.close();
});

const ask = (key: string) => new OpenAI({ baseURL: gw.baseURL, apiKey: key, maxRetries: 0 }).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] });

it('is not loaded for keys without token limits, and is once a key with a quota is used', async () => {
  const plain = await gw.createKey({ name: 'plain', rpm: 100 });
  await ask(plain.key);
  await ask(plain.key);
  expect(tokenizerLoaded()).toBe(false);
  const quota = await gw.createKey({ name: 'quota', quota_tokens: 1000 });
  await ask(quota.key);
  expect(tokenizerLoaded()).toBe(true);
  await gw.services.recorder.flush();
  const used = ((await (await gw.admin('GET', `/admin/keys/${quota.id}`)).json()) as { used_tokens: number }).used_tokens;
  expect(used).toBe(4);
});
