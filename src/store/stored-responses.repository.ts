import type { Store } from './db.ts';
import type { StoredResponseRow } from './tables.ts';

/** Responses kept for `GET /v1/responses/{id}` and `previous_response_id`; every read is scoped to the key that made them. */
export class StoredResponsesRepository {
  constructor(private readonly store: Store) {}

  async insert(row: StoredResponseRow): Promise<void> {
    await this.store.db.insertInto('stored_responses').values(row).onConflict((oc) => oc.column('id').doNothing()).execute();
  }

  find(id: string, keyId: string): Promise<StoredResponseRow | undefined> {
    return this.store.db.selectFrom('stored_responses').selectAll().where('id', '=', id).where('key_id', '=', keyId).executeTakeFirst();
  }

  /** True when a row was deleted. */
  async delete(id: string, keyId: string): Promise<boolean> {
    const res = await this.store.db.deleteFrom('stored_responses').where('id', '=', id).where('key_id', '=', keyId).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }
}
