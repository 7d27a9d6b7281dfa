import type { Logger } from 'pino';
import { formatZodError } from '../config/load.ts';
import { type BreakerConfig, type CredentialConfig, type UpstreamConfig, upstreamSchema } from '../config/schema.ts';
import { GatewayError } from '../core/errors.ts';
import { parseJsonBody } from '../core/parse-json-body.ts';
import type { Store } from '../store/db.ts';
import type { UpstreamRow } from '../store/tables.ts';
import { UpstreamsRepository } from '../store/upstreams.repository.ts';
import { ModelRegistry } from './model-registry.ts';
import { createUpstream, type Upstream } from './upstreams.ts';

/** An upstream as the admin API shows it: state and health, never its credentials. */
export interface UpstreamView {
  name: string;
  object: 'upstream';
  source: 'config' | 'api';
  type: UpstreamConfig['type'];
  base_url: string;
  models: string[] | null;
  model_map: Record<string, string>;
  priority: number;
  weight: number;
  enabled: boolean;
  state: 'healthy' | 'open' | 'half_open' | 'disabled' | 'credentials_rejected';
  consecutive_failures: number;
  credentials: Array<{ id: string; state: string; reason: string | null; rpm: number | null; tpm: number | null }>;
  rpm: number | null;
  tpm: number | null;
  recent: ReturnType<Upstream['stats']['summary']>;
  last_error: { at: number; code: string; status: number } | null;
}

/** Seals and opens stored credentials (AES-256-GCM under the secret key). */
export interface Sealer {
  encrypt(plain: string): string;
  decrypt(sealed: string): string;
}

/** Credentials are stored sealed, apart from the rest of the config. */
function splitCredentials(cfg: UpstreamConfig): { rest: Omit<UpstreamConfig, 'api_key' | 'api_keys'>; credentials: CredentialConfig[] } {
  const { api_key, api_keys, ...rest } = cfg;
  return { rest, credentials: [...(api_key ? [api_key] : []), ...(api_keys ?? [])] };
}

/**
 * Every upstream the gateway routes to: the YAML ones, and those added through
 * /admin/upstreams (stored in the database with their credentials sealed by the
 * secret key). Rebuilt from the database on every change, here or on another
 * instance; health state survives a rebuild for upstreams whose config did not change.
 */
export class UpstreamSet {
  private list: Upstream[];
  private byName = new Map<string, Upstream>();
  registry: ModelRegistry;
  private readonly repo: UpstreamsRepository;
  private readonly undecryptable = new Set<string>();
  /** Each stored row's last update seen: an admin's enable made on another instance clears rejected credentials here too. */
  private readonly seenUpdates = new Map<string, number>();
  /** Told after every change this instance makes. */
  onChange: () => void = () => undefined;

  constructor(
    private readonly configured: readonly UpstreamConfig[],
    private readonly breakerDefaults: BreakerConfig,
    store: Store,
    private readonly box: Sealer | undefined,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {
    this.repo = new UpstreamsRepository(store);
    this.list = configured.map((c) => createUpstream(c, breakerDefaults, 'config'));
    for (const u of this.list) this.byName.set(u.name, u);
    this.registry = new ModelRegistry(this.list);
  }

  get upstreams(): readonly Upstream[] {
    return this.list;
  }

  get(name: string): Upstream | undefined {
    return this.byName.get(name);
  }

  /** Reads the database's upstreams and switches; keeps the previous set if the database cannot be read. */
  async reload(): Promise<void> {
    const rows = await this.repo.list();
    const next: Upstream[] = [];
    const stale: Upstream[] = [];
    const rowsByName = new Map(rows.map((r) => [r.name, r]));
    for (const cfg of this.configured) {
      const row = rowsByName.get(cfg.name);
      const u = this.reuse(cfg, 'config', stale);
      u.disabled = !cfg.enabled || row?.disabled === 1;
      next.push(u);
    }
    for (const row of rows) {
      if (row.source !== 'api' || !row.config_json || this.configured.some((c) => c.name === row.name)) continue;
      const cfg = this.decode(row);
      if (!cfg) continue;
      const u = this.reuse(cfg, 'api', stale);
      // The row's switch is the truth for stored upstreams (create and PATCH write `enabled` into it).
      u.disabled = row.disabled === 1;
      next.push(u);
    }
    for (const u of next) {
      const row = rowsByName.get(u.name);
      if (!row) continue;
      const seen = this.seenUpdates.get(u.name);
      this.seenUpdates.set(u.name, row.updated_at);
      if (seen !== undefined && seen !== row.updated_at && row.disabled === 0) {
        u.breaker.enable();
        for (const c of u.credentials) c.breaker.enable();
      }
    }
    for (const old of this.list) if (!next.includes(old)) stale.push(old);
    this.list = next;
    this.byName = new Map(next.map((u) => [u.name, u]));
    this.registry = new ModelRegistry(next);
    // Calls still running on a replaced upstream finish on its pool; close it when they are done.
    for (const u of stale) void u.dispatcher.close().catch(() => undefined);
  }

  /** The live upstream when its config is unchanged (keeps breakers, stats and pools), else a new one. */
  private reuse(cfg: UpstreamConfig, source: 'config' | 'api', stale: Upstream[]): Upstream {
    const old = this.byName.get(cfg.name);
    if (old && old.source === source && JSON.stringify(old.config) === JSON.stringify(cfg)) return old;
    if (old) stale.push(old);
    return createUpstream(cfg, this.breakerDefaults, source);
  }

  private decode(row: UpstreamRow): UpstreamConfig | undefined {
    let credentials: CredentialConfig[] = [];
    if (row.credentials_enc) {
      if (!this.box) return undefined;
      try {
        credentials = JSON.parse(this.box.decrypt(row.credentials_enc)) as CredentialConfig[];
        this.undecryptable.delete(row.name);
      } catch (err) {
        if (!this.undecryptable.has(row.name)) {
          this.undecryptable.add(row.name);
          this.log.error({ upstream: row.name, reason: (err as Error).message }, 'cannot decrypt the credentials of a stored upstream: skipping it (set the same SWITCHYARD_SECRET_KEY on every instance)');
        }
        return undefined;
      }
    }
    const parsed = upstreamSchema.safeParse({ ...(JSON.parse(row.config_json ?? '{}') as object), api_keys: credentials.length ? credentials : undefined });
    if (!parsed.success) {
      this.log.error({ upstream: row.name, issues: formatZodError(parsed.error) }, 'stored upstream has an invalid config: skipping it');
      return undefined;
    }
    return parsed.data;
  }

  view(u: Upstream): UpstreamView {
    const now = this.now();
    const b = u.breaker.state(now);
    const creds = u.credentials.map((c) => ({ id: c.id, state: c.breaker.state(now), reason: c.breaker.reason ?? null, rpm: c.rpm ?? null, tpm: c.tpm ?? null }));
    const allRejected = creds.every((c) => c.state === 'disabled');
    const state: UpstreamView['state'] = u.disabled ? 'disabled' : allRejected ? 'credentials_rejected' : b === 'closed' ? 'healthy' : b === 'open' ? 'open' : 'half_open';
    return {
      name: u.name,
      object: 'upstream',
      source: u.source,
      type: u.type,
      base_url: u.config.base_url,
      models: u.config.models ?? null,
      model_map: u.config.model_map,
      priority: u.config.priority,
      weight: u.config.weight,
      enabled: !u.disabled,
      state,
      consecutive_failures: u.breaker.consecutiveFailures,
      credentials: creds,
      rpm: u.config.rpm ?? null,
      tpm: u.config.tpm ?? null,
      recent: u.stats.summary(now),
      last_error: u.stats.lastError ?? null,
    };
  }

  /** Validates an admin's upstream body with the config file's schema, naming the bad field. */
  parse(body: unknown, base?: Record<string, unknown>): UpstreamConfig {
    return parseJsonBody(upstreamSchema, body, base);
  }

  private requireBox(): Sealer {
    if (!this.box) throw new GatewayError('internal_error', 'No secret key is available to encrypt upstream credentials.');
    return this.box;
  }

  private toRow(cfg: UpstreamConfig, createdAt: number): UpstreamRow {
    const { rest, credentials } = splitCredentials(cfg);
    return {
      name: cfg.name,
      source: 'api',
      config_json: JSON.stringify(rest),
      credentials_enc: credentials.length ? this.requireBox().encrypt(JSON.stringify(credentials)) : null,
      disabled: cfg.enabled ? 0 : 1,
      created_at: createdAt,
      updated_at: this.now(),
    };
  }

  async create(body: unknown): Promise<Upstream> {
    const cfg = this.parse(body);
    if (this.configured.some((c) => c.name === cfg.name) || (await this.repo.find(cfg.name))?.source === 'api') {
      throw new GatewayError('invalid_request_error', `An upstream named '${cfg.name}' already exists.`, { status: 409, param: 'name', publicCode: 'conflict' });
    }
    await this.repo.delete(cfg.name);
    if (!(await this.repo.insert(this.toRow(cfg, this.now())))) {
      throw new GatewayError('invalid_request_error', `An upstream named '${cfg.name}' already exists.`, { status: 409, param: 'name', publicCode: 'conflict' });
    }
    return this.changed(cfg.name);
  }

  /**
   * PATCH: fields of a stored upstream (credentials kept unless new ones are
   * given), or only `enabled` for one from the YAML file, whose config lives there.
   */
  async update(name: string, body: unknown): Promise<Upstream | undefined> {
    const fromConfig = this.configured.find((c) => c.name === name);
    if (fromConfig) {
      const b = (body ?? {}) as Record<string, unknown>;
      const keys = Object.keys(b);
      if (keys.some((k) => k !== 'enabled') || typeof b.enabled !== 'boolean') {
        throw new GatewayError('invalid_request_error', `Upstream '${name}' comes from the config file: only 'enabled' can be changed here; edit the file for the rest.`, {
          param: keys.find((k) => k !== 'enabled') ?? 'enabled',
          publicCode: 'invalid_value',
        });
      }
      await this.setEnabled(name, b.enabled);
      return this.get(name);
    }
    const row = await this.repo.find(name);
    if (!row || row.source !== 'api') return undefined;
    const current = this.decode(row);
    if (!current) throw new GatewayError('internal_error', `Upstream '${name}' cannot be decrypted on this instance.`);
    const patch = body as Record<string, unknown>;
    if (patch && typeof patch === 'object' && 'name' in patch && patch.name !== name) {
      throw new GatewayError('invalid_request_error', 'An upstream cannot be renamed; create a new one.', { param: 'name', publicCode: 'invalid_value' });
    }
    const base: Record<string, unknown> = { ...current };
    if (patch && typeof patch === 'object' && ('api_key' in patch || 'api_keys' in patch)) {
      delete base.api_key;
      delete base.api_keys;
    }
    const cfg = this.parse(body, base);
    await this.repo.upsert(this.toRow(cfg, row.created_at));
    const u = await this.changed(name);
    // An admin's edit is also the way back from a credential an upstream rejected.
    for (const c of u.credentials) c.breaker.enable();
    return u;
  }

  /** Enable (also clears rejected credentials and open breakers) or disable, for any upstream. */
  async setEnabled(name: string, enabled: boolean): Promise<Upstream | undefined> {
    const fromConfig = this.configured.some((c) => c.name === name);
    const row = await this.repo.find(name);
    if (!fromConfig && (!row || row.source !== 'api')) return undefined;
    const now = this.now();
    if (row) await this.repo.upsert({ ...row, disabled: enabled ? 0 : 1, updated_at: now });
    else await this.repo.upsert({ name, source: 'config', config_json: null, credentials_enc: null, disabled: enabled ? 0 : 1, created_at: now, updated_at: now });
    const u = await this.changed(name);
    if (enabled) {
      u.breaker.enable();
      for (const c of u.credentials) c.breaker.enable();
    }
    return u;
  }

  async delete(name: string): Promise<boolean> {
    if (this.configured.some((c) => c.name === name)) {
      throw new GatewayError('invalid_request_error', `Upstream '${name}' comes from the config file: disable it here, or remove it from the file.`, {
        status: 409,
        publicCode: 'conflict',
      });
    }
    const row = await this.repo.find(name);
    if (!row || row.source !== 'api') return false;
    await this.repo.delete(name);
    await this.reload();
    this.onChange();
    return true;
  }

  private async changed(name: string): Promise<Upstream> {
    await this.reload();
    this.onChange();
    const u = this.get(name);
    if (!u) throw new GatewayError('internal_error', `Upstream '${name}' was stored but could not be loaded.`);
    return u;
  }
}
