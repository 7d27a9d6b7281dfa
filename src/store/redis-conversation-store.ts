import type { Redis } from 'ioredis';
import { GatewayError } from '../core/errors.ts';
import type { AcquireOutcome, Conversation, ConversationLease, ConversationMessage, ConversationStore } from './conversation-store.ts';

/**
 * Keys, under the gateway's prefix:
 *   conv:<id>        hash {key, version, created, expires, data}: data is JSON {model, system, messages, updatedAt};
 *                    the hash expires by itself at `expires`
 *   conv-lock:<id>   the lease holder, expiring with the lease
 *   convs:<keyId>    sorted set of the key's conversation ids by creation time, for listing;
 *                    it lives as long as its newest conversation, ids of expired ones are dropped when met
 */

/** Moves a key's expiry later, never earlier (PTTL: Redis 6.2 has no PEXPIRETIME). KEYS[k], expires, now. */
function extendLua(k: number, expires: string, now: string): string {
  return `
local ttl = redis.call('PTTL', KEYS[${k}])
if ttl == -1 or (ttl >= 0 and ttl < tonumber(${expires}) - tonumber(${now})) then redis.call('PEXPIREAT', KEYS[${k}], ${expires}) end
`;
}

/** KEYS conv, lock, list; ARGV key, version, created, expires, data, owner, leaseUntil, id. */
const CREATE_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'key', ARGV[1], 'version', ARGV[2], 'created', ARGV[3], 'expires', ARGV[4], 'data', ARGV[5])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
redis.call('SET', KEYS[2], ARGV[6], 'PXAT', ARGV[7])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[8])
${extendLua(3, 'ARGV[4]', 'ARGV[3]')}
return 1
`;

/** KEYS conv, lock, list; ARGV key, owner, leaseUntil, expires, now. 1 taken, 2 busy, 0 missing. */
const ACQUIRE_LUA = `
local f = redis.call('HMGET', KEYS[1], 'key', 'expires')
if f[1] ~= ARGV[1] or tonumber(f[2]) <= tonumber(ARGV[5]) then return 0 end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[2] then return 2 end
redis.call('SET', KEYS[2], ARGV[2], 'PXAT', ARGV[3])
redis.call('HSET', KEYS[1], 'expires', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
${extendLua(3, 'ARGV[4]', 'ARGV[5]')}
return 1
`;

/** KEYS lock; ARGV owner, leaseUntil. */
const RENEW_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
`;

/** KEYS lock; ARGV owner. */
const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`;

/**
 * KEYS conv, lock, list; ARGV owner, version read, expires, data. The write goes in
 * only while the version is the one the turn read and no other turn holds the
 * lease (a lease that ran out untaken still lets its holder finish).
 */
const SAVE_LUA = `
local v = redis.call('HGET', KEYS[1], 'version')
if not v or v ~= ARGV[2] then return 0 end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'version', tostring(tonumber(ARGV[2]) + 1), 'expires', ARGV[3], 'data', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
if holder then redis.call('DEL', KEYS[2]) end
${extendLua(3, 'ARGV[3]', 'ARGV[5]')}
return 1
`;

/** KEYS conv, list; ARGV key, id. */
const DELETE_LUA = `
if redis.call('HGET', KEYS[1], 'key') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
`;

/** KEYS conv, lock, list; ARGV owner, id. */
const DISCARD_LUA = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] or redis.call('HGET', KEYS[1], 'version') ~= '0' then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[2])
return 1
`;

interface StoredData {
  model: string;
  system: string | null;
  messages: ConversationMessage[];
  updatedAt: number;
}

type Cmd = (numKeys: number, ...args: Array<string | number>) => Promise<number>;
interface ConversationCommands {
  syConvCreate: Cmd;
  syConvAcquire: Cmd;
  syConvRenew: Cmd;
  syConvRelease: Cmd;
  syConvSave: Cmd;
  syConvDelete: Cmd;
  syConvDiscard: Cmd;
}

/** Redis is down or slow: the conversation cannot be read or written now. */
function unavailable(err: unknown): GatewayError {
  return new GatewayError('store_unavailable', 'Conversations are unavailable right now; try again shortly.', { cause: err, publicCode: null });
}

/** Conversations as Redis hashes with their own expiry, shared by every instance on the server. */
export class RedisConversationStore implements ConversationStore {
  readonly backend = 'redis' as const;
  private readonly redis: Redis & ConversationCommands;

  constructor(
    redis: Redis,
    private readonly prefix: string,
  ) {
    redis.defineCommand('syConvCreate', { lua: CREATE_LUA });
    redis.defineCommand('syConvAcquire', { lua: ACQUIRE_LUA });
    redis.defineCommand('syConvRenew', { lua: RENEW_LUA });
    redis.defineCommand('syConvRelease', { lua: RELEASE_LUA });
    redis.defineCommand('syConvSave', { lua: SAVE_LUA });
    redis.defineCommand('syConvDelete', { lua: DELETE_LUA });
    redis.defineCommand('syConvDiscard', { lua: DISCARD_LUA });
    this.redis = redis as Redis & ConversationCommands;
  }

  private conv(id: string): string {
    return `${this.prefix}conv:${id}`;
  }

  private lock(id: string): string {
    return `${this.prefix}conv-lock:${id}`;
  }

  private listKey(keyId: string): string {
    return `${this.prefix}convs:${keyId}`;
  }

  private async run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw unavailable(err);
    }
  }

  private decode(id: string, keyId: string, f: Array<string | null>, now: number): Conversation | undefined {
    const [key, version, created, expires, data] = f;
    if (key !== keyId || version === null || created === null || expires === null || data === null) return undefined;
    const expiresAt = Number(expires);
    if (expiresAt <= now) return undefined;
    const d = JSON.parse(data) as StoredData;
    return { id, keyId, model: d.model, system: d.system, messages: d.messages, version: Number(version), createdAt: Number(created), updatedAt: d.updatedAt, expiresAt };
  }

  find(id: string, keyId: string, now: number): Promise<Conversation | undefined> {
    return this.run(async () => this.decode(id, keyId, await this.redis.hmget(this.conv(id), 'key', 'version', 'created', 'expires', 'data'), now));
  }

  list(keyId: string, page: { limit: number; after?: string }, now: number): Promise<{ data: Conversation[]; hasMore: boolean }> {
    return this.run(async () => {
      const list = this.listKey(keyId);
      let start = 0;
      if (page.after) {
        const rank = await this.redis.zrevrank(list, page.after);
        if (rank !== null) start = rank + 1;
      }
      const data: Conversation[] = [];
      // Ids of expired conversations are skipped (and dropped) until the page is full.
      for (;;) {
        const want = page.limit + 1 - data.length;
        const ids = await this.redis.zrevrange(list, start, start + want - 1);
        if (ids.length === 0) break;
        const pipe = this.redis.pipeline();
        for (const id of ids) pipe.hmget(this.conv(id), 'key', 'version', 'created', 'expires', 'data');
        const results = (await pipe.exec()) ?? [];
        const gone: string[] = [];
        ids.forEach((id, i) => {
          const [err, fields] = results[i] ?? [null, null];
          if (err) throw err;
          const c = this.decode(id, keyId, fields as Array<string | null>, now);
          if (c) data.push(c);
          else gone.push(id);
        });
        if (gone.length > 0) await this.redis.zrem(list, ...gone);
        // Removed ids shift the ranks after them down.
        start += ids.length - gone.length;
        if (data.length > page.limit || ids.length < want) break;
      }
      return { data: data.slice(0, page.limit), hasMore: data.length > page.limit };
    });
  }

  private data(c: Conversation): string {
    const d: StoredData = { model: c.model, system: c.system, messages: c.messages, updatedAt: c.updatedAt };
    return JSON.stringify(d);
  }

  async create(c: Conversation, lease: ConversationLease): Promise<void> {
    const made = await this.run(() =>
      this.redis.syConvCreate(3, this.conv(c.id), this.lock(c.id), this.listKey(c.keyId), c.keyId, c.version, c.createdAt, c.expiresAt, this.data(c), lease.owner, lease.until, c.id),
    );
    if (!made) throw new Error(`conversation ${c.id} exists already`);
  }

  async acquire(id: string, keyId: string, lease: ConversationLease, expiresAt: number, now: number): Promise<AcquireOutcome> {
    const out = await this.run(() => this.redis.syConvAcquire(3, this.conv(id), this.lock(id), this.listKey(keyId), keyId, lease.owner, lease.until, expiresAt, now));
    return out === 1 ? 'taken' : out === 2 ? 'busy' : 'missing';
  }

  async renew(id: string, lease: ConversationLease): Promise<boolean> {
    return (await this.run(() => this.redis.syConvRenew(1, this.lock(id), lease.owner, lease.until))) === 1;
  }

  async save(c: Conversation, owner: string): Promise<boolean> {
    return (await this.run(() => this.redis.syConvSave(3, this.conv(c.id), this.lock(c.id), this.listKey(c.keyId), owner, c.version, c.expiresAt, this.data(c), c.updatedAt))) === 1;
  }

  async release(id: string, owner: string): Promise<void> {
    await this.run(() => this.redis.syConvRelease(1, this.lock(id), owner));
  }

  async delete(id: string, keyId: string): Promise<boolean> {
    return (await this.run(() => this.redis.syConvDelete(2, this.conv(id), this.listKey(keyId), keyId, id))) === 1;
  }

  async discard(id: string, owner: string): Promise<void> {
    // The key's list is found from the hash itself: discard names only the conversation.
    await this.run(async () => {
      const keyId = await this.redis.hget(this.conv(id), 'key');
      if (keyId !== null) await this.redis.syConvDiscard(3, this.conv(id), this.lock(id), this.listKey(keyId), owner, id);
    });
  }

  async sweep(): Promise<void> {
    // Redis expires conversations by itself.
  }
}
