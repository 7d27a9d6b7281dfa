import type { Logger } from 'pino';
import { parseConfig } from './config/load.ts';
import type { Config, UpstreamConfig } from './config/schema.ts';
import { generateSecret, hashSecret } from './metering/keys.ts';
import type { Store } from './store/db.ts';
import { SettingsRepository } from './store/settings.repository.ts';

const ADMIN_KEY_SETTING = 'admin_key_hash';

/**
 * The admin key's hash: from config if set; otherwise generated on the first
 * start, stored hashed, and handed back once so the caller can print it.
 */
export async function resolveAdminKey(config: Config, store: Store): Promise<{ hash: string; generated?: string }> {
  if (config.admin_key) return { hash: hashSecret(config.admin_key) };
  const settings = new SettingsRepository(store);
  const stored = await settings.get(ADMIN_KEY_SETTING);
  if (stored) return { hash: stored };
  const secret = `sk-admin-${generateSecret().slice(3)}`;
  if (await settings.setIfAbsent(ADMIN_KEY_SETTING, hashSecret(secret))) return { hash: hashSecret(secret), generated: secret };
  // Another process won the race: use its key.
  return { hash: (await settings.get(ADMIN_KEY_SETTING)) as string };
}

async function fetchJson(url: string, headers: Record<string, string>, timeoutMs: number): Promise<unknown> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return res.json();
}

function modelIds(body: unknown): string[] {
  const data = (body as { data?: Array<{ id?: unknown }> }).data;
  return Array.isArray(data) ? data.map((m) => m.id).filter((id): id is string => typeof id === 'string') : [];
}

/** Gemini lists `models/<id>` under `models`. */
function geminiModelIds(body: unknown): string[] {
  const models = (body as { models?: Array<{ name?: unknown }> }).models;
  return Array.isArray(models)
    ? models.map((m) => m.name).filter((n): n is string => typeof n === 'string').map((n) => n.replace(/^models\//, ''))
    : [];
}

/** How to list an upstream's models, per type (Azure deployments are not listable with an API key). */
function listRequest(u: UpstreamConfig): { url: string; headers: Record<string, string>; read: (body: unknown) => string[] } | undefined {
  const base = u.base_url.replace(/\/+$/, '');
  switch (u.type) {
    case 'openai':
      return { url: `${base}/models`, headers: u.api_key ? { authorization: `Bearer ${u.api_key}` } : {}, read: modelIds };
    case 'anthropic':
      return {
        url: `${base.replace(/\/v1$/, '')}/v1/models?limit=1000`,
        headers: { 'anthropic-version': '2023-06-01', ...(u.api_key ? { 'x-api-key': u.api_key } : {}) },
        read: modelIds,
      };
    case 'gemini':
      return {
        url: `${base.replace(/\/v1(beta)?$/, '')}/v1beta/models?pageSize=1000`,
        headers: u.api_key ? { 'x-goog-api-key': u.api_key } : {},
        read: geminiModelIds,
      };
    case 'azure':
    case 'midjourney':
      return undefined;
  }
}

/**
 * Fills in `models` for upstreams configured without a list, by asking the
 * provider's model list. One that does not answer stays reachable as `name:model`.
 */
export async function discoverModels(upstreams: UpstreamConfig[], log: Logger): Promise<void> {
  await Promise.all(
    upstreams
      .filter((u) => u.models === undefined)
      .map(async (u) => {
        const req = listRequest(u);
        if (!req) return;
        try {
          const ids = req.read(await fetchJson(req.url, req.headers, 5000));
          if (ids.length > 0) u.models = ids;
          log.info({ upstream: u.name, models: ids.length }, 'discovered upstream models');
        } catch (err) {
          log.warn({ upstream: u.name, err: (err as Error).message }, 'could not list upstream models; use upstream:model names for it');
        }
      }),
  );
}

/** A local Ollama on its default port, so a newcomer's first start already serves something. */
export async function detectLocalOllama(log: Logger, url = 'http://127.0.0.1:11434/v1'): Promise<UpstreamConfig | undefined> {
  try {
    const ids = modelIds(await fetchJson(`${url}/models`, {}, 700));
    log.info({ models: ids.length }, 'found a local Ollama server');
    return parseConfig({ upstreams: [{ name: 'ollama', type: 'openai', base_url: url, models: ids }] }, 'local Ollama').upstreams[0];
  } catch {
    return undefined;
  }
}
