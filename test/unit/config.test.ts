import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, findConfigPath, loadConfig, loadConfigFile, substituteEnv } from '../../src/config/load.ts';

function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sy-cfg-'));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('config', () => {
  it('substitutes ${VAR} and ${VAR:-default}', () => {
    expect(substituteEnv('a: ${X}\nb: ${Y:-fallback}\nc: ${Z}', { X: 'one' })).toBe('a: one\nb: fallback\nc: ');
  });

  it('loads the documented keys with defaults', () => {
    const path = tempFile(
      'switchyard.yaml',
      `listen: { host: 127.0.0.1, port: 9999 }
database: sqlite:./data/x.db
admin_key: \${ADMIN}
upstreams:
  - name: main
    type: openai
    base_url: https://api.openai.com/v1
    api_key: \${OPENAI_API_KEY}
    models: [gpt-4o-mini, gpt-4o]
    model_map: { gpt-3.5-turbo: gpt-4o-mini }
models:
  gpt-4o-mini: { input_price: 0.15, output_price: 0.6, context_window: 128000 }
limits: { max_body_mb: 8 }
`,
    );
    const cfg = loadConfigFile(path, { ADMIN: 'sk-admin-x', OPENAI_API_KEY: 'sk-up' });
    expect(cfg.listen).toEqual({ host: '127.0.0.1', port: 9999 });
    expect(cfg.admin_key).toBe('sk-admin-x');
    expect(cfg.upstreams[0]).toMatchObject({ name: 'main', api_key: 'sk-up', connect_timeout: 10, idle_timeout: 300, priority: 0, model_map: { 'gpt-3.5-turbo': 'gpt-4o-mini' } });
    expect(cfg.models['gpt-4o-mini'].context_window).toBe(128000);
    expect(cfg.limits.max_body_mb).toBe(8);
  });

  it('treats an unset secret variable as not configured', () => {
    const path = tempFile('c.yaml', 'admin_key: ${NOPE}\nupstreams: [{ name: a, type: openai, base_url: "http://x/v1", api_key: "${NOPE}" }]\n');
    const cfg = loadConfigFile(path, {});
    expect(cfg.admin_key).toBeUndefined();
    expect(cfg.upstreams[0].api_key).toBeUndefined();
  });

  it('names the bad field when the config is invalid', () => {
    const path = tempFile('bad.yaml', 'listen: { port: "eighty" }\nupstreams:\n  - { name: a, type: nope, base_url: "http://x" }\n');
    expect(() => loadConfigFile(path, {})).toThrow(ConfigError);
    try {
      loadConfigFile(path, {});
    } catch (err) {
      expect((err as Error).message).toContain('listen.port');
      expect((err as Error).message).toContain('upstreams[0].type');
    }
  });

  it('rejects unknown keys and duplicate upstream names', () => {
    const path = tempFile('dup.yaml', 'upstreams:\n  - { name: a, type: openai, base_url: "http://x" }\n  - { name: a, type: openai, base_url: "http://y" }\nbogus: 1\n');
    expect(() => loadConfigFile(path, {})).toThrow(/bogus|duplicate upstream name/);
  });

  it('finds the config: --config, then SWITCHYARD_CONFIG, then ./switchyard.yaml, else defaults', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-find-'));
    expect(findConfigPath(['--config', 'a.yaml'], {}, dir)).toBe(join(dir, 'a.yaml'));
    expect(findConfigPath(['--config=b.yaml'], { SWITCHYARD_CONFIG: 'c.yaml' }, dir)).toBe(join(dir, 'b.yaml'));
    expect(findConfigPath([], { SWITCHYARD_CONFIG: 'c.yaml' }, dir)).toBe(join(dir, 'c.yaml'));
    expect(findConfigPath([], {}, dir)).toBeUndefined();
    writeFileSync(join(dir, 'switchyard.yaml'), 'listen: { port: 1234 }\n');
    expect(findConfigPath([], {}, dir)).toBe(join(dir, 'switchyard.yaml'));
  });

  it('without a file, serves the providers named in the environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-env-'));
    const { path, config } = loadConfig([], { OPENAI_API_KEY: 'sk-env', OPENAI_BASE_URL: 'http://127.0.0.1:1/v1' }, dir);
    expect(path).toBeUndefined();
    expect(config.database).toBe('sqlite:./data/switchyard.db');
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(config.upstreams).toEqual([expect.objectContaining({ name: 'openai', type: 'openai', base_url: 'http://127.0.0.1:1/v1', api_key: 'sk-env' })]);
  });
});
