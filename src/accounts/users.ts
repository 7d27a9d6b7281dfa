import { randomBytes } from 'node:crypto';
import { GatewayError } from '../core/errors.ts';
import { generateId, hashSecret } from '../metering/keys.ts';
import type { Store } from '../store/db.ts';
import { LedgerRepository } from '../store/ledger.repository.ts';
import { RedemptionCodesRepository } from '../store/redemption-codes.repository.ts';
import type { UserRow } from '../store/tables.ts';
import { roundUsd as round } from '../store/usage-records.repository.ts';
import { UsersRepository } from '../store/users.repository.ts';
import type { GroupService } from './groups.ts';
import { hashPassword } from './passwords.ts';

/** What the request path needs to know about a key's user, kept in memory and shared by all of its keys. */
export interface UserState {
  id: string;
  email: string;
  groupName: string;
  active: boolean;
  creditedUsd: number;
  /** Written spend plus charges still in the usage recorder's buffer and in-memory charges. */
  spentUsd: number;
  /** The group's price factor and model list, resolved when the user was (re)loaded. */
  priceFactor: number;
  groupModels: ReadonlySet<string> | null;
}

export interface UserView {
  id: string;
  object: 'user';
  email: string;
  display_name: string;
  group: string;
  status: 'active' | 'disabled';
  balance_usd: number;
  /** The same as balance_usd, for callers that read `balance`. */
  balance: number;
  credited_usd: number;
  spent_usd: number;
  has_password: boolean;
  created_at: number;
  updated_at: number;
  last_sign_in_at: number | null;
}

export interface UserInput {
  email?: string;
  display_name?: string;
  password?: string;
  group?: string;
  status?: 'active' | 'disabled';
  /** On create: the opening balance. On update: the balance to set (the difference is an adjustment). */
  balance_usd?: number;
}

export interface Actor {
  /** Who did it, for the ledger: admin, user:<id>, system. */
  name: string;
  note?: string | null;
}


/** A UNIQUE violation (SQLite or PostgreSQL): two sign-ups or edits took the same email at the same moment. */
function emailTaken(err: unknown, email: string): GatewayError | undefined {
  const e = err as { code?: string; message?: string };
  if (e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || /UNIQUE constraint failed: users\.email/.test(e?.message ?? '')) {
    return new GatewayError('conflict', `A user with the email ${email} exists already.`, { param: 'email', publicCode: 'email_taken' });
  }
  return undefined;
}

/** Codes people type: no 0/O/1/I/l. */
const CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
export function generateCode(prefix: string): string {
  const bytes = randomBytes(20);
  let s = '';
  for (const b of bytes) s += CODE_ALPHABET[b % CODE_ALPHABET.length];
  return `${prefix}-${s.slice(0, 5)}-${s.slice(5, 10)}-${s.slice(10, 15)}-${s.slice(15, 20)}`;
}

/** Codes are compared without case, spaces or dashes, so a typed code matches however it was copied. */
export function normalizeCode(code: string): string {
  return code.toUpperCase().replace(/[\s-]/g, '');
}

export interface UserDeps {
  store: Store;
  groups: GroupService;
  /** Spend written nowhere yet (the usage recorder's buffer), per user. */
  pendingSpend: (userId: string) => number;
  now: () => number;
}

/**
 * Users and their balances. Balances are credited_usd - spent_usd; every change to either is also a
 * ledger row (credits one each, charges one per user and hour), written in the same transaction.
 */
export class UserService {
  readonly repo: UsersRepository;
  private readonly ledger: LedgerRepository;
  private readonly codes: RedemptionCodesRepository;
  private readonly cache = new Map<string, { state: UserState; loadedAt: number }>();
  /** A cached user older than this is re-read when one of their keys is (other instances' spend, written since). */
  private readonly ttlMs = 5_000;
  onChange: () => void = () => undefined;

  constructor(private readonly deps: UserDeps) {
    this.repo = new UsersRepository(deps.store);
    this.ledger = new LedgerRepository(deps.store);
    this.codes = new RedemptionCodesRepository(deps.store);
  }

  private toState(row: UserRow, into?: UserState): UserState {
    const group = this.deps.groups.resolve(row.group_name);
    const fresh: UserState = {
      id: row.id,
      email: row.email,
      groupName: row.group_name,
      active: row.status === 'active' && row.deleted_at === null,
      creditedUsd: Number(row.credited_usd),
      spentUsd: Number(row.spent_usd) + this.deps.pendingSpend(row.id),
      priceFactor: group.price_factor,
      groupModels: group.models ? new Set(group.models) : null,
    };
    return into ? Object.assign(into, fresh) : fresh;
  }

  /**
   * The shared state of a user: loaded once, refreshed in place by refreshAll (changes) and, when
   * older than a few seconds, by the next key load that asks for it (the key cache's own refresh),
   * so the spend other instances wrote reaches this one's balance checks and billing views.
   */
  async state(id: string): Promise<UserState | undefined> {
    const known = this.cache.get(id);
    const now = this.deps.now();
    if (known && now - known.loadedAt < this.ttlMs) return known.state;
    let row: UserRow | undefined;
    try {
      row = (await this.repo.findByIds([id]))[0];
    } catch (err) {
      // The database is away: what this instance knows still holds.
      if (known) return known.state;
      throw err;
    }
    if (!row) return undefined;
    if (known) {
      this.toState(row, known.state);
      known.loadedAt = now;
      return known.state;
    }
    const state = this.toState(row);
    this.cache.set(id, { state, loadedAt: now });
    if (this.cache.size > 50_000) this.cache.delete(this.cache.keys().next().value as string);
    return state;
  }

  /** Re-reads, in chunks, the users among `ids` that are not cached or whose cached state is stale. */
  async prefetch(ids: readonly string[]): Promise<void> {
    const now = this.deps.now();
    const due = ids.filter((id) => {
      const e = this.cache.get(id);
      return !e || now - e.loadedAt >= this.ttlMs;
    });
    for (let i = 0; i < due.length; i += 500) {
      for (const row of await this.repo.findByIds(due.slice(i, i + 500))) {
        const entry = this.cache.get(row.id);
        if (entry) {
          this.toState(row, entry.state);
          entry.loadedAt = now;
        } else this.cache.set(row.id, { state: this.toState(row), loadedAt: now });
      }
    }
  }

  /** Another instance (or this one) changed users or groups: reload every cached user in place. */
  async refreshAll(): Promise<void> {
    const ids = [...this.cache.keys()];
    for (let i = 0; i < ids.length; i += 500) {
      for (const row of await this.repo.findByIds(ids.slice(i, i + 500))) {
        const entry = this.cache.get(row.id);
        if (entry) {
          this.toState(row, entry.state);
          entry.loadedAt = this.deps.now();
        }
      }
    }
  }

  charge(state: UserState, usd: number): void {
    state.spentUsd += usd;
  }

  uncharge(userId: string, usd: number): void {
    const e = this.cache.get(userId);
    if (e) e.state.spentUsd -= usd;
  }

  view(row: UserRow): UserView {
    const spent = Number(row.spent_usd) + this.deps.pendingSpend(row.id);
    return {
      id: row.id,
      object: 'user',
      email: row.email,
      display_name: row.display_name,
      group: row.group_name,
      status: row.status === 'active' ? 'active' : 'disabled',
      balance_usd: round(Number(row.credited_usd) - spent),
      balance: round(Number(row.credited_usd) - spent),
      credited_usd: round(Number(row.credited_usd)),
      spent_usd: round(spent),
      has_password: row.password_hash !== null,
      created_at: Math.floor(row.created_at / 1000),
      updated_at: Math.floor(row.updated_at / 1000),
      last_sign_in_at: row.last_sign_in_at === null ? null : Math.floor(row.last_sign_in_at / 1000),
    };
  }

  private requireGroup(name: string): void {
    if (!this.deps.groups.get(name)) throw new GatewayError('invalid_request_error', `No group named '${name}'.`, { param: 'group', publicCode: 'invalid_value' });
  }

  async create(input: UserInput & { email: string }, actor: Actor): Promise<UserRow> {
    const email = input.email.trim().toLowerCase();
    const group = input.group ?? 'default';
    this.requireGroup(group);
    if (await this.repo.findByEmail(email)) throw new GatewayError('conflict', `A user with the email ${email} exists already.`, { param: 'email', publicCode: 'email_taken' });
    const at = this.deps.now();
    const id = generateId('user');
    const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
    try {
      await this.deps.store.db.transaction().execute(async (trx) => {
        const tx: Store = { ...this.deps.store, db: trx };
        await new UsersRepository(tx).insert({
          id,
          email,
          display_name: input.display_name ?? email.split('@')[0],
          password_hash: passwordHash,
          group_name: group,
          status: input.status ?? 'active',
          created_at: at,
          updated_at: at,
          last_sign_in_at: null,
          deleted_at: null,
        });
        const opening = input.balance_usd ?? 0;
        if (opening !== 0) await this.credit(tx, id, opening, actor.name === 'signup' ? 'signup' : 'adjustment', null, actor, at);
      });
    } catch (err) {
      throw emailTaken(err, email) ?? err;
    }
    const row = await this.repo.findById(id);
    if (!row) throw new Error('created user not found');
    return row;
  }

  private async credit(tx: Store, userId: string, usd: number, kind: 'adjustment' | 'redemption' | 'signup', ref: string | null, actor: Actor, at: number): Promise<void> {
    await new UsersRepository(tx).addCredit(userId, usd, at);
    await new LedgerRepository(tx).add({
      entryKey: kind === 'redemption' && ref ? `redemption:${ref}` : `${kind}:${generateId('led')}`,
      userId,
      kind,
      amountUsd: usd,
      ref,
      note: actor.note ?? null,
      actor: actor.name,
      at,
    });
  }

  async update(id: string, input: UserInput, actor: Actor): Promise<UserRow | undefined> {
    const existing = await this.repo.findById(id);
    if (!existing) return undefined;
    const at = this.deps.now();
    const patch: Parameters<UsersRepository['update']>[1] = { updated_at: at };
    if (input.email !== undefined) {
      const email = input.email.trim().toLowerCase();
      const other = await this.repo.findByEmail(email);
      if (other && other.id !== id) throw new GatewayError('conflict', `A user with the email ${email} exists already.`, { param: 'email', publicCode: 'email_taken' });
      patch.email = email;
    }
    if (input.display_name !== undefined) patch.display_name = input.display_name;
    if (input.group !== undefined) {
      this.requireGroup(input.group);
      patch.group_name = input.group;
    }
    if (input.status !== undefined) patch.status = input.status;
    if (input.password !== undefined) patch.password_hash = await hashPassword(input.password);
    const work = this.deps.store.db.transaction().execute(async (trx) => {
      const tx: Store = { ...this.deps.store, db: trx };
      await new UsersRepository(tx).update(id, patch);
      if (input.balance_usd !== undefined) {
        // Read in the transaction (locked on PostgreSQL) so concurrent credits are not overwritten.
        let q = trx.selectFrom('users').select(['credited_usd', 'spent_usd']).where('id', '=', id);
        if (this.deps.store.dialect === 'postgres') q = q.forUpdate();
        const row = (await q.executeTakeFirst()) ?? existing;
        const current = Number(row.credited_usd) - Number(row.spent_usd) - this.deps.pendingSpend(id);
        const delta = round(input.balance_usd - current);
        if (delta !== 0) await this.credit(tx, id, delta, 'adjustment', null, { ...actor, note: actor.note ?? `balance set to ${input.balance_usd}` }, at);
      }
    });
    try {
      await work;
    } catch (err) {
      throw emailTaken(err, patch.email ?? existing.email) ?? err;
    }
    await this.reloadOne(id);
    this.onChange();
    return this.repo.findById(id);
  }

  /** Adds (or with a negative amount takes) credit, with a ledger row saying who and why. */
  async adjustBalance(id: string, usd: number, actor: Actor): Promise<UserRow | undefined> {
    if (!(await this.repo.findById(id))) return undefined;
    const at = this.deps.now();
    await this.deps.store.db.transaction().execute(async (trx) => this.credit({ ...this.deps.store, db: trx }, id, usd, 'adjustment', null, actor, at));
    await this.reloadOne(id);
    this.onChange();
    return this.repo.findById(id);
  }

  async delete(id: string): Promise<boolean> {
    const ok = await this.repo.softDelete(id, this.deps.now());
    if (ok) {
      await this.reloadOne(id);
      this.onChange();
    }
    return ok;
  }

  private async reloadOne(id: string): Promise<void> {
    const entry = this.cache.get(id);
    if (!entry) return;
    const row = (await this.repo.findByIds([id]))[0];
    if (row) {
      this.toState(row, entry.state);
      entry.loadedAt = this.deps.now();
    }
  }

  /**
   * Credits a redemption code's amount to the user, exactly once for the code whatever the number
   * of concurrent attempts on any instance: the claim is a conditional UPDATE inside the
   * transaction that also credits and writes the ledger, so a lost race or a crash credits nothing.
   */
  async redeem(userId: string, code: string): Promise<{ amountUsd: number; codeId: string }> {
    const row = await this.codes.findByHash(hashSecret(normalizeCode(code)));
    const invalid = (): GatewayError => new GatewayError('invalid_request_error', 'This redemption code is not valid.', { param: 'code', publicCode: 'invalid_redemption_code' });
    const at = this.deps.now();
    if (!row || row.disabled === 1) throw invalid();
    if (row.redeemed_at !== null) throw new GatewayError('conflict', 'This redemption code has been used already.', { param: 'code', publicCode: 'code_already_redeemed' });
    if (row.expires_at !== null && row.expires_at <= at) throw new GatewayError('invalid_request_error', 'This redemption code has expired.', { param: 'code', publicCode: 'code_expired' });
    let won = false;
    await this.deps.store.db.transaction().execute(async (trx) => {
      const tx: Store = { ...this.deps.store, db: trx };
      won = await new RedemptionCodesRepository(tx).claim(row.id, userId, at);
      if (won) await this.credit(tx, userId, Number(row.amount_usd), 'redemption', row.id, { name: `user:${userId}`, note: row.name }, at);
    });
    if (!won) throw new GatewayError('conflict', 'This redemption code has been used already.', { param: 'code', publicCode: 'code_already_redeemed' });
    await this.reloadOne(userId);
    this.onChange();
    return { amountUsd: Number(row.amount_usd), codeId: row.id };
  }

  ledgerEntries(userId: string, limit: number, before?: { at: number; key: string }) {
    return this.ledger.list(userId, { limit, before });
  }

  ledgerSum(userId: string): Promise<number> {
    return this.ledger.sum(userId);
  }
}
