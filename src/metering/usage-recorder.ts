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
    private readonly opts: { intervalMs: number; batchSize: number },
  ) {
    this.keys = new ApiKeysRepository(store);
    this.usage = new UsageRecordsRepository(store);
  }

  start(): void {
    this.timer ??= setInterval(() => this.flushQuietly(), this.opts.intervalMs);
    this.timer.unref();
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
    } catch (err) {
      // Keep the records for the next attempt: nothing is lost while the database is away.
      this.records = records.concat(this.records);
      this.log.error({ err, records: records.length }, 'usage flush failed; will retry');
      throw err;
    }
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
