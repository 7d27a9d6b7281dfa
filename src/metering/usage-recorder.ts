import { appendFile, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { Store } from '../store/db.ts';
import { ApiKeysRepository } from '../store/api-keys.repository.ts';
import { LedgerRepository } from '../store/ledger.repository.ts';
import { UsersRepository } from '../store/users.repository.ts';
import { UsageRecordsRepository } from '../store/usage-records.repository.ts';
import type { NewUsageRecord } from '../store/tables.ts';

export interface Charge {
  keyId: string;
  /** The key's user, whose balance pays too. */
  userId?: string | null;
  tokens: number;
  usd: number;
}

const HOUR_MS = 3_600_000;

/**
 * Applies the charges of records just inserted (in the caller's transaction): each key's tokens
 * and dollars, and each user's spend with its hour's ledger row. Charges follow the rows actually
 * inserted, so writing the same records again (a retry after a commit whose answer was lost, a
 * journal replayed twice) never charges twice.
 */
async function chargeInserted(tx: Store, inserted: readonly NewUsageRecord[]): Promise<void> {
  const keys = new Map<string, { tokens: number; usd: number; at: number }>();
  const users = new Map<string, { userId: string; hour: number; usd: number; requests: number }>();
  for (const r of inserted) {
    if (r.charged !== 1 || !r.key_id) continue;
    const tokens = Number(r.total_tokens ?? 0);
    const usd = Number(r.cost_usd ?? 0);
    const k = keys.get(r.key_id);
    if (k) {
      k.tokens += tokens;
      k.usd += usd;
      k.at = Math.max(k.at, r.created_at);
    } else keys.set(r.key_id, { tokens, usd, at: r.created_at });
    if (r.user_id && usd > 0) {
      const hour = Math.floor(r.created_at / HOUR_MS) * HOUR_MS;
      const id = `${r.user_id}\0${hour}`;
      const u = users.get(id);
      if (u) {
        u.usd += usd;
        u.requests += 1;
      } else users.set(id, { userId: r.user_id, hour, usd, requests: 1 });
    }
  }
  const keyRepo = new ApiKeysRepository(tx);
  for (const [id, k] of keys) await keyRepo.addUsage(id, k.tokens, k.usd, k.at);
  const userRepo = new UsersRepository(tx);
  const ledger = new LedgerRepository(tx);
  for (const u of users.values()) {
    await userRepo.addSpend(u.userId, u.usd);
    await ledger.addCharge(u.userId, u.usd, u.requests, u.hour);
  }
}

/**
 * Buffers usage records and key charges and writes them in one transaction per
 * interval, so the request path never waits on a database write. flush() is also
 * called before usage queries (so a finished request is visible at once) and on shutdown.
 *
 * While the database is unreachable nothing is lost: records stay in memory up to
 * `maxBuffered`, older ones are appended to a journal file, and everything is
 * written when the database returns (also after a restart: start() replays a
 * journal left behind, charging keys for the records it inserts).
 */
export class UsageRecorder {
  private records: NewUsageRecord[] = [];
  /** Charges not yet written, per key; KeyService adds them to what the database says. */
  private readonly pending = new Map<string, { tokens: number; usd: number; at: number }>();
  /** Unwritten spend per user, for balances. */
  private readonly pendingUserUsd = new Map<string, number>();
  /** Ids of records this process moved to the journal, still counted in `pending` until the journal is written. */
  private readonly journaledIds = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  /** Records still being completed (token estimates in progress); flush() waits for them. */
  private readonly inProgress = new Set<Promise<void>>();
  private flushing: Promise<void> | undefined;
  private readonly keys: ApiKeysRepository;
  private readonly usage: UsageRecordsRepository;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly opts: { intervalMs: number; batchSize: number; maxBuffered?: number; journalPath?: string },
  ) {
    this.keys = new ApiKeysRepository(store);
    this.usage = new UsageRecordsRepository(store);
  }

  private journaled = 0;
  private dbDown = false;

  async start(): Promise<void> {
    this.timer ??= setInterval(() => this.flushQuietly(), this.opts.intervalMs);
    this.timer.unref();
    // A journal left by an earlier process: its charges never reached the database.
    await this.replayJournal().catch((err: unknown) => this.log.error({ err }, 'usage journal replay failed; will retry'));
  }

  /** Records waiting in memory and in the journal file. */
  get backlog(): number {
    return this.records.length + this.journaled;
  }

  record(rec: NewUsageRecord, charge?: Charge): void {
    this.records.push(rec);
    if (charge && (charge.tokens > 0 || charge.usd > 0)) {
      const p = this.pending.get(charge.keyId);
      if (p) {
        p.tokens += charge.tokens;
        p.usd += charge.usd;
        p.at = rec.created_at;
      } else {
        this.pending.set(charge.keyId, { tokens: charge.tokens, usd: charge.usd, at: rec.created_at });
      }
    }
    if (charge?.userId && charge.usd > 0) this.pendingUserUsd.set(charge.userId, (this.pendingUserUsd.get(charge.userId) ?? 0) + charge.usd);
    if (this.records.length >= this.opts.batchSize) this.flushQuietly();
  }

  /** Background flush: a failure is logged by writeBatch and retried next interval. */
  private flushQuietly(): void {
    this.flush().catch(() => undefined);
  }

  pendingFor(keyId: string): { tokens: number; usd: number } {
    const p = this.pending.get(keyId);
    return p ? { tokens: p.tokens, usd: p.usd } : { tokens: 0, usd: 0 };
  }

  /** A user's spend not yet written. */
  pendingUserSpend(userId: string): number {
    return this.pendingUserUsd.get(userId) ?? 0;
  }

  get bufferedCount(): number {
    return this.records.length;
  }

  /** A record that will arrive once `work` settles (an estimate); flush() waits for it. */
  track(work: Promise<void>): void {
    const p = work.finally(() => this.inProgress.delete(p));
    this.inProgress.add(p);
  }

  /** Writes everything buffered so far; concurrent calls share one write and then run again if more arrived. */
  async flush(): Promise<void> {
    if (this.inProgress.size > 0) await Promise.allSettled([...this.inProgress]);
    while (this.flushing) await this.flushing;
    if (this.records.length === 0 && this.journaled === 0) return;
    this.flushing = this.writeBatch().finally(() => {
      this.flushing = undefined;
    });
    await this.flushing;
  }

  /** Records now in the database (written now or by an earlier attempt) stop counting as pending. */
  private settle(records: readonly NewUsageRecord[]): void {
    for (const r of records) {
      if (r.charged !== 1 || !r.key_id) continue;
      const p = this.pending.get(r.key_id);
      if (p) {
        p.tokens -= Number(r.total_tokens ?? 0);
        p.usd -= Number(r.cost_usd ?? 0);
        if (p.tokens <= 0 && Math.abs(p.usd) < 1e-12) this.pending.delete(r.key_id);
      }
      const usd = Number(r.cost_usd ?? 0);
      if (r.user_id && usd > 0) {
        const left = (this.pendingUserUsd.get(r.user_id) ?? 0) - usd;
        if (Math.abs(left) < 1e-12) this.pendingUserUsd.delete(r.user_id);
        else this.pendingUserUsd.set(r.user_id, left);
      }
    }
  }

  private async writeBatch(): Promise<void> {
    const records = this.records;
    this.records = [];
    try {
      await this.store.db.transaction().execute(async (trx) => {
        const txStore: Store = { ...this.store, db: trx };
        await chargeInserted(txStore, await new UsageRecordsRepository(txStore).insertNew(records));
      });
      this.settle(records);
      if (this.dbDown) {
        this.dbDown = false;
        this.log.info('usage records are being written again');
      }
      if (this.journaled > 0) await this.replayJournal();
    } catch (err) {
      // Keep the records for the next attempt: nothing is lost while the database is away.
      this.records = records.concat(this.records);
      if (!this.dbDown) {
        this.dbDown = true;
        this.log.error({ err: { message: (err as Error).message }, records: this.records.length }, 'usage flush failed; keeping records until the database returns');
      }
      await this.spill();
      throw err;
    }
  }

  /** Beyond the in-memory bound, the oldest records go to the journal file (appended, one JSON line each). */
  private async spill(): Promise<void> {
    const max = this.opts.maxBuffered ?? Number.POSITIVE_INFINITY;
    const path = this.opts.journalPath;
    if (!path || this.records.length <= max) return;
    const out = this.records.splice(0, this.records.length - Math.floor(max / 2));
    try {
      await mkdir(dirname(path), { recursive: true });
      await appendFile(path, out.map((r) => JSON.stringify(r)).join('\n') + '\n', { mode: 0o600 });
      this.journaled += out.length;
      for (const r of out) this.journaledIds.add(r.request_id);
    } catch (err) {
      this.records = out.concat(this.records);
      this.log.error({ err, path }, 'cannot write the usage journal; keeping records in memory');
    }
  }

  /**
   * Writes the journal's records and removes it, charging keys and users for the records it
   * inserts (a record already in the database is neither written nor charged again). Records this
   * process journaled stop counting as pending once written; a journal left by an earlier
   * process had its pending charges die with it.
   */
  private async replayJournal(): Promise<void> {
    const path = this.opts.journalPath;
    if (!path) return;
    const replaying = `${path}.replaying`;
    let text: string;
    try {
      await rename(path, replaying);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    try {
      text = await readFile(replaying, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const rows = text
      .split('\n')
      .filter((l) => l.trim())
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as NewUsageRecord];
        } catch {
          return []; // A line torn by a crash mid-append.
        }
      });
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      await this.store.db.transaction().execute(async (trx) => {
        const txStore: Store = { ...this.store, db: trx };
        await chargeInserted(txStore, await new UsageRecordsRepository(txStore).insertNew(chunk));
      });
      const ours = chunk.filter((r) => this.journaledIds.delete(r.request_id));
      this.settle(ours);
    }
    await rm(replaying, { force: true });
    this.journaled = 0;
    this.log.info({ records: rows.length }, 'usage journal written to the database');
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /** For usage queries. */
  get repository(): UsageRecordsRepository {
    return this.usage;
  }

  get keysRepository(): ApiKeysRepository {
    return this.keys;
  }
}
