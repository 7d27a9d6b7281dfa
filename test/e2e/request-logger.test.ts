/**
 * Each request's logger (made only when the request logs something) carries the request's id,
 * and a failed attempt's line names the upstream's error.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { capturingLogger } from '../helpers/capturing-logger.ts';
import { type OpenAISimulator, startOpenAISimulator } from '../helpers/openai-simulator.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

let sim: OpenAISimulator;
let gw: TestGateway;
const { log, lines } = capturingLogger('warn');

beforeAll(async () => {
  sim = await startOpenAISimulator();
  gw = await startTestGateway(
    { upstreams: [{ name: 'main', type: 'openai', base_url: sim.url, models: ['m'] }], retry: { attempts: 1 } },
    { log },
  );
});

afterAll(async () => {
  await gw?.close();
  await sim?.close();
});

it('logs nothing for a request that went well, and a failed attempt with the request id', async () => {
  const { key } = await gw.createKey();
  const client = new OpenAI({ baseURL: gw.baseURL, apiKey: key, maxRetries: 0 });
  sim.handler = () => ({ type: 'text', text: 'hi', promptTokens: 3, completionTokens: 1 });
  await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
  await new Promise((r) => setTimeout(r, 50));
  expect(lines.filter((l) => l['reqId'] !== undefined)).toEqual([]);

  sim.handler = () => ({ type: 'error', status: 500, body: { error: { message: 'boom', type: 'server_error' } } });
  const res = await fetch(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }] }),
  });
  expect(res.status).toBe(500);
  const id = res.headers.get('x-request-id');
  expect(id).toMatch(/^req_/);
  await new Promise((r) => setTimeout(r, 50));
  const failed = lines.find((l) => l['msg'] === 'upstream attempt failed');
  expect(failed).toMatchObject({ reqId: id, upstream: 'main', level: 40, service: 'switchyard' });
  // The upstream's error is a field of its own (a second `msg` key would be lost to JSON parsers).
  expect(String(failed?.['error'])).toContain('boom');
  expect(JSON.stringify(lines)).not.toContain(key);
});
