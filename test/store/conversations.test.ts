/**
 * The two conversation stores (database and Redis) against the same contract:
 * scoping to the key, expiry, the lease that serialises turns across instances,
 * the version fence on save, listing pages, and cleanup of a failed first turn.
 */
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConversationLocks } from '../../src/store/conversation-locks.ts';
import type { Conversation, ConversationStore } from '../../src/store/conversation-store.ts';
import { ConversationsRepository } from '../../src/store/conversations.repository.ts';
import { openStore, type Store } from '../../src/store/db.ts';
import { migrateToLatest } from '../../src/store/migrate.ts';
import { RedisConversationStore } from '../../src/store/redis-conversation-store.ts';
import { REDIS_URL, redisKeyPrefix } from '../helpers/redis-server.ts';
import { DATABASE_KINDS, openTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

const T0 = Date.now();
const HOUR = 3_600_000;
const log = pino({ level: 'silent' });

function conversation(id: string, over: Partial<Conversation> = {}): Conversation {
  return { id, keyId: 'key_a', model: 'gpt-4o-mini', system: null, messages: [], version: 0, createdAt: T0, updatedAt: T0, expiresAt: T0 + HOUR, ...over };
}

interface Backend {
  name: string;
  open(): Promise<{ store: ConversationStore; close(): Promise<void> }>;
}

const backends: Backend[] = [
  ...DATABASE_KINDS.map((kind) => ({
    name: kind,
    async open() {
      const tdb: TestDatabase = await openTestDatabase(kind);
      const store: Store = openStore(tdb.url);
      await migrateToLatest(store);
      return {
        store: new ConversationsRepository(store),
        async close() {
          await store.close();
          await tdb.drop();
        },
      };
    },
  })),
  ...(REDIS_URL
    ? [
        {
          name: 'redis',
          async open() {
            const redis = new Redis(REDIS_URL as string);
            return {
              store: new RedisConversationStore(redis, redisKeyPrefix()),
              async close() {
                redis.disconnect();
              },
            };
          },
        },
      ]
    : []),
];

describe.each(backends)('conversations on $name', (backend) => {
  let store: ConversationStore;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ store, close } = await backend.open());
  });

  afterAll(async () => {
    await close?.();
  });

  it('finds a conversation for its own key only, and not once it expired', async () => {
    await store.create(conversation('c-find', { system: 'Be brief.' }), { owner: 'o1', until: T0 + 1000 });
    expect(await store.find('c-find', 'key_a', T0)).toEqual(conversation('c-find', { system: 'Be brief.' }));
    expect(await store.find('c-find', 'key_b', T0)).toBeUndefined();
    expect(await store.find('c-find', 'key_a', T0 + HOUR)).toBeUndefined();
    expect(await store.find('nope', 'key_a', T0)).toBeUndefined();
  });

  it('leases a conversation to one turn at a time; a lease that ran out can be taken', async () => {
    await store.create(conversation('c-lease'), { owner: 'first', until: T0 + 10_000 });
    expect(await store.acquire('c-lease', 'key_a', { owner: 'second', until: T0 + 20_000 }, T0 + HOUR, T0 + 1)).toBe('busy');
    expect(await store.acquire('c-lease', 'key_b', { owner: 'second', until: T0 + 20_000 }, T0 + HOUR, T0 + 1)).toBe('missing');
    expect(await store.acquire('c-missing', 'key_a', { owner: 'second', until: T0 + 20_000 }, T0 + HOUR, T0 + 1)).toBe('missing');
    await store.release('c-lease', 'second'); // not its lease: nothing happens
    expect(await store.acquire('c-lease', 'key_a', { owner: 'second', until: T0 + 20_000 }, T0 + HOUR, T0 + 1)).toBe('busy');
    await store.release('c-lease', 'first');
    expect(await store.acquire('c-lease', 'key_a', { owner: 'second', until: Date.now() + 200 }, T0 + 2 * HOUR, T0 + 2)).toBe('taken');
    // Taking the lease is a use: the conversation lives on from it.
    expect((await store.find('c-lease', 'key_a', T0 + HOUR + 1))?.expiresAt).toBe(T0 + 2 * HOUR);
    expect(await store.renew('c-lease', { owner: 'second', until: Date.now() + 200 })).toBe(true);
    expect(await store.renew('c-lease', { owner: 'third', until: Date.now() + 200 })).toBe(false);
    await new Promise((r) => setTimeout(r, 250));
    expect(await store.acquire('c-lease', 'key_a', { owner: 'third', until: Date.now() + 10_000 }, T0 + 2 * HOUR, Date.now())).toBe('taken');
  });

  it('saves a turn only over the version it read, and not under a lease another turn took', async () => {
    const c = conversation('c-save');
    await store.create(c, { owner: 'a', until: Date.now() + 10_000 });
    const turn = { ...c, messages: [{ role: 'user' as const, content: 'Hi', tokens: 1 }, { role: 'assistant' as const, content: 'Hello!', tokens: 2 }], updatedAt: T0 + 5, expiresAt: T0 + HOUR + 5 };
    expect(await store.save(turn, 'a')).toBe(true);
    const stored = await store.find('c-save', 'key_a', T0);
    expect(stored).toEqual({ ...turn, version: 1 });
    // The same version again (a stale holder): refused.
    expect(await store.save({ ...turn, messages: [] }, 'a')).toBe(false);
    // A holder whose lease was taken over by another turn: refused even on the current version.
    expect(await store.acquire('c-save', 'key_a', { owner: 'b', until: Date.now() + 10_000 }, T0 + HOUR, T0 + 6)).toBe('taken');
    expect(await store.save({ ...stored!, messages: [] }, 'a')).toBe(false);
    expect(await store.save({ ...stored!, system: 'New system', updatedAt: T0 + 7 }, 'b')).toBe(true);
    expect(await store.find('c-save', 'key_a', T0)).toMatchObject({ version: 2, system: 'New system', messages: turn.messages });
    // Saving freed the lease.
    expect(await store.acquire('c-save', 'key_a', { owner: 'c', until: Date.now() + 10_000 }, T0 + HOUR, T0 + 8)).toBe('taken');
  });

  it('deletes for its own key only; discards a new conversation whose first turn failed', async () => {
    await store.create(conversation('c-del'), { owner: 'o', until: Date.now() + 10_000 });
    expect(await store.delete('c-del', 'key_b')).toBe(false);
    expect(await store.delete('c-del', 'key_a')).toBe(true);
    expect(await store.find('c-del', 'key_a', T0)).toBeUndefined();
    expect(await store.delete('c-del', 'key_a')).toBe(false);

    await store.create(conversation('c-discard'), { owner: 'o', until: Date.now() + 10_000 });
    await store.discard('c-discard', 'someone-else');
    expect(await store.find('c-discard', 'key_a', T0)).toBeDefined();
    await store.discard('c-discard', 'o');
    expect(await store.find('c-discard', 'key_a', T0)).toBeUndefined();
  });

  it('lists the key’s live conversations newest first, page by page', async () => {
    for (let i = 0; i < 5; i++) {
      await store.create(conversation(`l-${i}`, { keyId: 'key_list', createdAt: T0 + i, expiresAt: i === 2 ? T0 + 10 : T0 + HOUR }), { owner: 'o', until: Date.now() + 1000 });
    }
    await store.create(conversation('l-other', { keyId: 'key_other' }), { owner: 'o', until: Date.now() + 1000 });
    const now = T0 + 100; // l-2 has expired
    const first = await store.list('key_list', { limit: 2 }, now);
    expect(first.data.map((c) => c.id)).toEqual(['l-4', 'l-3']);
    expect(first.hasMore).toBe(true);
    const second = await store.list('key_list', { limit: 2, after: 'l-3' }, now);
    expect(second.data.map((c) => c.id)).toEqual(['l-1', 'l-0']);
    expect(second.hasMore).toBe(false);
    expect((await store.list('key_list', { limit: 10 }, now)).data.map((c) => c.id)).toEqual(['l-4', 'l-3', 'l-1', 'l-0']);
  });

  it.runIf(backend.name !== 'redis')('sweeps expired conversations, leaving one in the middle of a turn', async () => {
    await store.create(conversation('s-old', { keyId: 'key_sweep', expiresAt: T0 + 10 }), { owner: 'o', until: T0 + 5 });
    await store.create(conversation('s-busy', { keyId: 'key_sweep', expiresAt: T0 + 10 }), { owner: 'o', until: T0 + 1000 });
    await store.sweep(T0 + 20);
    expect(await store.find('s-old', 'key_sweep', T0)).toBeUndefined();
    expect(await store.find('s-busy', 'key_sweep', T0)).toBeDefined();
  });

  it('ConversationLocks runs turns on one conversation one after the other, across two instances', async () => {
    let clock = Date.now();
    const opts = { ttlMs: HOUR, now: () => clock, log, leaseMs: 5000 };
    const a = new ConversationLocks(store, opts);
    const b = new ConversationLocks(store, opts);
    const first = await a.start({ id: 'k-1', keyId: 'key_locks', model: 'm', system: null });
    const order: string[] = [];
    // Same instance: queued in process. Other instance: waits on the store's lease.
    const sameInstance = a.open('k-1', 'key_locks', () => false).then(async (held) => {
      order.push(`a:${held.conversation.messages.length}`);
      await held.commit({ model: 'm', system: null, messages: [...held.conversation.messages, { role: 'user', content: 'A', tokens: 1 }] });
    });
    const otherInstance = b.open('k-1', 'key_locks', () => false).then(async (held) => {
      order.push(`b:${held.conversation.messages.length}`);
      await held.commit({ model: 'm', system: null, messages: [...held.conversation.messages, { role: 'user', content: 'B', tokens: 1 }] });
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(order).toEqual([]);
    clock = Date.now();
    expect(await first.commit({ model: 'm', system: null, messages: [{ role: 'user', content: 'first', tokens: 1 }] })).toBe(true);
    await Promise.all([sameInstance, otherInstance]);
    // Each turn saw everything saved before it.
    expect(order.map((o) => o.split(':')[1]).sort()).toEqual(['1', '2']);
    const final = await store.find('k-1', 'key_locks', Date.now());
    expect(final?.messages.map((m) => m.content)).toEqual(['first', ...order.map((o) => (o.startsWith('a') ? 'A' : 'B'))]);
    expect(final?.version).toBe(3);
  });

  it('ConversationLocks: a failed first turn leaves no conversation; a failed later turn leaves it as it was', async () => {
    const locks = new ConversationLocks(store, { ttlMs: HOUR, now: Date.now, log });
    const held = await locks.start({ id: 'k-2', keyId: 'key_locks', model: 'm', system: 'S' });
    await held.abandon();
    expect(await store.find('k-2', 'key_locks', Date.now())).toBeUndefined();
    await expect(locks.open('k-2', 'key_locks', () => false)).rejects.toMatchObject({ status: 404 });

    const kept = await locks.start({ id: 'k-3', keyId: 'key_locks', model: 'm', system: null });
    await kept.commit({ model: 'm', system: null, messages: [{ role: 'user', content: 'x', tokens: 1 }] });
    const failing = await locks.open('k-3', 'key_locks', () => false);
    await failing.abandon();
    const again = await locks.open('k-3', 'key_locks', () => false);
    expect(again.conversation.messages.map((m) => m.content)).toEqual(['x']);
    await again.abandon();
    await expect(locks.open('k-3', 'key_other', () => false)).rejects.toMatchObject({ status: 404 });
  });
});
