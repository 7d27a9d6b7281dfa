import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.ts';
import { GatewayError } from '../core/errors.ts';

interface Count {
  count: number;
  /** Milliseconds until the window's count lapses. */
  ttlMs: number;
}

/**
 * Slows down password guessing: failed sign-ins are counted per account and per client address in
 * a fixed window (in Redis when there is one, so every instance sees the same counts; in memory
 * otherwise or while Redis is away). Past the limit, sign-in answers 429 with retry-after until the
 * window lapses, whether or not the password would have been right.
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

  private memoryGet(key: string): Count {
    const e = this.memory.get(key);
    const now = this.now();
    if (!e || e.until <= now) return { count: 0, ttlMs: 0 };
    return { count: e.count, ttlMs: e.until - now };
  }

  private async read(key: string): Promise<Count> {
    if (this.redis?.status === 'ready') {
      try {
        const [[, count], [, ttl]] = (await this.redis.multi().get(this.prefix + key).pttl(this.prefix + key).exec()) as [[null, string | null], [null, number]];
        return { count: Number(count ?? 0), ttlMs: Math.max(0, ttl) };
      } catch {
        // Redis away: this instance's own counts still hold.
      }
    }
    return this.memoryGet(key);
  }

  private async bump(key: string): Promise<void> {
    const now = this.now();
    const e = this.memory.get(key);
    if (!e || e.until <= now) this.memory.set(key, { count: 1, until: now + this.windowMs });
    else e.count++;
    if (this.memory.size > 100_000) this.memory.delete(this.memory.keys().next().value as string);
    if (this.redis?.status === 'ready') {
      try {
        await this.redis.multi().incr(this.prefix + key).pexpire(this.prefix + key, this.windowMs, 'NX').exec();
      } catch {
        // Counted in memory above.
      }
    }
  }

  /** Refuses (429) while the account or the address has failed too often. */
  async check(ip: string, email: string): Promise<void> {
    for (const { key, max } of this.keys(ip, email)) {
      const c = await this.read(key);
      if (c.count >= max) {
        const retryAfterSeconds = Math.max(1, Math.ceil(c.ttlMs / 1000));
        throw new GatewayError('too_many_attempts', `Too many failed sign-ins; try again in ${retryAfterSeconds} seconds.`, { retryAfterSeconds, publicCode: 'too_many_attempts' });
      }
    }
  }

  async failed(ip: string, email: string): Promise<void> {
    for (const { key } of this.keys(ip, email)) await this.bump(key);
  }

  /** A right password clears the account's count (not the address's: one address may be guessing many accounts). */
  async succeeded(email: string): Promise<void> {
    const key = this.keys('', email)[0].key;
    this.memory.delete(key);
    if (this.redis?.status === 'ready') await this.redis.del(this.prefix + key).catch(() => undefined);
  }
}
