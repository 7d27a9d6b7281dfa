/**
 * Requests-per-minute limiter, in memory (one gateway process). A sliding window
 * over the current and previous minute, so a burst at a minute boundary cannot
 * pass twice the limit. The Redis-backed limiter for several gateways shares this interface.
 */
export interface RateLimiter {
  /** Counts the request and tells whether it is within `limit` per minute. */
  take(key: string, limit: number, now: number): { allowed: boolean; retryAfterSeconds: number };
}

interface Window {
  minute: number;
  current: number;
  previous: number;
}

export class MemoryRateLimiter implements RateLimiter {
  private readonly windows = new Map<string, Window>();

  take(key: string, limit: number, now: number): { allowed: boolean; retryAfterSeconds: number } {
    const minute = Math.floor(now / 60_000);
    let w = this.windows.get(key);
    if (!w) {
      w = { minute, current: 0, previous: 0 };
      this.windows.set(key, w);
    } else if (w.minute !== minute) {
      w.previous = w.minute === minute - 1 ? w.current : 0;
      w.current = 0;
      w.minute = minute;
    }
    const elapsed = (now % 60_000) / 60_000;
    const weighted = w.previous * (1 - elapsed) + w.current;
    if (weighted + 1 > limit) {
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - elapsed) * 60)) };
    }
    w.current += 1;
    if (this.windows.size > 100_000) this.prune(minute);
    return { allowed: true, retryAfterSeconds: 0 };
  }

  private prune(minute: number): void {
    for (const [k, w] of this.windows) if (w.minute < minute - 1) this.windows.delete(k);
  }
}
