import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { configSchema, type Config, type UpstreamConfig } from './schema.ts';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface ConfigSource {
  /** The file read, or undefined for built-in defaults. */
  path?: string;
  config: Config;
}

/** `--config FILE`, else SWITCHYARD_CONFIG, else ./switchyard.yaml if present, else defaults. */
export function findConfigPath(argv: readonly string[], env: NodeJS.ProcessEnv, cwd = process.cwd()): string | undefined {
  const i = argv.findIndex((a) => a === '--config' || a.startsWith('--config='));
  if (i !== -1) {
    const arg = argv[i];
    const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[i + 1];
    if (!value) throw new ConfigError('--config needs a file path');
    return resolve(cwd, value);
  }
  if (env.SWITCHYARD_CONFIG) return resolve(cwd, env.SWITCHYARD_CONFIG);
  const local = resolve(cwd, 'switchyard.yaml');
  return existsSync(local) ? local : undefined;
}

/** Replace `${VAR}` (and `${VAR:-default}`) from the environment; a missing variable becomes "". */
export function substituteEnv(text: string, env: NodeJS.ProcessEnv): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback?: string) => {
    const v = env[name];
    return v !== undefined && v !== '' ? v : (fallback ?? '');
  });
}

export function formatZodError(err: z.ZodError): string {
  return err.issues
    .map((issue) => {
      const path = issue.path.length ? issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : '(root)';
      return `  ${path}: ${issue.message}`;
    })
    .join('\n');
}

export function parseConfig(raw: unknown, origin: string): Config {
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) {
    throw new ConfigError(`invalid config in ${origin}:\n${formatZodError(result.error)}`);
  }
  return result.data;
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(substituteEnv(text, env));
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(err as Error).message}`);
  }
  return parseConfig(raw, path);
}

/** Upstreams a newcomer already has credentials for, read from the providers' usual variables. */
export function upstreamsFromEnv(env: NodeJS.ProcessEnv): UpstreamConfig[] {
  const list: unknown[] = [];
  if (env.OPENAI_API_KEY || env.OPENAI_BASE_URL) {
    list.push({ name: 'openai', type: 'openai', base_url: env.OPENAI_BASE_URL || 'https://api.openai.com/v1', api_key: env.OPENAI_API_KEY });
  }
  if (env.ANTHROPIC_API_KEY) {
    list.push({ name: 'anthropic', type: 'anthropic', base_url: env.ANTHROPIC_BASE_URL || 'https://api.anthropic.com', api_key: env.ANTHROPIC_API_KEY });
  }
  const geminiKey = env.GEMINI_API_KEY || env.GOOGLE_API_KEY;
  if (geminiKey) {
    list.push({ name: 'gemini', type: 'gemini', base_url: env.GOOGLE_GEMINI_BASE_URL || 'https://generativelanguage.googleapis.com', api_key: geminiKey });
  }
  return list.map((u) => parseConfig({ upstreams: [u] }, 'environment').upstreams[0]);
}

export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv, cwd = process.cwd()): ConfigSource {
  const path = findConfigPath(argv, env, cwd);
  if (path) return { path, config: loadConfigFile(path, env) };
  const config = parseConfig({ admin_key: env.SWITCHYARD_ADMIN_KEY || undefined }, 'defaults');
  config.upstreams = upstreamsFromEnv(env);
  return { config };
}
