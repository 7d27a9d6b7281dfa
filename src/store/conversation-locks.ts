import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { GatewayError } from '../core/errors.ts';
import type { Conversation, ConversationStore } from './conversation-store.ts';

export interface ConversationLocksOptions {
  ttlMs: number;
  now: () => number;
  log: Logger;
  /** How long a turn's lease lasts without renewal (a crashed instance's turn is given up after this). */
  leaseMs?: number;
  /** How long a turn waits for the turn before it on the same conversation. */
  waitMs?: number;
}

const LEASE_MS = 30_000;
const WAIT_MS = 5 * 60_000;
const FIRST_POLL_MS = 20;
const MAX_POLL_MS = 500;

/** One turn's hold on a conversation: nobody else's turn runs on it until commit or abandon. */
export interface HeldConversation {
  /** The conversation as the turn found it. */
  readonly conversation: Conversation;
  /** Made for this turn (no conversationId was sent). */
  readonly isNew: boolean;
  /** Saves the turn's result and lets the next turn in; false (logged) when the write was refused or failed. */
  commit(next: Pick<Conversation, 'model' | 'system' | 'messages'>): Promise<boolean>;
  /** Lets the next turn in without saving (a failed or aborted turn); a new conversation goes away again. */
  abandon(): Promise<void>;
}

export function conversationNotFound(id: string, param: string): GatewayError {
  return new GatewayError('not_found', `Conversation with id '${id}' not found.`, { param, publicCode: null });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Turns on one conversation run one after the other, never interleaved: each
 * reads the history the one before it saved.
 *
 * Two layers. Within an instance, a promise chain per conversation queues the
 * turns (no polling, first come first served). Across instances, the turn also
 * takes the conversation's lease in the store, an atomic conditional write (a
 * conditional UPDATE in the database, a Lua script in Redis), renewed while the
 * turn runs and waited for with backoff when another instance holds it. The
 * lease is taken before the upstream call, not checked after it: a stream's
 * reply reaches the client as it is generated, so a conflict found at save time
 * (plain optimistic concurrency) would come after the client already has an
 * answer built on a stale history. The version check on save stays as a fence
 * for a holder whose lease ran out while another turn took over.
 */
export class ConversationLocks {
  private readonly tails = new Map<string, Promise<void>>();
  private readonly leaseMs: number;
  private readonly waitMs: number;

  constructor(
    readonly store: ConversationStore,
    private readonly opts: ConversationLocksOptions,
  ) {
    this.leaseMs = opts.leaseMs ?? LEASE_MS;
    this.waitMs = opts.waitMs ?? WAIT_MS;
  }

  get ttlMs(): number {
    return this.opts.ttlMs;
  }

  /** Waits for the key's conversation to be free and holds it; 404 when the key has no such live conversation. */
  async open(id: string, keyId: string, clientGone: () => boolean): Promise<HeldConversation> {
    const unlock = await this.queue(`${keyId}\u0000${id}`);
    const owner = randomUUID();
    try {
      const deadline = this.opts.now() + this.waitMs;
      let delay = FIRST_POLL_MS;
      for (;;) {
        const now = this.opts.now();
        const out = await this.store.acquire(id, keyId, { owner, until: now + this.leaseMs }, now + this.opts.ttlMs, now);
        if (out === 'taken') break;
        if (out === 'missing') throw conversationNotFound(id, 'conversationId');
        if (clientGone()) throw new GatewayError('invalid_request_error', 'The client closed the request.', { status: 499, publicCode: 'client_closed' });
        if (now >= deadline) {
          throw new GatewayError('invalid_request_error', `Conversation '${id}' is busy with another turn; try again when it has finished.`, {
            status: 409,
            param: 'conversationId',
            publicCode: 'conversation_busy',
          });
        }
        await sleep(delay);
        delay = Math.min(delay * 2, MAX_POLL_MS);
      }
      const conversation = await this.store.find(id, keyId, this.opts.now());
      if (!conversation) {
        await this.store.release(id, owner);
        throw conversationNotFound(id, 'conversationId');
      }
      return this.hold(conversation, owner, false, unlock);
    } catch (err) {
      unlock();
      throw err;
    }
  }

  /** A new conversation of the key, held for its first turn. */
  async start(init: Pick<Conversation, 'id' | 'keyId' | 'model' | 'system'>): Promise<HeldConversation> {
    const unlock = await this.queue(`${init.keyId}\u0000${init.id}`);
    const owner = randomUUID();
    const now = this.opts.now();
    const conversation: Conversation = { ...init, messages: [], version: 0, createdAt: now, updatedAt: now, expiresAt: now + this.opts.ttlMs };
    try {
      await this.store.create(conversation, { owner, until: now + this.leaseMs });
    } catch (err) {
      unlock();
      throw err;
    }
    return this.hold(conversation, owner, true, unlock);
  }

  /** Waits for the turns queued before on this instance; returns the release. */
  private async queue(key: string): Promise<() => void> {
    const before = this.tails.get(key);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = before ? before.then(() => mine) : mine;
    this.tails.set(key, tail);
    if (before) await before;
    return () => {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
  }

  private hold(conversation: Conversation, owner: string, isNew: boolean, unlock: () => void): HeldConversation {
    const store = this.store;
    const log = this.opts.log;
    const id = conversation.id;
    // Renewed at a third of its length: two renewals can fail before it runs out.
    const heartbeat = setInterval(() => {
      store.renew(id, { owner, until: this.opts.now() + this.leaseMs }).then(
        (held) => {
          if (!held) log.warn({ conversationId: id }, 'lost the lease of a conversation during a turn; its reply may not be saved');
        },
        (err: unknown) => log.warn({ err: { message: (err as Error).message }, conversationId: id }, 'could not renew the lease of a conversation'),
      );
    }, Math.max(1, Math.floor(this.leaseMs / 3)));
    heartbeat.unref();
    let done = false;
    const finish = (): boolean => {
      if (done) return false;
      done = true;
      clearInterval(heartbeat);
      return true;
    };
    return {
      conversation,
      isNew,
      commit: async (next) => {
        if (!finish()) return false;
        const now = this.opts.now();
        try {
          const saved = await store.save({ ...conversation, ...next, updatedAt: now, expiresAt: now + this.opts.ttlMs }, owner);
          if (!saved) log.warn({ conversationId: id }, 'a turn was not saved: the conversation was deleted, expired or taken over meanwhile');
          return saved;
        } catch (err) {
          log.error({ err: { message: (err as Error).message }, conversationId: id }, 'could not save a conversation turn');
          await store.release(id, owner).catch(() => undefined);
          return false;
        } finally {
          unlock();
        }
      },
      abandon: async () => {
        if (!finish()) return;
        try {
          await (isNew ? store.discard(id, owner) : store.release(id, owner));
        } catch (err) {
          // The lease runs out by itself.
          log.warn({ err: { message: (err as Error).message }, conversationId: id }, 'could not free a conversation after a failed turn');
        } finally {
          unlock();
        }
      },
    };
  }
}
