/**
 * Server-kept chat conversations (POST /v1/chat/conversation): the contract both
 * backends implement, the database (conversations.repository.ts) and Redis
 * (redis-conversation-store.ts). Times are Unix milliseconds.
 */

/** One message of the kept history; `tokens` is its content counted with the gateway's tokenizer. */
export interface ConversationMessage {
  role: 'user' | 'assistant';
  content: string;
  tokens: number;
}

export interface Conversation {
  id: string;
  keyId: string;
  model: string;
  system: string | null;
  /** Oldest first, whole turns (a user message, then its reply). */
  messages: ConversationMessage[];
  /** Bumped by every saved turn: a write names the version it read (a fence against a holder whose lease ran out). */
  version: number;
  createdAt: number;
  updatedAt: number;
  /** The conversation is gone after this: `ttl` after its last use. */
  expiresAt: number;
}

/** Who holds a conversation for one turn, and until when (renewed while the turn runs). */
export interface ConversationLease {
  owner: string;
  until: number;
}

export type AcquireOutcome = 'taken' | 'busy' | 'missing';

export interface ConversationStore {
  readonly backend: 'database' | 'redis';
  /** A live (unexpired) conversation of the key; another key's is not found. */
  find(id: string, keyId: string, now: number): Promise<Conversation | undefined>;
  /** The key's live conversations, newest first; `after` is the id the previous page ended with. */
  list(keyId: string, page: { limit: number; after?: string }, now: number): Promise<{ data: Conversation[]; hasMore: boolean }>;
  /** Stores a new conversation (version 0), already leased to `lease.owner`. */
  create(conversation: Conversation, lease: ConversationLease): Promise<void>;
  /**
   * Takes the lease of a live conversation of the key unless someone else holds
   * it, and moves its expiry to `expiresAt` (a turn is a use). One atomic step.
   */
  acquire(id: string, keyId: string, lease: ConversationLease, expiresAt: number, now: number): Promise<AcquireOutcome>;
  /** Extends a lease still held by `lease.owner`; false when it was lost. */
  renew(id: string, lease: ConversationLease): Promise<boolean>;
  /**
   * Writes a turn's result when the stored version is still `conversation.version`
   * (then stored as version + 1) and frees the lease; false when the version moved
   * or the conversation is gone.
   */
  save(conversation: Conversation, owner: string): Promise<boolean>;
  /** Frees the lease if `owner` still holds it. */
  release(id: string, owner: string): Promise<void>;
  /** True when the key's conversation was removed. */
  delete(id: string, keyId: string): Promise<boolean>;
  /** Removes a new conversation whose first turn never completed (still version 0, still leased to `owner`). */
  discard(id: string, owner: string): Promise<void>;
  /** Removes expired conversations (the database's; Redis expires its own). */
  sweep(now: number): Promise<void>;
}
