import { sql } from 'kysely';
import type { Store } from './db.ts';
import type { ApiKeyRow, ApiKeyUpdate, NewApiKeyRow } from './tables.ts';

export class ApiKeysRepository {
  constructor(private readonly store: Store) {}

  async insert(row: NewApiKeyRow): Promise<ApiKeyRow> {
    await this.store.db.insertInto('api_keys').values(row).execute();
    const created = await this.findById(row.id);
    if (!created) throw new Error('inserted key not found');
    return created;
  }

  findById(id: string): Promise<ApiKeyRow | undefined> {
    return this.store.db.selectFrom('api_keys').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
  }

  /** Includes deleted keys, so the caller can tell "revoked" from "unknown". */
  findByHash(hash: string): Promise<ApiKeyRow | undefined> {
    return this.store.db.selectFrom('api_keys').selectAll().where('key_hash', '=', hash).executeTakeFirst();
  }

  findByHashes(hashes: string[]): Promise<ApiKeyRow[]> {
    if (hashes.length === 0) return Promise.resolve([]);
    return this.store.db.selectFrom('api_keys').selectAll().where('key_hash', 'in', hashes).execute();
  }

  list(): Promise<ApiKeyRow[]> {
    return this.store.db.selectFrom('api_keys').selectAll().where('deleted_at', 'is', null).orderBy('created_at', 'asc').orderBy('id').execute();
  }

  listForUser(userId: string): Promise<ApiKeyRow[]> {
    return this.store.db.selectFrom('api_keys').selectAll().where('user_id', '=', userId).where('deleted_at', 'is', null).orderBy('created_at', 'asc').orderBy('id').execute();
  }

  /** Whether any live key reserves tokens or dollars (tpm, a quota, a user balance). */
  async anyCounting(): Promise<boolean> {
    const row = await this.store.db
      .selectFrom('api_keys')
      .select('id')
      .where('deleted_at', 'is', null)
      .where((eb) => eb.or([eb('tpm', 'is not', null), eb('quota_tokens', 'is not', null), eb('quota_usd', 'is not', null), eb('user_id', 'is not', null)]))
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  async update(id: string, patch: ApiKeyUpdate): Promise<ApiKeyRow | undefined> {
    await this.store.db.updateTable('api_keys').set(patch).where('id', '=', id).where('deleted_at', 'is', null).execute();
    return this.findById(id);
  }

  async softDelete(id: string, now: number): Promise<boolean> {
    const res = await this.store.db
      .updateTable('api_keys')
      .set({ deleted_at: now, updated_at: now })
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  /** Takes a charge back (a refund); decrements like addUsage, and last_used_at stays as it is. */
  async subtractUsage(id: string, tokens: number, usd: number): Promise<void> {
    await this.store.db
      .updateTable('api_keys')
      .set({ used_tokens: sql`used_tokens - ${tokens}`, used_usd: sql`used_usd - ${usd}` })
      .where('id', '=', id)
      .execute();
  }

  /** Adds spent tokens and dollars; increments, so concurrent gateways never overwrite each other. */
  async addUsage(id: string, tokens: number, usd: number, at: number): Promise<void> {
    await this.store.db
      .updateTable('api_keys')
      .set({
        used_tokens: sql`used_tokens + ${tokens}`,
        used_usd: sql`used_usd + ${usd}`,
        last_used_at: at,
      })
      .where('id', '=', id)
      .execute();
  }
}
