import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ChangeCounterRepository } from '../store/change-counter.repository.ts';
import type { Store } from '../store/db.ts';

/**
 * Spreads changes to keys and upstreams between instances. A change here bumps
 * the database's counter and, with Redis, is published at once; every instance
 * polls the counter (so changes made by the CLI, or while Redis was away, arrive
 * within the poll interval) and reloads when it moved.
 */
export class ChangeWatcher {
  private readonly counter: ChangeCounterRepository;
  private last: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private dbDown = false;
  private subscriber: Redis | undefined;

  constructor(
    store: Store,
    private readonly log: Logger,
    private readonly onChange: () => Promise<void>,
    private readonly opts: { pollMs: number; redis?: Redis; channel: string },
  ) {
    this.counter = new ChangeCounterRepository(store);
  }

  async start(): Promise<void> {
    try {
      this.last = await this.counter.read();
    } catch {
      this.last = undefined;
    }
    this.timer = setInterval(() => void this.poll(), this.opts.pollMs);
    this.timer.unref();
    if (this.opts.redis) {
      // A subscribed connection can do nothing else: a second one.
      this.subscriber = this.opts.redis.duplicate();
      this.subscriber.on('error', () => undefined);
      this.subscriber.on('message', () => void this.poll(true));
      await this.subscriber.subscribe(this.opts.channel).catch(() => undefined);
    }
  }

  /** After a change made on this instance. Never throws: the poll catches what a failed bump misses. */
  async notify(): Promise<void> {
    try {
      await this.counter.bump();
      this.last = await this.counter.read();
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message } }, 'could not record a change for other instances');
    }
    if (this.opts.redis?.status === 'ready') await this.opts.redis.publish(this.opts.channel, 'changed').catch(() => undefined);
  }

  private async poll(force = false): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const value = await this.counter.read();
      if (this.dbDown) {
        this.dbDown = false;
        this.log.info('database reachable again');
      }
      if (force || value !== this.last) {
        this.last = value;
        await this.onChange();
      }
    } catch (err) {
      if (!this.dbDown) {
        this.dbDown = true;
        this.log.error({ err: { message: (err as Error).message } }, 'database unreachable: serving known keys from the cache');
      }
    } finally {
      this.polling = false;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.subscriber) this.subscriber.disconnect();
    this.subscriber = undefined;
  }
}
