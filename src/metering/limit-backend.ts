/**
 * The contract both limit backends implement (memory for one instance, Redis for
 * several): one atomic check-and-take over every counter a request touches, and
 * one settlement when it ends. Either every counter is taken or none is.
 */

/** A sliding one-minute window (rpm: amount 1; tpm: the tokens reserved). */
export interface WindowCounter {
  kind: 'window';
  key: string;
  limit: number;
  amount: number;
}

/** Requests in flight at once. */
export interface ConcurrencyCounter {
  kind: 'concurrency';
  key: string;
  limit: number;
}

/**
 * A quota (tokens or dollars): refused once what is spent plus what is reserved
 * reaches the limit, so concurrent requests overspend by at most one reservation.
 * `used` is what this instance knows was spent (the database plus its unwritten
 * charges); a shared backend keeps its own running total and uses `used` only to start it.
 */
export interface QuotaCounter {
  kind: 'quota';
  key: string;
  limit: number;
  used: number;
  amount: number;
}

export type Counter = WindowCounter | ConcurrencyCounter | QuotaCounter;

export interface CounterState {
  limit: number;
  /** What is left after this request (never below 0). */
  remaining: number;
  /** Milliseconds until the counter is back to its full limit. */
  resetMs: number;
}

export interface AcquireResult {
  ok: boolean;
  /** Index in the counters of the first one that refused. */
  refused?: number;
  /** For a refusal: when trying again can succeed. */
  retryAfterMs: number;
  /** One per counter, in order. */
  states: CounterState[];
  /** A lease to hand back to release(); absent when refused. */
  lease?: Lease;
}

/** What was taken, so that settlement undoes exactly that. */
export interface Lease {
  /** Which backend took it: settlement goes to the same one. */
  backend: 'memory' | 'redis';
  /** Unique per request (concurrency slots are per request). */
  id: string;
  /** The minute windows were charged in. */
  minute: number;
  counters: Counter[];
}

/** The real figures once a request ended, per counter key: window and quota counters settle to them. */
export type Actuals = ReadonlyMap<string, number>;

export interface LimitBackend {
  readonly name: 'memory' | 'redis';
  acquire(counters: Counter[], leaseId: string, now: number): Promise<AcquireResult>;
  /** Frees concurrency slots and replaces each reservation by its actual amount (missing: 0). Never throws. */
  release(lease: Lease, actuals: Actuals, now: number): Promise<void>;
  close?(): Promise<void>;
}

export const MINUTE_MS = 60_000;

/**
 * Sliding window over the current and the previous minute (the previous one
 * weighted by how much of it still overlaps the last 60 s).
 */
export function windowUsage(previous: number, current: number, now: number): number {
  const elapsed = (now % MINUTE_MS) / MINUTE_MS;
  return previous * (1 - elapsed) + current;
}

/** How long until `amount` more fits under `limit` in a sliding window. */
export function windowRetryAfterMs(previous: number, current: number, limit: number, amount: number, now: number): number {
  const inMinute = now % MINUTE_MS;
  const elapsed = inMinute / MINUTE_MS;
  const room = limit - current - amount;
  if (room >= 0 && previous > 0) {
    const target = 1 - room / previous;
    return Math.max(1, Math.ceil((target - elapsed) * MINUTE_MS));
  }
  // Not before the next minute, when the current count becomes the decaying previous one.
  const untilNext = MINUTE_MS - inMinute;
  if (amount > limit) return untilNext + MINUTE_MS;
  const target = current > 0 ? Math.max(0, 1 - (limit - amount) / current) : 0;
  return Math.ceil(untilNext + target * MINUTE_MS);
}

/** Time for a window to be back to full, at the rate it drains: the share used of a minute. */
export function windowResetMs(usage: number, limit: number): number {
  if (usage <= 0 || limit <= 0) return 0;
  return Math.ceil((Math.min(usage, limit) / limit) * MINUTE_MS);
}
