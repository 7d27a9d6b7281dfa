import { appendFile, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { Store } from '../store/db.ts';
import { ApiKeysRepository } from '../store/api-keys.repository.ts';
import { UsageRecordsRepository } from '../store/usage-records.repository.ts';
import type { NewUsageRecord } from '../store/tables.ts';

export interface Charge {
  keyId: string;
  tokens: number;
  usd: number;
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
    await this.replayJournal(true).catch((err: unknown) => this.log.error({ err }, 'usage journal replay failed; will retry'));
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
    if (this.records.length === 0 && this.pending.size === 0) return;
    this.flushing = this.writeBatch().finally(() => {
      this.flushing = undefined;
    });
    await this.flushing;
  }

  private async writeBatch(): Promise<void> {
    const records = this.records;
    this.records = [];
    const charges = [...this.pending.entries()].map(([keyId, p]) => ({ keyId, ...p }));
    try {
      await this.store.db.transaction().execute(async (trx) => {
        const txStore: Store = { ...this.store, db: trx };
        await new UsageRecordsRepository(txStore).insertMany(records);
        const keys = new ApiKeysRepository(txStore);
        for (const c of charges) await keys.addUsage(c.keyId, c.tokens, c.usd, c.at);
      });
      // Only now do the written charges stop counting as pending.
      for (const c of charges) {
        const p = this.pending.get(c.keyId);
        if (!p) continue;
        p.tokens -= c.tokens;
        p.usd -= c.usd;
        if (p.tokens <= 0 && Math.abs(p.usd) < 1e-12) this.pending.delete(c.keyId);
      }
      if (this.dbDown) {
        this.dbDown = false;
        this.log.info('usage records are being written again');
      }
      if (this.journaled > 0) await this.replayJournal(false);
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
    } catch (err) {
      this.records = out.concat(this.records);
      this.log.error({ err, path }, 'cannot write the usage journal; keeping records in memory');
    }
  }

  /**
   * Writes the journal's records and removes it. `charge`: apply each inserted
   * record's cost to its key (the process that wrote the journal is gone, with
   * its pending charges); a live replay's charges are still pending in memory.
   */
  private async replayJournal(charge: boolean): Promise<void> {
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
        const repo = new UsageRecordsRepository(txStore);
        const inserted = charge ? await repo.insertNew(chunk) : (await repo.insertMany(chunk), []);
        const keys = new ApiKeysRepository(txStore);
        for (const r of inserted) {
          if (r.charged === 1 && r.key_id) await keys.addUsage(r.key_id, Number(r.total_tokens ?? 0), Number(r.cost_usd ?? 0), r.created_at);
        }
      });
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
