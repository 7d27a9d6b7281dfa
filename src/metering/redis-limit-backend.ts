import type { Redis } from 'ioredis';
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

/** Concurrency slots older than this are taken for leaks of a crashed instance and dropped. */
const SLOT_HORIZON_MS = 30 * MINUTE_MS;
/** A quota's running total lives this long after its last use, then restarts from the database's figure. */
const QUOTA_TTL_S = 24 * 3600;

/**
 * Check every counter, then take all of them, in one script: Redis runs it
 * atomically, so two instances can never both take the last unit. Returns
 * {refusedIndex or 0, then per counter two figures as strings (Lua numbers are
 * doubles; Redis would truncate them to integers)}.
 *   window:      previous-minute and current-minute counts
 *   concurrency: slots held, 0
 *   quota:       spent, reserved
 */
const ACQUIRE_LUA = `
local now = tonumber(ARGV[1])
local lease = ARGV[2]
local minute = math.floor(now / 60000)
local elapsed = (now % 60000) / 60000
local n = #KEYS
local figures = {}
local refused = 0
for i = 1, n do
  local base = 2 + (i - 1) * 3
  local kind = ARGV[base + 1]
  local limit = tonumber(ARGV[base + 2])
  local amount = tonumber(ARGV[base + 3])
  local k = KEYS[i]
  local a, b = 0, 0
  if kind == 'w' then
    a = tonumber(redis.call('GET', k .. ':' .. (minute - 1)) or '0')
    b = tonumber(redis.call('GET', k .. ':' .. minute) or '0')
    local usage = a * (1 - elapsed) + b
    if refused == 0 and usage + amount > limit and not (usage == 0) then refused = i end
  elseif kind == 'c' then
    redis.call('ZREMRANGEBYSCORE', k, '-inf', now - ${SLOT_HORIZON_MS})
    a = redis.call('ZCARD', k)
    if refused == 0 and a >= limit then refused = i end
  else
    if redis.call('HEXISTS', k, 'used') == 0 then
      redis.call('HSET', k, 'used', ARGV[2 + n * 3 + i])
    end
    a = tonumber(redis.call('HGET', k, 'used') or '0')
    b = tonumber(redis.call('HGET', k, 'res') or '0')
    if refused == 0 and a + b >= limit then refused = i end
  end
  figures[#figures + 1] = tostring(a)
  figures[#figures + 1] = tostring(b)
end
if refused == 0 then
  for i = 1, n do
    local base = 2 + (i - 1) * 3
    local kind = ARGV[base + 1]
    local amount = ARGV[base + 3]
    local k = KEYS[i]
    if kind == 'w' then
      local wk = k .. ':' .. minute
      redis.call('INCRBYFLOAT', wk, amount)
      redis.call('PEXPIRE', wk, 130000)
    elseif kind == 'c' then
      redis.call('ZADD', k, now, lease)
      redis.call('PEXPIRE', k, ${SLOT_HORIZON_MS})
    else
      redis.call('HINCRBYFLOAT', k, 'res', amount)
      redis.call('EXPIRE', k, ${QUOTA_TTL_S})
    end
  end
end
table.insert(figures, 1, tostring(refused))
return figures
`;

/** Settles a lease: per counter kind, reserved amount, actual amount; ARGV[1] lease id, ARGV[2] the lease's minute. */
const RELEASE_LUA = `
local lease = ARGV[1]
local minute = ARGV[2]
for i = 1, #KEYS do
  local base = 2 + (i - 1) * 3
  local kind = ARGV[base + 1]
  local reserved = tonumber(ARGV[base + 2])
  local actual = tonumber(ARGV[base + 3])
  local k = KEYS[i]
  if kind == 'w' then
    local delta = actual - reserved
    local wk = k .. ':' .. minute
    if delta ~= 0 and redis.call('EXISTS', wk) == 1 then
      local v = tonumber(redis.call('INCRBYFLOAT', wk, delta))
      if v < 0 then redis.call('SET', wk, '0', 'KEEPTTL') end
    end
  elseif kind == 'c' then
    redis.call('ZREM', k, lease)
  elseif redis.call('HEXISTS', k, 'used') == 1 then
    local r = tonumber(redis.call('HINCRBYFLOAT', k, 'res', -reserved))
    if r < 0 then redis.call('HSET', k, 'res', '0') end
    if actual ~= 0 then redis.call('HINCRBYFLOAT', k, 'used', actual) end
  end
  -- A quota whose total is gone (Redis restarted or evicted it) is left alone: recreating it with
  -- only this request's spend would forget everything spent before; the next acquire seeds it
  -- again from the database's figure.
end
return 1
`;

interface LimitCommands {
  syAcquire(numKeys: number, ...args: Array<string | number>): Promise<string[]>;
  syRelease(numKeys: number, ...args: Array<string | number>): Promise<number>;
}

const KIND = { window: 'w', concurrency: 'c', quota: 'q' } as const;

/** Counters in Redis, shared by every instance; one round trip per acquire and one per release. */
export class RedisLimitBackend implements LimitBackend {
  readonly name = 'redis' as const;
  private readonly redis: Redis & LimitCommands;

  constructor(
    redis: Redis,
    private readonly prefix: string,
  ) {
    redis.defineCommand('syAcquire', { lua: ACQUIRE_LUA });
    redis.defineCommand('syRelease', { lua: RELEASE_LUA });
    this.redis = redis as Redis & LimitCommands;
  }

  async acquire(counters: Counter[], leaseId: string, now: number): Promise<AcquireResult> {
    const keys = counters.map((c) => this.prefix + c.key);
    const args: Array<string | number> = [now, leaseId];
    for (const c of counters) args.push(KIND[c.kind], c.limit, c.kind === 'concurrency' ? 0 : c.amount);
    // The quotas' starting totals come after the triples, one per counter (ignored for other kinds).
    for (const c of counters) args.push(c.kind === 'quota' ? c.used : 0);
    const out = await this.redis.syAcquire(keys.length, ...keys, ...args);
    const refused = Number(out[0]);
    const states: CounterState[] = [];
    let retryAfterMs = 0;
    counters.forEach((c, i) => {
      const a = Number(out[1 + i * 2]);
      const b = Number(out[2 + i * 2]);
      const taken = refused === 0;
      if (c.kind === 'window') {
        const usage = windowUsage(a, b, now) + (taken ? c.amount : 0);
        states.push({ limit: c.limit, remaining: Math.max(0, Math.floor(c.limit - usage)), resetMs: windowResetMs(usage, c.limit) });
        if (refused === i + 1) retryAfterMs = windowRetryAfterMs(a, b, c.limit, c.amount, now);
      } else if (c.kind === 'concurrency') {
        states.push({ limit: c.limit, remaining: Math.max(0, c.limit - a - (taken ? 1 : 0)), resetMs: 0 });
        if (refused === i + 1) retryAfterMs = 1000;
      } else {
        states.push({ limit: c.limit, remaining: Math.max(0, c.limit - a - b - (taken ? c.amount : 0)), resetMs: 0 });
      }
    });
    if (refused !== 0) return { ok: false, refused: refused - 1, retryAfterMs, states };
    return { ok: true, retryAfterMs: 0, states, lease: { backend: 'redis', id: leaseId, minute: Math.floor(now / MINUTE_MS), counters } };
  }

  async release(lease: Lease, actuals: Actuals): Promise<void> {
    const keys = lease.counters.map((c) => this.prefix + c.key);
    const args: Array<string | number> = [lease.id, lease.minute];
    for (const c of lease.counters) {
      args.push(KIND[c.kind], c.kind === 'concurrency' ? 0 : c.amount, actuals.get(c.key) ?? 0);
    }
    await this.redis.syRelease(keys.length, ...keys, ...args);
  }

  /** Adds spend made while Redis was away to the shared quota totals. */
  async addQuotaUsage(key: string, amount: number): Promise<void> {
    const k = this.prefix + key;
    if (await this.redis.hexists(k, 'used')) await this.redis.hincrbyfloat(k, 'used', amount);
  }
}
