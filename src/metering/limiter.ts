import type { Logger } from 'pino';
import type { AcquireResult, Actuals, Counter, Lease, LimitBackend } from './limit-backend.ts';
import { MemoryLimitBackend } from './memory-limit-backend.ts';
import type { RedisLimitBackend } from './redis-limit-backend.ts';

export interface SharedBackend {
  backend: RedisLimitBackend;
  /** Whether the connection is up now (no command would wait for a reconnect). */
  ready(): boolean;
  /** Called with a function to run each time the connection comes back. */
  onReady(fn: () => void): void;
}

/**
 * The limits every request goes through: counters in Redis when one is
 * configured, else in memory. When Redis is unreachable the instance keeps
 * serving on its own counters (limits then hold per instance), says so once,
 * and goes back to Redis when it returns, adding the quota spend it made alone.
 */
export class Limiter {
  readonly memory = new MemoryLimitBackend();
  private degraded = false;
  /** Quota spend settled on memory leases while Redis was away, per counter key. */
  private readonly unsynced = new Map<string, number>();

  constructor(
    private readonly log: Logger,
    private readonly shared?: SharedBackend,
  ) {
    shared?.onReady(() => void this.resync());
  }

  get backendName(): 'memory' | 'redis' {
    return this.shared && !this.degraded ? 'redis' : 'memory';
  }

  async acquire(counters: Counter[], leaseId: string, now: number): Promise<AcquireResult> {
    if (counters.length === 0) return { ok: true, retryAfterMs: 0, states: [], lease: { backend: 'memory', id: leaseId, minute: 0, counters } };
    if (this.shared && this.shared.ready()) {
      try {
        const r = await this.shared.backend.acquire(counters, leaseId, now);
        if (this.degraded) void this.resync();
        return r;
      } catch (err) {
        this.goDegraded(err);
      }
    } else if (this.shared) {
      this.goDegraded(new Error('not connected'));
    }
    return this.memory.acquireSync(counters, leaseId, now);
  }

  async release(lease: Lease, actuals: Actuals, now: number): Promise<void> {
    if (lease.counters.length === 0) return;
    if (lease.backend === 'memory') {
      this.memory.releaseSync(lease, actuals, now);
      if (this.shared) {
        for (const c of lease.counters) {
          const a = actuals.get(c.key) ?? 0;
          if (c.kind === 'quota' && a !== 0) this.unsynced.set(c.key, (this.unsynced.get(c.key) ?? 0) + a);
        }
      }
      return;
    }
    try {
      await this.shared?.backend.release(lease, actuals);
    } catch (err) {
      // The reservation stays counted in Redis until its key expires; the spend is kept to add on resync.
      this.goDegraded(err);
      for (const c of lease.counters) {
        const a = actuals.get(c.key) ?? 0;
        if (c.kind === 'quota' && a !== 0) this.unsynced.set(c.key, (this.unsynced.get(c.key) ?? 0) + a);
      }
    }
  }

  /**
   * Corrects a quota's shared running total after the fact (a refund: negative). The memory backend
   * reads spend from the key's own state, so only Redis keeps a figure to correct.
   */
  async adjustQuota(key: string, amount: number): Promise<void> {
    if (!this.shared || amount === 0) return;
    if (this.shared.ready() && !this.degraded) {
      try {
        await this.shared.backend.addQuotaUsage(key, amount);
        return;
      } catch (err) {
        this.goDegraded(err);
      }
    }
    this.unsynced.set(key, (this.unsynced.get(key) ?? 0) + amount);
  }

  private goDegraded(err: unknown): void {
    if (this.degraded) return;
    this.degraded = true;
    this.log.error({ err: { message: (err as Error).message } }, 'Redis unreachable: limits now hold per instance until it returns');
  }

  private async resync(): Promise<void> {
    if (!this.shared || !this.shared.ready()) return;
    const pending = [...this.unsynced.entries()];
    this.unsynced.clear();
    try {
      for (const [key, amount] of pending) await this.shared.backend.addQuotaUsage(key, amount);
      if (this.degraded) this.log.info({ resynced: pending.length }, 'Redis is back: limits are shared again');
      this.degraded = false;
    } catch (err) {
      for (const [key, amount] of pending) this.unsynced.set(key, (this.unsynced.get(key) ?? 0) + amount);
      this.goDegraded(err);
    }
  }
}

export type { LimitBackend };
