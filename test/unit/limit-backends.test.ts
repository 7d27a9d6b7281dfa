/**
 * The two limit backends against one behavioural suite: the in-process one and the Redis one
 * (a real server, a key prefix per test). Then what only Redis gives: several instances sharing
 * counters exactly, quota totals kept in Redis; and the Limiter falling back to memory while its
 * Redis is away and going back to it when it returns.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Counter, type LimitBackend, MINUTE_MS, windowResetMs, windowRetryAfterMs, windowUsage } from '../../src/metering/limit-backend.ts';
import { Limiter } from '../../src/metering/limiter.ts';
import { MemoryLimitBackend } from '../../src/metering/memory-limit-backend.ts';
import { RedisLimitBackend } from '../../src/metering/redis-limit-backend.ts';
import { openRedis } from '../../src/store/redis.ts';
import { rawRedisCommand, REDIS_URL, redisKeyPrefix, startRedisServer } from '../helpers/redis-server.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { capturingLogger } from '../helpers/capturing-logger.ts';

/** The start of a minute, so offsets within it are exact. */
const T0 = 28_333_334 * MINUTE_MS;
const MINUTE = Math.floor(T0 / MINUTE_MS);

let leaseNo = 0;
const lease = () => `lease-${++leaseNo}`;

const win = (key: string, limit: number, amount = 1): Counter => ({ kind: 'window', key, limit, amount });
const conc = (key: string, limit: number): Counter => ({ kind: 'concurrency', key, limit });
const quota = (key: string, limit: number, used: number, amount: number): Counter => ({ kind: 'quota', key, limit, used, amount });

async function okResult(b: LimitBackend, counters: Counter[], now: number) {
  const r = await b.acquire(counters, lease(), now);
  if (!r.ok || !r.lease) throw new Error(`expected the acquire to succeed, got ${JSON.stringify(r)}`);
  return r as typeof r & { lease: NonNullable<typeof r.lease> };
}

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('window arithmetic', () => {
  it('windowUsage weights the previous minute by how much of it still overlaps the last 60 s', () => {
    expect(windowUsage(10, 5, T0)).toBe(15);
    expect(windowUsage(10, 5, T0 + 30_000)).toBe(10);
    expect(windowUsage(10, 5, T0 + 36_000)).toBe(9);
    expect(windowUsage(0, 7, T0 + 59_999)).toBe(7);
  });

  it('windowRetryAfterMs: within this minute when the previous one decays enough', () => {
    // 10 + 5 at half-way: usage 10; one more fits once the previous minute weighs 4 (60 % elapsed).
    expect(windowRetryAfterMs(10, 5, 10, 1, T0 + 30_000)).toBe(6_000);
    // Nothing this minute, 20 last minute, 5 wanted under 10: at 75 % of this minute.
    expect(windowRetryAfterMs(20, 0, 10, 5, T0)).toBe(45_000);
    // Already fits (a rounding edge): never 0.
    expect(windowRetryAfterMs(10, 0, 10, 1, T0 + 6_000)).toBe(1);
  });

  it('windowRetryAfterMs: not before the next minute when this minute alone is too full', () => {
    // 5 of 5 this minute, at 1 s in: next minute 59 s away, then 20 % more for 5 → 4.
    expect(windowRetryAfterMs(0, 5, 5, 1, T0 + 1_000)).toBe(71_000);
    // The previous minute does not matter then: it is gone by the time this one decays.
    expect(windowRetryAfterMs(0, 8, 10, 5, T0 + 30_000)).toBe(52_500);
    expect(windowRetryAfterMs(10, 8, 10, 5, T0 + 30_000)).toBe(52_500);
    // More than the whole limit: only once both minutes are empty.
    expect(windowRetryAfterMs(0, 0, 10, 50, T0 + 1_000)).toBe(119_000);
  });

  it('windowResetMs: the share of the limit used, of a minute', () => {
    expect(windowResetMs(0, 10)).toBe(0);
    expect(windowResetMs(5, 10)).toBe(30_000);
    expect(windowResetMs(1, 3)).toBe(20_000);
    expect(windowResetMs(15, 10)).toBe(60_000);
    expect(windowResetMs(3, 0)).toBe(0);
  });
});

/** What both backends must do alike. */
function behaviour(make: () => LimitBackend, name: 'memory' | 'redis') {
  let b: LimitBackend;
  beforeEach(() => {
    b = make();
  });

  it('names itself and marks its leases', async () => {
    expect(b.name).toBe(name);
    const r = await okResult(b, [win('k:rpm', 1)], T0);
    expect(r.lease).toMatchObject({ backend: name, minute: MINUTE });
  });

  it('a window of limit N admits exactly N at one instant, then refuses with a retry-after and remaining 0', async () => {
    const now = T0 + 1_000;
    const states = [];
    for (let i = 0; i < 5; i++) states.push((await okResult(b, [win('w:rpm', 5)], now)).states[0]);
    expect(states).toEqual([
      { limit: 5, remaining: 4, resetMs: 12_000 },
      { limit: 5, remaining: 3, resetMs: 24_000 },
      { limit: 5, remaining: 2, resetMs: 36_000 },
      { limit: 5, remaining: 1, resetMs: 48_000 },
      { limit: 5, remaining: 0, resetMs: 60_000 },
    ]);
    const refused = await b.acquire([win('w:rpm', 5)], lease(), now);
    expect(refused).toEqual({ ok: false, refused: 0, retryAfterMs: 71_000, states: [{ limit: 5, remaining: 0, resetMs: 60_000 }] });
    // The retry-after is exact: one millisecond early is still refused, on time is admitted.
    expect((await b.acquire([win('w:rpm', 5)], lease(), now + 71_000 - 1)).ok).toBe(false);
    expect((await b.acquire([win('w:rpm', 5)], lease(), now + 71_000)).ok).toBe(true);
  });

  it('slides: half-way through the next minute the previous one counts half; two minutes on it is gone', async () => {
    for (let i = 0; i < 10; i++) await okResult(b, [win('s:rpm', 10)], T0 + 1_000);
    const half = T0 + MINUTE_MS + 30_000;
    const remaining = [];
    for (let i = 0; i < 5; i++) remaining.push((await okResult(b, [win('s:rpm', 10)], half)).states[0].remaining);
    expect(remaining).toEqual([4, 3, 2, 1, 0]);
    const refused = await b.acquire([win('s:rpm', 10)], lease(), half);
    expect(refused).toMatchObject({ ok: false, refused: 0, retryAfterMs: 6_000 });
    expect(refused.states[0]).toEqual({ limit: 10, remaining: 0, resetMs: 60_000 });
    // 6 s later the previous minute weighs 4: one more fits.
    expect((await okResult(b, [win('s:rpm', 10)], half + 6_000)).states[0].remaining).toBe(0);
    // At the start of the minute after, only the 6 of the last minute count.
    const next = T0 + 2 * MINUTE_MS;
    for (let i = 0; i < 4; i++) await okResult(b, [win('s:rpm', 10)], next);
    expect((await b.acquire([win('s:rpm', 10)], lease(), next)).ok).toBe(false);
    // Two minutes after the last charge, the window is empty.
    const later = T0 + 4 * MINUTE_MS;
    expect((await okResult(b, [win('s:rpm', 10)], later)).states[0]).toEqual({ limit: 10, remaining: 9, resetMs: 6_000 });
  });

  it('lets one oversized request through an empty window (it could never pass otherwise), then refuses', async () => {
    const r = await okResult(b, [win('big:tpm', 10, 50)], T0);
    expect(r.states[0]).toEqual({ limit: 10, remaining: 0, resetMs: 60_000 });
    const again = await b.acquire([win('big:tpm', 10, 50)], lease(), T0 + 1);
    expect(again.ok).toBe(false);
    expect(again.retryAfterMs).toBeGreaterThan(MINUTE_MS);
  });

  it('all or nothing: a refusal by the second counter leaves the first untaken', async () => {
    await okResult(b, [win('b:rpm', 1)], T0);
    const r = await b.acquire([win('a:rpm', 5), win('b:rpm', 1)], lease(), T0);
    expect(r.ok).toBe(false);
    expect(r.refused).toBe(1);
    expect(r.lease).toBeUndefined();
    expect(r.states).toHaveLength(2);
    expect(r.states[1]).toEqual({ limit: 1, remaining: 0, resetMs: 60_000 });
    // Counter a still has all 5.
    const remaining = [];
    for (let i = 0; i < 5; i++) remaining.push((await okResult(b, [win('a:rpm', 5)], T0)).states[0].remaining);
    expect(remaining).toEqual([4, 3, 2, 1, 0]);
    expect((await b.acquire([win('a:rpm', 5)], lease(), T0)).ok).toBe(false);
  });

  it('all or nothing across kinds: a quota refusal takes no concurrency slot and no window unit', async () => {
    const counters = [win('x:rpm', 1), conc('x:conc', 1), quota('x:qt', 100, 100, 1)];
    const r = await b.acquire(counters, lease(), T0);
    expect(r).toMatchObject({ ok: false, refused: 2, retryAfterMs: 0 });
    const ok = await okResult(b, [win('x:rpm', 1), conc('x:conc', 1)], T0);
    expect(ok.states).toEqual([
      { limit: 1, remaining: 0, resetMs: 60_000 },
      { limit: 1, remaining: 0, resetMs: 0 },
    ]);
  });

  // The contract: `remaining` is what is left after this request. A refused request takes nothing,
  // so the counters before the one that refused still have all of theirs (Redis says 5).
  it('a refusal reports the untaken counters before the refusing one as untaken', async () => {
    await okResult(b, [win('c:rpm', 1)], T0);
    const r = await b.acquire([win('d:rpm', 5), win('c:rpm', 1)], lease(), T0);
    expect(r.states[0]).toEqual({ limit: 5, remaining: 5, resetMs: 0 });
  });

  it('concurrency: limit 2 refuses the third until a release frees a slot', async () => {
    const first = await okResult(b, [conc('slots', 2)], T0);
    const second = await okResult(b, [conc('slots', 2)], T0);
    expect([first.states[0], second.states[0]]).toEqual([
      { limit: 2, remaining: 1, resetMs: 0 },
      { limit: 2, remaining: 0, resetMs: 0 },
    ]);
    const third = await b.acquire([conc('slots', 2)], lease(), T0);
    expect(third).toEqual({ ok: false, refused: 0, retryAfterMs: 1000, states: [{ limit: 2, remaining: 0, resetMs: 0 }] });
    await b.release(first.lease, new Map(), T0 + 10);
    const fourth = await okResult(b, [conc('slots', 2)], T0 + 10);
    expect(fourth.states[0]).toEqual({ limit: 2, remaining: 0, resetMs: 0 });
    expect((await b.acquire([conc('slots', 2)], lease(), T0 + 10)).ok).toBe(false);
    await b.release(second.lease, new Map(), T0 + 20);
    await b.release(fourth.lease, new Map(), T0 + 20);
    expect((await okResult(b, [conc('slots', 2)], T0 + 30)).states[0].remaining).toBe(1);
  });

  it('quota: refuses once what is spent plus what is reserved reaches the limit', async () => {
    const a = await okResult(b, [quota('q:qt', 100, 60, 30)], T0);
    expect(a.states[0]).toEqual({ limit: 100, remaining: 10, resetMs: 0 });
    // 60 + 30 reserved = 90 < 100: admitted, overspending by at most this one reservation.
    const c = await okResult(b, [quota('q:qt', 100, 60, 30)], T0);
    expect(c.states[0]).toEqual({ limit: 100, remaining: 0, resetMs: 0 });
    const refused = await b.acquire([quota('q:qt', 100, 60, 1)], lease(), T0);
    expect(refused).toEqual({ ok: false, refused: 0, retryAfterMs: 0, states: [{ limit: 100, remaining: 0, resetMs: 0 }] });
  });

  it('quota: spent alone reaching the limit refuses, even a request reserving nothing', async () => {
    const r = await b.acquire([quota('full:qu', 5, 5, 0)], lease(), T0);
    expect(r).toMatchObject({ ok: false, refused: 0 });
    expect(r.states[0].remaining).toBe(0);
  });

  it('quota: a release replaces the reservation by the actual amount', async () => {
    const big = await okResult(b, [quota('r:qt', 100, 60, 40)], T0);
    expect((await b.acquire([quota('r:qt', 100, 60, 1)], lease(), T0)).ok).toBe(false);
    await b.release(big.lease, new Map([['r:qt', 10]]), T0 + 5);
    // The caller now knows 70 spent (Redis counted the 10 itself): 30 left, the reservation is gone.
    const after = await okResult(b, [quota('r:qt', 100, 70, 20)], T0 + 5);
    expect(after.states[0]).toEqual({ limit: 100, remaining: 10, resetMs: 0 });
    // A release with no actual frees the whole reservation and adds nothing.
    await b.release(after.lease, new Map(), T0 + 6);
    expect((await okResult(b, [quota('r:qt', 100, 70, 29)], T0 + 6)).states[0].remaining).toBe(1);
  });

  it('tpm settlement: reserve 100, settle to 30, and exactly 70 is free again in the same minute', async () => {
    const r = await okResult(b, [win('t:tpm', 100, 100)], T0 + 1_000);
    expect(r.states[0].remaining).toBe(0);
    expect((await b.acquire([win('t:tpm', 100, 1)], lease(), T0 + 1_000)).ok).toBe(false);
    await b.release(r.lease, new Map([['t:tpm', 30]]), T0 + 2_000);
    expect((await b.acquire([win('t:tpm', 100, 71)], lease(), T0 + 2_000)).ok).toBe(false);
    const seventy = await okResult(b, [win('t:tpm', 100, 70)], T0 + 2_000);
    expect(seventy.states[0]).toEqual({ limit: 100, remaining: 0, resetMs: 60_000 });
    expect((await b.acquire([win('t:tpm', 100, 1)], lease(), T0 + 2_000)).ok).toBe(false);
  });

  it('tpm settlement in the next minute corrects the minute the reservation went into', async () => {
    const r = await okResult(b, [win('n:tpm', 100, 100)], T0 + 1_000);
    // 1 s into the next minute: the previous minute weighs 59/60.
    const now = T0 + MINUTE_MS + 1_000;
    await b.release(r.lease, new Map([['n:tpm', 30]]), now);
    // 30 × 59/60 = 29.5 used: 70 fits, 71 does not.
    expect((await b.acquire([win('n:tpm', 100, 71)], lease(), now)).ok).toBe(false);
    expect((await okResult(b, [win('n:tpm', 100, 70)], now)).states[0].remaining).toBe(0);
  });

  it('a settlement above the reservation charges the difference', async () => {
    const r = await okResult(b, [win('o:tpm', 100, 10)], T0);
    await b.release(r.lease, new Map([['o:tpm', 60]]), T0 + 1);
    expect((await b.acquire([win('o:tpm', 100, 41)], lease(), T0 + 1)).ok).toBe(false);
    expect((await okResult(b, [win('o:tpm', 100, 40)], T0 + 1)).states[0].remaining).toBe(0);
  });
}

describe('MemoryLimitBackend', () => {
  behaviour(() => new MemoryLimitBackend(), 'memory');
});

describe.skipIf(!REDIS_URL)('RedisLimitBackend', () => {
  let redis: Redis;
  let prefix: string;
  beforeAll(() => {
    redis = new Redis(REDIS_URL as string);
  });
  afterAll(async () => {
    await redis.quit();
  });

  describe('behaviour', () => {
    behaviour(() => {
      prefix = redisKeyPrefix();
      return new RedisLimitBackend(redis, prefix);
    }, 'redis');
  });

  it('keeps its counters under its prefix: windows per minute with an expiry, slots per lease', async () => {
    prefix = redisKeyPrefix();
    const b = new RedisLimitBackend(redis, prefix);
    const r = await okResult(b, [win('k:tpm', 1000, 12.5), conc('k:conc', 3)], T0);
    expect(await redis.get(`${prefix}k:tpm:${MINUTE}`)).toBe('12.5');
    const ttl = await redis.pttl(`${prefix}k:tpm:${MINUTE}`);
    expect(ttl).toBeGreaterThan(120_000);
    expect(ttl).toBeLessThanOrEqual(130_000);
    expect(await redis.zrange(`${prefix}k:conc`, 0, -1)).toEqual([r.lease.id]);
    await b.release(r.lease, new Map([['k:tpm', 2]]));
    expect(await redis.get(`${prefix}k:tpm:${MINUTE}`)).toBe('2');
    expect(await redis.zcard(`${prefix}k:conc`)).toBe(0);
    // A refusal writes nothing.
    const refused = await b.acquire([win('other:rpm', 1, 1), quota('other:qt', 10, 10, 1)], lease(), T0);
    expect(refused.ok).toBe(false);
    expect(await redis.exists(`${prefix}other:rpm:${MINUTE}`)).toBe(0);
  });

  it('quota: the running total starts from `used` and grows with actuals, whatever `used` later calls pass', async () => {
    prefix = redisKeyPrefix();
    const b = new RedisLimitBackend(redis, prefix);
    const first = await okResult(b, [quota('u:qt', 100, 50, 10)], T0);
    expect(await redis.hgetall(`${prefix}u:qt`)).toEqual({ used: '50', res: '10' });
    await b.release(first.lease, new Map([['u:qt', 30]]));
    expect(await redis.hgetall(`${prefix}u:qt`)).toEqual({ used: '80', res: '0' });
    // This instance says 0 spent (it has not seen the other's charges): Redis knows 80.
    const second = await okResult(b, [quota('u:qt', 100, 0, 10)], T0);
    expect(second.states[0]).toEqual({ limit: 100, remaining: 10, resetMs: 0 });
    await okResult(b, [quota('u:qt', 100, 0, 10)], T0);
    const refused = await b.acquire([quota('u:qt', 100, 0, 1)], lease(), T0);
    expect(refused).toMatchObject({ ok: false, refused: 0 });
    expect(refused.states[0].remaining).toBe(0);
    // Spend made while Redis was away is added to the running total (only if it exists).
    await b.addQuotaUsage('u:qt', 5);
    await b.addQuotaUsage('never-used:qt', 5);
    expect(await redis.hget(`${prefix}u:qt`, 'used')).toBe('85');
    expect(await redis.exists(`${prefix}never-used:qt`)).toBe(0);
  });

  it('quota: a total lost mid-request (Redis restarted) is not recreated by the release; the next acquire seeds it from `used` again', async () => {
    prefix = redisKeyPrefix();
    const b = new RedisLimitBackend(redis, prefix);
    const inFlight = await okResult(b, [quota('user:u1:qu', 100, 99, 0.5)], T0);
    await redis.del(`${prefix}user:u1:qu`);
    await b.release(inFlight.lease, new Map([['user:u1:qu', 0.4]]));
    expect(await redis.exists(`${prefix}user:u1:qu`)).toBe(0);
    // What the database (plus this instance) knows: 99.4 spent of 100.
    await okResult(b, [quota('user:u1:qu', 100, 99.4, 0.5)], T0);
    expect(await redis.hget(`${prefix}user:u1:qu`, 'used')).toBe('99.4');
  });

  describe('several instances on separate connections', () => {
    let r1: Redis;
    let r2: Redis;
    beforeAll(async () => {
      r1 = new Redis(REDIS_URL as string);
      r2 = new Redis(REDIS_URL as string);
      // Both connected before the burst, so their commands really race at the server.
      await until(() => r1.status === 'ready' && r2.status === 'ready', 'both connections');
    });
    afterAll(async () => {
      await Promise.all([r1.quit(), r2.quit()]);
    });

    it('200 concurrent acquires split over two instances on a window of 50: exactly 50 admitted', async () => {
      const shared = redisKeyPrefix();
      const instances = [new RedisLimitBackend(r1, shared), new RedisLimitBackend(r2, shared)];
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => instances[i % 2].acquire([win('key:abc:rpm', 50)], lease(), T0 + 500)));
      const ok = results.filter((r) => r.ok);
      expect(ok).toHaveLength(50);
      // Every refusal says there is nothing left; the admitted ones saw each remaining figure once.
      for (const r of results.filter((x) => !x.ok)) expect(r.states[0].remaining).toBe(0);
      expect(ok.map((r) => r.states[0].remaining).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(await redis.get(`${shared}key:abc:rpm:${MINUTE}`)).toBe('50');
    });

    it('concurrency slots and quota reservations hold across instances too', async () => {
      const shared = redisKeyPrefix();
      const instances = [new RedisLimitBackend(r1, shared), new RedisLimitBackend(r2, shared)];
      const slots = await Promise.all(Array.from({ length: 60 }, (_, i) => instances[i % 2].acquire([conc('key:abc:conc', 7)], lease(), T0)));
      const held = slots.filter((r) => r.ok);
      expect(held).toHaveLength(7);
      // Each instance releases the leases of the other: slots are per lease, not per connection.
      await Promise.all(held.map((r, i) => instances[(i + 1) % 2].release(r.lease as NonNullable<typeof r.lease>, new Map())));
      expect(await redis.zcard(`${shared}key:abc:conc`)).toBe(0);

      // 10 reserved per request under 100: at most 10 requests hold a reservation at once.
      const quotas = await Promise.all(Array.from({ length: 40 }, (_, i) => instances[i % 2].acquire([quota('key:abc:qt', 100, 0, 10)], lease(), T0)));
      expect(quotas.filter((r) => r.ok)).toHaveLength(10);
      expect(await redis.hgetall(`${shared}key:abc:qt`)).toEqual({ used: '0', res: '100' });
    });
  });
});


function sharedOver(redis: Redis, prefix: string) {
  return {
    backend: new RedisLimitBackend(redis, prefix),
    ready: () => redis.status === 'ready',
    onReady: (fn: () => void) => redis.on('ready', fn),
  };
}

describe.skipIf(!REDIS_URL)('Limiter with Redis going away and coming back', () => {
  it('answers from memory while its Redis is down, without throwing, and goes back to Redis when it returns', async () => {
    const server = await startRedisServer();
    const { log, lines } = capturingLogger<{ level: number; msg: string }>();
    const redis = openRedis(server.url, log);
    try {
      await until(() => redis.status === 'ready', 'the first connection');
      const prefix = redisKeyPrefix();
      const limiter = new Limiter(log, sharedOver(redis, prefix));
      const counter = [win('key:k1:rpm', 2)];
      const readCount = () => rawRedisCommand(server.port, ['GET', `${prefix}key:k1:rpm:${MINUTE}`]);

      expect(limiter.backendName).toBe('redis');
      const first = await limiter.acquire(counter, lease(), T0);
      expect(first.lease?.backend).toBe('redis');
      expect(await readCount()).toBe('1');

      await server.stop();
      await until(() => redis.status !== 'ready', 'the client to notice');
      // Memory now: its own counters, so 2 more (not 1) fit, and the limit still holds.
      const during = [];
      for (let i = 0; i < 3; i++) during.push(await limiter.acquire(counter, lease(), T0 + 1));
      expect(during.map((r) => [r.ok, r.lease?.backend])).toEqual([
        [true, 'memory'],
        [true, 'memory'],
        [false, undefined],
      ]);
      expect(limiter.backendName).toBe('memory');
      // Settling works either way: the memory lease locally, the Redis one is given up on without an error.
      await limiter.release(during[0].lease as NonNullable<(typeof during)[0]['lease']>, new Map([['key:k1:rpm', 1]]), T0 + 2);
      await expect(limiter.release(first.lease as NonNullable<typeof first.lease>, new Map([['key:k1:rpm', 1]]), T0 + 2)).resolves.toBeUndefined();
      expect(lines.filter((l) => l.msg.startsWith('Redis unreachable'))).toHaveLength(1);

      await server.restart();
      await until(() => redis.status === 'ready', 'the reconnection');
      await until(() => limiter.backendName === 'redis', 'the limiter to go back to Redis');
      const back = await limiter.acquire(counter, lease(), T0 + 3);
      expect(back.ok).toBe(true);
      expect(back.lease?.backend).toBe('redis');
      // The restarted server came back empty: this is the first unit it counts.
      expect(await readCount()).toBe('1');
      expect(lines.filter((l) => l.msg === 'Redis is back: limits are shared again')).toHaveLength(1);
    } finally {
      redis.disconnect();
      await server.stop();
    }
  });

  it('adds the quota spend settled on memory while Redis was away to the shared total on its return', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(REDIS_URL as string).port || 6379) });
    const { log } = capturingLogger<{ level: number; msg: string }>();
    const redis = openRedis(proxy.url(REDIS_URL as string), log);
    const direct = new Redis(REDIS_URL as string);
    try {
      await until(() => redis.status === 'ready', 'the first connection');
      const prefix = redisKeyPrefix();
      const limiter = new Limiter(log, sharedOver(redis, prefix));
      const q = (used: number) => [quota('key:k2:qt', 1000, used, 50)];

      const a = await limiter.acquire(q(100), lease(), T0);
      expect(a.lease?.backend).toBe('redis');
      await limiter.release(a.lease as NonNullable<typeof a.lease>, new Map([['key:k2:qt', 20]]), T0);
      expect(await direct.hget(`${prefix}key:k2:qt`, 'used')).toBe('120');

      proxy.cut();
      await until(() => redis.status !== 'ready', 'the client to notice the cut');
      const b = await limiter.acquire(q(120), lease(), T0 + 1);
      expect(b.lease?.backend).toBe('memory');
      await limiter.release(b.lease as NonNullable<typeof b.lease>, new Map([['key:k2:qt', 30]]), T0 + 1);
      expect(await direct.hget(`${prefix}key:k2:qt`, 'used')).toBe('120');

      proxy.restore();
      await until(() => redis.status === 'ready', 'the reconnection');
      await until(() => limiter.backendName === 'redis', 'the limiter to go back to Redis');
      await until(async () => (await direct.hget(`${prefix}key:k2:qt`, 'used')) === '150', 'the resync of 30');
      const c = await limiter.acquire(q(0), lease(), T0 + 2);
      expect(c.lease?.backend).toBe('redis');
      expect(c.states[0]).toEqual({ limit: 1000, remaining: 800, resetMs: 0 });
    } finally {
      redis.disconnect();
      await direct.quit();
      await proxy.close();
    }
  });
});
