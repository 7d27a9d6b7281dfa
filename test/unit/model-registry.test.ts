import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { GatewayError } from '../../src/core/errors.ts';
import { ModelRegistry } from '../../src/routing/model-registry.ts';
import { createUpstream } from '../../src/routing/upstreams.ts';

const cfg = parseConfig(
  {
    upstreams: [
      { name: 'main', type: 'openai', base_url: 'http://a/v1', models: ['gpt-4o-mini', 'gpt-4o'], model_map: { 'gpt-3.5-turbo': 'gpt-4o-mini' } },
      { name: 'backup', type: 'openai', base_url: 'http://b/v1', models: ['gpt-4o'], weight: 3 },
      { name: 'ollama', type: 'openai', base_url: 'http://c/v1', models: ['llama3:8b'] },
      { name: 'open', type: 'openai', base_url: 'http://d/v1' },
    ],
  },
  'test',
);
const registry = new ModelRegistry(cfg.upstreams.map((u) => createUpstream(u, cfg.breaker)));

const targets = (name: string) => registry.resolve(name).map((t) => [t.upstream.name, t.model, t.upstreamModel]);

describe('ModelRegistry', () => {
  it('resolves plain names, model_map keys and several upstreams per model', () => {
    expect(targets('gpt-4o-mini')).toEqual([['main', 'gpt-4o-mini', 'gpt-4o-mini']]);
    expect(targets('gpt-3.5-turbo')).toEqual([['main', 'gpt-3.5-turbo', 'gpt-4o-mini']]);
    expect(targets('gpt-4o')).toEqual([['main', 'gpt-4o', 'gpt-4o'], ['backup', 'gpt-4o', 'gpt-4o']]);
  });

  it('pins by upstream name or type, and an exact colon name wins', () => {
    expect(targets('backup:gpt-4o')).toEqual([['backup', 'gpt-4o', 'gpt-4o']]);
    expect(targets('openai:gpt-4o')).toEqual([['main', 'gpt-4o', 'gpt-4o'], ['backup', 'gpt-4o', 'gpt-4o']]);
    expect(targets('llama3:8b')).toEqual([['ollama', 'llama3:8b', 'llama3:8b']]);
    expect(targets('ollama:llama3:8b')).toEqual([['ollama', 'llama3:8b', 'llama3:8b']]);
    // An upstream without a model list serves whatever it is pinned to.
    expect(targets('open:anything')).toEqual([['open', 'anything', 'anything']]);
  });

  it('answers 404 model_not_found for unknown names', () => {
    for (const name of ['gpt-5', 'main:gpt-5', 'nope:gpt-4o', 'llama3:70b']) {
      expect(() => registry.resolve(name)).toThrow(GatewayError);
      try {
        registry.resolve(name);
      } catch (err) {
        expect((err as GatewayError).status).toBe(404);
        expect((err as GatewayError).code).toBe('model_not_found');
      }
    }
  });

  it('lists client-facing names once each', () => {
    expect(registry.list().map((m) => m.id)).toEqual(['gpt-3.5-turbo', 'gpt-4o', 'gpt-4o-mini', 'llama3:8b']);
  });
});
