import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../core/errors.ts';
import { type IpMatcher, parseIpList } from '../core/ip-allow-list.ts';
import type { UserState } from '../accounts/users.ts';
import { warmTokenizer } from '../core/tokens.ts';
import type { ApiKeysRepository } from '../store/api-keys.repository.ts';
import type { ApiKeyRow } from '../store/tables.ts';
import type { UsageRecorder } from './usage-recorder.ts';

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function secretsEqual(a: string, b: string): boolean {
  const ha = Buffer.from(hashSecret(a), 'hex');
  const hb = Buffer.from(hashSecret(b), 'hex');
  return timingSafeEqual(ha, hb);
}

export function generateSecret(): string {
  return `sk-${randomBytes(24).toString('base64url')}`;
}

export function generateId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}`;
}

export function maskSecret(secret: string): string {
  return `${secret.slice(0, 6)}...${secret.slice(-4)}`;
}

/** What the request path needs to know about a key, kept in memory. */
export interface KeyState {
  id: string;
  name: string;
  quotaTokens: number | null;
  quotaUsd: number | null;
  /** Written usage plus charges still in the recorder's buffer. */
  usedTokens: number;
  usedUsd: number;
  expiresAt: number | null;
  models: ReadonlySet<string> | null;
  rpm: number | null;
  tpm: number | null;
  maxConcurrency: number | null;
  allowedIps: IpMatcher | null;
  disabled: boolean;
  deleted: boolean;
  /** The user who owns the key (shared by all their keys), or null. */
  user: UserState | null;
}

interface CacheEntry {
  state: KeyState | null;
  loadedAt: number;
  refreshing?: Promise<void>;
}

export interface KeyInput {
  name?: string;
  quota_tokens?: number | null;
  quota_usd?: number | null;
  expires_at?: number | null;
  models?: string[] | null;
  rpm?: number | null;
  tpm?: number | null;
  max_concurrency?: number | null;
  allowed_ips?: string[] | null;
  disabled?: boolean;
  /** On create only: the user who owns the key. */
  user_id?: string | null;
}

/** A key as the admin API shows it; never includes the secret or its hash. */
export interface KeyView {
  id: string;
  object: 'api_key';
  name: string;
  key_prefix: string;
  quota_tokens: number | null;
  quota_usd: number | null;
  used_tokens: number;
  used_usd: number;
  /** Unix seconds, or null. */
  expires_at: number | null;
  models: string[] | null;
  rpm: number | null;
  tpm: number | null;
  max_concurrency: number | null;
  allowed_ips: string[] | null;
  status: 'active' | 'disabled' | 'expired' | 'exhausted';
  user_id: string | null;
  created_at: number;
  last_used_at: number | null;
}

/**
 * API keys: creation, lookups cached in memory (a known key never waits on the
 * database; a stale entry is refreshed in the background), and charging.
 */
export class KeyService {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly hashes = new Map<string, string>();
  /** Key id -> hash of keys loaded, for authenticateId. */
  private readonly idHashes = new Map<string, string>();
  /** Seconds a cached key is trusted before a background refresh (picks up changes made by the CLI or another gateway). */
  private readonly ttlMs = 5_000;
  private readonly negativeTtlMs = 1_000;

  /** Told after every change this instance makes, so other instances hear of it. */
  onChange: () => void = () => undefined;
  /** Resolves a key's user (set once the user service exists). */
  userOf: (userId: string) => Promise<UserState | undefined> = async () => undefined;
  /** Brings many users' cached states up to date in one read (before userOf is asked for each). */
  prefetchUsers: (userIds: string[]) => Promise<void> = async () => undefined;

  constructor(
    private readonly repo: ApiKeysRepository,
    private readonly recorder: UsageRecorder,
    private readonly now: () => number = Date.now,
  ) {}

  async create(input: KeyInput & { name: string }): Promise<{ view: KeyView; secret: string }> {
    if (input.user_id && !(await this.userOf(input.user_id))?.active) {
      throw new GatewayError('invalid_request_error', `No active user with id '${input.user_id}'.`, { param: 'user_id', publicCode: 'invalid_value' });
    }
    const secret = generateSecret();
    const now = this.now();
    const row = await this.repo.insert({
      id: generateId('key'),
      name: input.name,
      key_hash: hashSecret(secret),
      key_prefix: maskSecret(secret),
      quota_tokens: input.quota_tokens ?? null,
      quota_usd: input.quota_usd ?? null,
      expires_at: input.expires_at ?? null,
      models: input.models ? JSON.stringify(input.models) : null,
      rpm: input.rpm ?? null,
      tpm: input.tpm ?? null,
      max_concurrency: input.max_concurrency ?? null,
      allowed_ips: input.allowed_ips ? JSON.stringify(input.allowed_ips) : null,
      disabled: input.disabled ? 1 : 0,
      deleted_at: null,
      created_at: now,
      updated_at: now,
      last_used_at: null,
      user_id: input.user_id ?? null,
    });
    this.onChange();
    return { view: this.view(row), secret };
  }

  async list(): Promise<KeyView[]> {
    return (await this.repo.list()).map((r) => this.view(r));
  }

  async listForUser(userId: string): Promise<KeyView[]> {
    return (await this.repo.listForUser(userId)).map((r) => this.view(r));
  }

  /** Revokes every key of a deleted user. */
  async deleteForUser(userId: string): Promise<number> {
    const rows = await this.repo.listForUser(userId);
    for (const r of rows) await this.delete(r.id);
    return rows.length;
  }

  async get(id: string): Promise<KeyView | undefined> {
    const row = await this.repo.findById(id);
    return row && this.view(row);
  }

  async update(id: string, input: KeyInput): Promise<KeyView | undefined> {
    const patch: Parameters<ApiKeysRepository['update']>[1] = { updated_at: this.now() };
    if (input.name !== undefined) patch.name = input.name;
    if (input.quota_tokens !== undefined) patch.quota_tokens = input.quota_tokens;
    if (input.quota_usd !== undefined) patch.quota_usd = input.quota_usd;
    if (input.expires_at !== undefined) patch.expires_at = input.expires_at;
    if (input.models !== undefined) patch.models = input.models ? JSON.stringify(input.models) : null;
    if (input.rpm !== undefined) patch.rpm = input.rpm;
    if (input.tpm !== undefined) patch.tpm = input.tpm;
    if (input.max_concurrency !== undefined) patch.max_concurrency = input.max_concurrency;
    if (input.allowed_ips !== undefined) patch.allowed_ips = input.allowed_ips ? JSON.stringify(input.allowed_ips) : null;
    if (input.disabled !== undefined) patch.disabled = input.disabled ? 1 : 0;
    const row = await this.repo.update(id, patch);
    if (row) {
      this.invalidate(row.key_hash);
      this.onChange();
    }
    return row && this.view(row);
  }

  async delete(id: string): Promise<boolean> {
    const row = await this.repo.findById(id);
    if (!row) return false;
    const ok = await this.repo.softDelete(id, this.now());
    this.invalidate(row.key_hash);
    this.onChange();
    return ok;
  }

  private invalidate(hash: string): void {
    this.cache.delete(hash);
  }

  /**
   * Another instance (or the CLI) changed some key: reload every cached key in
   * the background. Entries stay in place until the reload succeeds, so a
   * database outage never turns known keys away.
   */
  async refreshAll(): Promise<void> {
    const hashes = [...this.cache.entries()].filter(([, e]) => e.state !== null).map(([h]) => h);
    for (const [h, e] of this.cache) if (e.state === null) this.cache.delete(h);
    for (let i = 0; i < hashes.length; i += 500) {
      const rows = await this.repo.findByHashes(hashes.slice(i, i + 500));
      // Their users in one read, not one each as toState() asks for them.
      await this.prefetchUsers([...new Set(rows.flatMap((r) => (r.user_id ? [r.user_id] : [])))]);
      const loadedAt = this.now();
      const found = new Set<string>();
      for (const row of rows) {
        found.add(row.key_hash);
        const entry = this.cache.get(row.key_hash);
        if (entry) {
          // Keep in-memory charges not yet in the row: toState() adds the recorder's pending ones.
          entry.state = await this.toState(row);
          entry.loadedAt = loadedAt;
        }
      }
      for (const h of hashes.slice(i, i + 500)) if (!found.has(h)) this.cache.delete(h);
    }
  }

  /**
   * Resolves a presented secret to a usable key or throws 401. Only a key never
   * seen before (or seen missing over a second ago) waits on a database read.
   */
  async authenticate(secret: string | undefined): Promise<KeyState> {
    if (!secret) throw new GatewayError('invalid_api_key', 'You didn\'t provide an API key. Provide it as "Authorization: Bearer sk-...".');
    let hash = this.hashes.get(secret);
    if (hash === undefined) {
      hash = hashSecret(secret);
      // Memoised: a SHA-256 per request is measurable on the hot path. Bounded, oldest out first.
      if (this.hashes.size >= 10_000) this.hashes.delete(this.hashes.keys().next().value as string);
      this.hashes.set(secret, hash);
    }
    return this.usable(hash, maskSecret(secret));
  }

  /**
   * The key with this id, checked like a presented secret (revoked, disabled, expired):
   * for work the gateway does on a key's behalf later, such as batch lines. Shares the
   * cached state, so charges made either way add up.
   */
  async authenticateId(id: string): Promise<KeyState> {
    const known = this.idHashes.get(id);
    if (known) return this.usable(known, id);
    let row;
    try {
      row = await this.repo.findById(id);
    } catch (err) {
      throw new GatewayError('store_unavailable', 'The API key cannot be verified right now; try again shortly.', { cause: err });
    }
    if (!row) throw new GatewayError('invalid_api_key', `The API key ${id} no longer exists.`);
    return this.usable(row.key_hash, id);
  }

  private async usable(hash: string, label: string): Promise<KeyState> {
    const now = this.now();
    let entry = this.cache.get(hash);
    if (!entry || (entry.state === null && now - entry.loadedAt > this.negativeTtlMs)) {
      try {
        entry = await this.load(hash);
      } catch (err) {
        // A key this instance has never seen cannot be checked while the database is away: a retryable 503, not a 500.
        throw new GatewayError('store_unavailable', 'The API key cannot be verified right now; try again shortly.', { cause: err });
      }
    } else if (entry.state && now - entry.loadedAt > this.ttlMs && !entry.refreshing) {
      const stale = entry;
      stale.refreshing = this.load(hash).then(
        () => undefined,
        () => {
          stale.refreshing = undefined;
        },
      );
    }
    const state = entry.state;
    if (!state) throw new GatewayError('invalid_api_key', `Incorrect API key provided: ${label}.`);
    if (state.deleted) throw new GatewayError('key_revoked', 'This API key has been revoked.', { publicCode: 'invalid_api_key' });
    if (state.disabled) throw new GatewayError('key_revoked', 'This API key is disabled.', { publicCode: 'invalid_api_key' });
    if (state.expiresAt !== null && state.expiresAt <= now) {
      throw new GatewayError('key_expired', 'This API key has expired.', { publicCode: 'invalid_api_key' });
    }
    if (state.user && !state.user.active) throw new GatewayError('user_disabled', "This API key's account is disabled.", { publicCode: 'invalid_api_key' });
    return state;
  }

  private async load(hash: string): Promise<CacheEntry> {
    const row = await this.repo.findByHash(hash);
    const entry: CacheEntry = { state: row ? await this.toState(row) : null, loadedAt: this.now() };
    this.cache.set(hash, entry);
    if (row) this.idHashes.set(row.id, hash);
    if (this.cache.size > 50_000) this.cache.delete(this.cache.keys().next().value as string);
    return entry;
  }

  private async toState(row: ApiKeyRow): Promise<KeyState> {
    const pending = this.recorder.pendingFor(row.id);
    const user = row.user_id ? ((await this.userOf(row.user_id)) ?? null) : null;
    if (row.user_id && !user) throw new Error(`user ${row.user_id} of key ${row.id} not found`);
    // Its requests reserve tokens or dollars: the tokenizer will be needed (loaded once, in the background).
    if (row.tpm !== null || row.quota_tokens !== null || row.quota_usd !== null || user) warmTokenizer();
    return {
      id: row.id,
      name: row.name,
      quotaTokens: row.quota_tokens,
      quotaUsd: row.quota_usd,
      usedTokens: Number(row.used_tokens) + pending.tokens,
      usedUsd: Number(row.used_usd) + pending.usd,
      expiresAt: row.expires_at,
      models: row.models ? new Set(JSON.parse(row.models) as string[]) : null,
      rpm: row.rpm,
      tpm: row.tpm,
      maxConcurrency: row.max_concurrency,
      allowedIps: row.allowed_ips ? parseIpList(JSON.parse(row.allowed_ips) as string[], 'allowed_ips') : null,
      disabled: row.disabled === 1,
      deleted: row.deleted_at !== null,
      user,
    };
  }

  /** Applies a charge to the in-memory state at once; the recorder writes it later. */
  charge(state: KeyState, tokens: number, usd: number): void {
    state.usedTokens += tokens;
    state.usedUsd += usd;
    if (state.user) state.user.spentUsd += usd;
  }

  /**
   * A charge taken back after the database already has it (a refunded Midjourney task): the cached
   * state follows at once; other instances read the database's figure on their next refresh.
   */
  uncharge(keyId: string, tokens: number, usd: number): void {
    const hash = this.idHashes.get(keyId);
    const state = hash === undefined ? undefined : this.cache.get(hash)?.state;
    if (!state) return;
    state.usedTokens -= tokens;
    state.usedUsd -= usd;
  }

  view(row: ApiKeyRow): KeyView {
    const pending = this.recorder.pendingFor(row.id);
    const usedTokens = Number(row.used_tokens) + pending.tokens;
    const usedUsd = Number(row.used_usd) + pending.usd;
    const now = this.now();
    let status: KeyView['status'] = 'active';
    if (row.disabled === 1) status = 'disabled';
    else if (row.expires_at !== null && row.expires_at <= now) status = 'expired';
    else if ((row.quota_tokens !== null && usedTokens >= row.quota_tokens) || (row.quota_usd !== null && usedUsd >= row.quota_usd)) status = 'exhausted';
    return {
      id: row.id,
      object: 'api_key',
      name: row.name,
      key_prefix: row.key_prefix,
      quota_tokens: row.quota_tokens,
      quota_usd: row.quota_usd,
      used_tokens: usedTokens,
      used_usd: Math.round(usedUsd * 1e9) / 1e9,
      expires_at: row.expires_at === null ? null : Math.floor(row.expires_at / 1000),
      models: row.models ? (JSON.parse(row.models) as string[]) : null,
      rpm: row.rpm,
      tpm: row.tpm,
      max_concurrency: row.max_concurrency,
      allowed_ips: row.allowed_ips ? (JSON.parse(row.allowed_ips) as string[]) : null,
      status,
      user_id: row.user_id,
      created_at: Math.floor(row.created_at / 1000),
      last_used_at: row.last_used_at === null ? null : Math.floor(row.last_used_at / 1000),
    };
  }
}
