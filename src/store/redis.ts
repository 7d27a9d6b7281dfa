import { Redis } from 'ioredis';
import type { Logger } from 'pino';

/**
 * The shared Redis connection. Commands fail at once while it is down (no
 * offline queue, short command timeout), so a request never waits on Redis:
 * the caller falls back to local state instead. Reconnects in the background.
 */
export function openRedis(url: string, log: Logger): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 1000,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(200 * times, 2000),
    lazyConnect: false,
  });
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) log.warn({ err: { message: err.message } }, 'Redis connection error');
    down = true;
  });
  redis.on('ready', () => {
    if (down) log.info('Redis connection restored');
    down = false;
  });
  return redis;
}
