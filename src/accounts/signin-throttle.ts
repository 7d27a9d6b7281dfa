import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.ts';
import { GatewayError } from '../core/errors.ts';

interface Count {
  count: number;
  /** Milliseconds until the window's count lapses. */
  ttlMs: number;
}

/**
 * Slows down password guessing: sign-in attempts are counted per account and per client address
 * in a fixed window (in Redis when there is one, so every instance sees the same counts; in memory
 * otherwise or while Redis is away). Each attempt is counted before its password is checked, in
 * one atomic step, so parallel guesses cannot all slip in under the limit; a right password takes
 * its attempt back (and clears the account's count). Past the limit, sign-in answers 429 with
 * retry-after until the window lapses, whether or not the password would have been right.
 */
export class SignInThrottle {
  private readonly memory = new Map<string, { count: number; until: number }>();

  constructor(
    private readonly cfg: Config['accounts'],
    private readonly redis: Redis | undefined,
    private readonly prefix: string,
    private readonly now: () => number = Date.now,
  ) {}

  private get windowMs(): number {
    return this.cfg.signin_window_seconds * 1000;
  }

  private keys(ip: string, email: string): Array<{ key: string; max: number }> {
    return [
      { key: `signin:acct:${email.trim().toLowerCase()}`, max: this.cfg.signin_max_failures_per_account },
      { key: `signin:ip:${ip}`, max: this.cfg.signin_max_failures_per_ip },
    ];
  }

  private bumpMemory(key: string, by: number): Count {
    const now = this.now();
    let e = this.memory.get(key);
    if (!e || e.until <= now) {
      e = { count: 0, until: now + this.windowMs };
      this.memory.set(key, e);
      if (this.memory.size > 100_000) this.memory.delete(this.memory.keys().next().value as string);
    }
    e.count = Math.max(0, e.count + by);
    return { count: e.count, ttlMs: e.until - now };
  }

  /** Adds `by` to a window's count and returns it; the window starts at its first attempt (SET NX PX works on any Redis). */
  private async bump(key: string, by: number): Promise<Count> {
    const local = this.bumpMemory(key, by);
    if (this.redis?.status === 'ready') {
      try {
        const k = this.prefix + key;
        const res = await this.redis.multi().set(k, '0', 'PX', this.windowMs, 'NX').incrby(k, by).pttl(k).exec();
        const count = Number(res?.[1]?.[1] ?? NaN);
        const ttl = Number(res?.[2]?.[1] ?? NaN);
        if (Number.isFinite(count)) return { count, ttlMs: Math.max(0, ttl) };
      } catch {
        // Redis away: this instance's own count holds.
      }
    }
    return local;
  }

  /**
   * Counts one attempt for the account and the address; refuses (429) when either is over its
   * limit. Call before checking the password, and succeeded() after a right one.
   */
  async attempt(ip: string, email: string): Promise<void> {
    for (const { key, max } of this.keys(ip, email)) {
      const c = await this.bump(key, 1);
      if (c.count > max) {
        const retryAfterSeconds = Math.max(1, Math.ceil(c.ttlMs / 1000));
        throw new GatewayError('too_many_attempts', `Too many failed sign-ins; try again in ${retryAfterSeconds} seconds.`, { retryAfterSeconds, publicCode: 'too_many_attempts' });
      }
    }
  }

  /** A right password: the account's count is cleared, the address's attempt taken back (it was not a failure). */
  async succeeded(ip: string, email: string): Promise<void> {
    const [account, address] = this.keys(ip, email);
    this.memory.delete(account.key);
    if (this.redis?.status === 'ready') await this.redis.del(this.prefix + account.key).catch(() => undefined);
    await this.bump(address.key, -1);
  }
}
