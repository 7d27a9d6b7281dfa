import {
  type AcquireResult,
  type Actuals,
  type Counter,
  type CounterState,
  type Lease,
  type LimitBackend,
  MINUTE_MS,
  windowResetMs,
  windowRetryAfterMs,
  windowUsage,
} from './limit-backend.ts';

interface Window {
  minute: number;
  current: number;
  previous: number;
}

/** Counters in this process: exact for one instance; synchronous, so check-and-take cannot interleave. */
export class MemoryLimitBackend implements LimitBackend {
  readonly name = 'memory' as const;
  private readonly windows = new Map<string, Window>();
  private readonly slots = new Map<string, number>();
  private readonly reserved = new Map<string, number>();

  async acquire(counters: Counter[], leaseId: string, now: number): Promise<AcquireResult> {
    return this.acquireSync(counters, leaseId, now);
  }

  acquireSync(counters: Counter[], leaseId: string, now: number): AcquireResult {
    const minute = Math.floor(now / MINUTE_MS);
    const states: CounterState[] = [];
    for (let i = 0; i < counters.length; i++) {
      const c = counters[i];
      if (c.kind === 'window') {
        const w = this.window(c.key, minute);
        const usage = windowUsage(w.previous, w.current, now);
        // An empty window lets one oversized request through: otherwise it could never pass.
        if (usage + c.amount > c.limit && !(usage === 0 && c.amount > c.limit)) {
          return this.refusal(i, windowRetryAfterMs(w.previous, w.current, c.limit, c.amount, now), counters, now, minute);
        }
        states.push({ limit: c.limit, remaining: Math.max(0, Math.floor(c.limit - usage - c.amount)), resetMs: windowResetMs(usage + c.amount, c.limit) });
      } else if (c.kind === 'concurrency') {
        const n = this.slots.get(c.key) ?? 0;
        if (n >= c.limit) return this.refusal(i, 1000, counters, now, minute);
        states.push({ limit: c.limit, remaining: c.limit - n - 1, resetMs: 0 });
      } else {
        const spent = c.used + (this.reserved.get(c.key) ?? 0);
        if (spent >= c.limit) return this.refusal(i, 0, counters, now, minute);
        states.push({ limit: c.limit, remaining: Math.max(0, c.limit - spent - c.amount), resetMs: 0 });
      }
    }
    for (const c of counters) this.take(c, minute);
    return { ok: true, retryAfterMs: 0, states, lease: { backend: 'memory', id: leaseId, minute, counters } };
  }

  private refusal(index: number, retryAfterMs: number, counters: Counter[], now: number, minute: number): AcquireResult {
    // A refused request takes nothing: every counter is reported as it stands.
    return { ok: false, refused: index, retryAfterMs, states: counters.map((c) => this.peek(c, now, minute)) };
  }

  private peek(c: Counter, now: number, minute: number): CounterState {
    if (c.kind === 'window') {
      const w = this.window(c.key, minute);
      const usage = windowUsage(w.previous, w.current, now);
      return { limit: c.limit, remaining: Math.max(0, Math.floor(c.limit - usage)), resetMs: windowResetMs(usage, c.limit) };
    }
    if (c.kind === 'concurrency') return { limit: c.limit, remaining: Math.max(0, c.limit - (this.slots.get(c.key) ?? 0)), resetMs: 0 };
    return { limit: c.limit, remaining: Math.max(0, c.limit - c.used - (this.reserved.get(c.key) ?? 0)), resetMs: 0 };
  }

  private take(c: Counter, minute: number): void {
    if (c.kind === 'window') this.window(c.key, minute).current += c.amount;
    else if (c.kind === 'concurrency') this.slots.set(c.key, (this.slots.get(c.key) ?? 0) + 1);
    else this.reserved.set(c.key, (this.reserved.get(c.key) ?? 0) + c.amount);
  }

  async release(lease: Lease, actuals: Actuals, now: number): Promise<void> {
    this.releaseSync(lease, actuals, now);
  }

  releaseSync(lease: Lease, actuals: Actuals, now: number): void {
    const minute = Math.floor(now / MINUTE_MS);
    for (const c of lease.counters) {
      if (c.kind === 'window') {
        const delta = (actuals.get(c.key) ?? 0) - c.amount;
        if (delta === 0) continue;
        const w = this.window(c.key, minute);
        // Correct the bucket the reservation went into, if it is still counted.
        if (w.minute === lease.minute) w.current = Math.max(0, w.current + delta);
        else if (w.minute === lease.minute + 1) w.previous = Math.max(0, w.previous + delta);
      } else if (c.kind === 'concurrency') {
        const n = (this.slots.get(c.key) ?? 0) - 1;
        if (n <= 0) this.slots.delete(c.key);
        else this.slots.set(c.key, n);
      } else {
        // The actual spend reaches `used` through the key's own state; only the reservation is ours.
        const r = (this.reserved.get(c.key) ?? 0) - c.amount;
        if (r <= 1e-12) this.reserved.delete(c.key);
        else this.reserved.set(c.key, r);
      }
    }
  }

  private window(key: string, minute: number): Window {
    let w = this.windows.get(key);
    if (!w) {
      w = { minute, current: 0, previous: 0 };
      this.windows.set(key, w);
      if (this.windows.size > 100_000) this.prune(minute);
    } else if (w.minute !== minute) {
      w.previous = w.minute === minute - 1 ? w.current : 0;
      w.current = 0;
      w.minute = minute;
    }
    return w;
  }

  private prune(minute: number): void {
    for (const [k, w] of this.windows) if (w.minute < minute - 1) this.windows.delete(k);
  }
}
