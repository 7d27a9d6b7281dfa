import type { Store } from './db.ts';
import type { ConversationRow } from './tables.ts';
import type { AcquireOutcome, Conversation, ConversationLease, ConversationMessage, ConversationStore } from './conversation-store.ts';

function toConversation(row: ConversationRow): Conversation {
  return {
    id: row.id,
    keyId: row.key_id,
    model: row.model,
    system: row.system,
    messages: JSON.parse(row.messages_json) as ConversationMessage[],
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    expiresAt: row.expires_at,
  };
}

/**
 * Conversations in the `conversations` table. Every step that decides who may
 * write is one conditional UPDATE, atomic on SQLite and PostgreSQL alike, so
 * several instances on one PostgreSQL agree on the lease holder.
 */
export class ConversationsRepository implements ConversationStore {
  readonly backend = 'database' as const;

  constructor(private readonly store: Store) {}

  async find(id: string, keyId: string, now: number): Promise<Conversation | undefined> {
    const row = await this.store.db.selectFrom('conversations').selectAll().where('id', '=', id).where('key_id', '=', keyId).where('expires_at', '>', now).executeTakeFirst();
    return row ? toConversation(row) : undefined;
  }

  async list(keyId: string, page: { limit: number; after?: string }, now: number): Promise<{ data: Conversation[]; hasMore: boolean }> {
    let q = this.store.db.selectFrom('conversations').selectAll().where('key_id', '=', keyId).where('expires_at', '>', now);
    if (page.after) {
      const cursor = await this.store.db.selectFrom('conversations').select(['created_at', 'id']).where('id', '=', page.after).where('key_id', '=', keyId).executeTakeFirst();
      if (cursor) {
        q = q.where((eb) => eb.or([eb('created_at', '<', cursor.created_at), eb.and([eb('created_at', '=', cursor.created_at), eb('id', '<', cursor.id)])]));
      }
    }
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit + 1).execute();
    return { data: rows.slice(0, page.limit).map(toConversation), hasMore: rows.length > page.limit };
  }

  async create(c: Conversation, lease: ConversationLease): Promise<void> {
    await this.store.db
      .insertInto('conversations')
      .values({
        id: c.id,
        key_id: c.keyId,
        model: c.model,
        system: c.system,
        messages_json: JSON.stringify(c.messages),
        version: c.version,
        created_at: c.createdAt,
        updated_at: c.updatedAt,
        expires_at: c.expiresAt,
        lease_owner: lease.owner,
        lease_until: lease.until,
      })
      .execute();
  }

  async acquire(id: string, keyId: string, lease: ConversationLease, expiresAt: number, now: number): Promise<AcquireOutcome> {
    const res = await this.store.db
      .updateTable('conversations')
      .set({ lease_owner: lease.owner, lease_until: lease.until, expires_at: expiresAt })
      .where('id', '=', id)
      .where('key_id', '=', keyId)
      .where('expires_at', '>', now)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now), eb('lease_owner', '=', lease.owner)]))
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) > 0) return 'taken';
    return (await this.find(id, keyId, now)) ? 'busy' : 'missing';
  }

  async renew(id: string, lease: ConversationLease): Promise<boolean> {
    const res = await this.store.db.updateTable('conversations').set({ lease_until: lease.until }).where('id', '=', id).where('lease_owner', '=', lease.owner).executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async save(c: Conversation, owner: string): Promise<boolean> {
    const res = await this.store.db
      .updateTable('conversations')
      .set({
        model: c.model,
        system: c.system,
        messages_json: JSON.stringify(c.messages),
        version: c.version + 1,
        updated_at: c.updatedAt,
        expires_at: c.expiresAt,
        lease_owner: null,
        lease_until: null,
      })
      .where('id', '=', c.id)
      .where('version', '=', c.version)
      // A lease that ran out and was taken by another turn is that turn's now.
      .where((eb) => eb.or([eb('lease_owner', '=', owner), eb('lease_owner', 'is', null)]))
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) > 0) return true;
    await this.release(c.id, owner);
    return false;
  }

  async release(id: string, owner: string): Promise<void> {
    await this.store.db.updateTable('conversations').set({ lease_owner: null, lease_until: null }).where('id', '=', id).where('lease_owner', '=', owner).execute();
  }

  async delete(id: string, keyId: string): Promise<boolean> {
    const res = await this.store.db.deleteFrom('conversations').where('id', '=', id).where('key_id', '=', keyId).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  async discard(id: string, owner: string): Promise<void> {
    await this.store.db.deleteFrom('conversations').where('id', '=', id).where('version', '=', 0).where('lease_owner', '=', owner).execute();
  }

  async sweep(now: number): Promise<void> {
    // A conversation in the middle of a turn is left to that turn.
    await this.store.db
      .deleteFrom('conversations')
      .where('expires_at', '<=', now)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now)]))
      .execute();
  }
}
