import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverModels } from '../../src/bootstrap.ts';
import { parseConfig, upstreamsFromEnv } from '../../src/config/load.ts';
import { createLogger } from '../../src/logger.ts';
import { startGeminiSimulator, type GeminiSimulator } from '../helpers/gemini-simulator.ts';
import { startOpenAISimulator, type OpenAISimulator } from '../helpers/openai-simulator.ts';

let openai: OpenAISimulator;
let gemini: GeminiSimulator;

beforeAll(async () => {
  openai = await startOpenAISimulator({ apiKey: 'sk-o', models: ['gpt-4o-mini', 'o3-mini'] });
  gemini = await startGeminiSimulator({ apiKey: 'g-key', models: ['gemini-2.5-flash'] });
});

afterAll(async () => {
  await openai?.close();
  await gemini?.close();
});

describe('upstreams without a model list', () => {
  it('learn their models from the provider at start-up; an upstream that does not answer stays pin-only', async () => {
    const cfg = parseConfig(
      {
        upstreams: [
          { name: 'o', type: 'openai', base_url: openai.url, api_key: 'sk-o' },
          { name: 'g', type: 'gemini', base_url: gemini.url, api_key: 'g-key' },
          { name: 'dead', type: 'openai', base_url: 'http://127.0.0.1:9/v1' },
          { name: 'fixed', type: 'openai', base_url: 'http://127.0.0.1:9/v1', models: ['kept'] },
        ],
      },
      'test',
    );
    await discoverModels(cfg.upstreams, createLogger('silent'));
    expect(cfg.upstreams.map((u) => [u.name, u.models])).toEqual([
      ['o', ['gpt-4o-mini', 'o3-mini']],
      ['g', ['gemini-2.5-flash']],
      ['dead', undefined],
      ['fixed', ['kept']],
    ]);
    expect(openai.requests.at(-1)?.headers.authorization).toBe('Bearer sk-o');
    expect(gemini.requests.at(-1)?.headers['x-goog-api-key']).toBe('g-key');
  });

  it('come from the providers\' usual environment variables when there is no config file', () => {
    const ups = upstreamsFromEnv({ OPENAI_API_KEY: 'a', ANTHROPIC_API_KEY: 'b', GEMINI_API_KEY: 'c' });
    expect(ups.map((u) => [u.name, u.type, u.base_url])).toEqual([
      ['openai', 'openai', 'https://api.openai.com/v1'],
      ['anthropic', 'anthropic', 'https://api.anthropic.com'],
      ['gemini', 'gemini', 'https://generativelanguage.googleapis.com'],
    ]);
  });
});
