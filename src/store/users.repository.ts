import { sql } from 'kysely';
import type { Store } from './db.ts';
import type { UserRow, UsersTable } from './tables.ts';
import type { Insertable, Updateable } from 'kysely';

export class UsersRepository {
  constructor(private readonly store: Store) {}

  async insert(row: Insertable<UsersTable>): Promise<UserRow> {
    await this.store.db.insertInto('users').values(row).execute();
    const created = await this.findById(row.id);
    if (!created) throw new Error('inserted user not found');
    return created;
  }

  findById(id: string): Promise<UserRow | undefined> {
    return this.store.db.selectFrom('users').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
  }

  findByIds(ids: readonly string[]): Promise<UserRow[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.store.db.selectFrom('users').selectAll().where('id', 'in', ids).execute();
  }

  findByEmail(email: string): Promise<UserRow | undefined> {
    return this.store.db.selectFrom('users').selectAll().where('email', '=', email).where('deleted_at', 'is', null).executeTakeFirst();
  }

  /** Newest first, keyset-paginated on (created_at, id); `search` matches email or display name. */
  list(opts: { limit: number; after?: { createdAt: number; id: string }; search?: string; group?: string; status?: string }): Promise<UserRow[]> {
    let q = this.store.db.selectFrom('users').selectAll().where('deleted_at', 'is', null);
    if (opts.search) {
      const like = `%${opts.search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      q = q.where((eb) => eb.or([eb(sql`lower(email)`, 'like', sql`${like} escape '\\'`), eb(sql`lower(display_name)`, 'like', sql`${like} escape '\\'`)]));
    }
    if (opts.group) q = q.where('group_name', '=', opts.group);
    if (opts.status) q = q.where('status', '=', opts.status);
    const after = opts.after;
    if (after) q = q.where((eb) => eb.or([eb('created_at', '<', after.createdAt), eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)])]));
    return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(opts.limit).execute();
  }

  async update(id: string, patch: Updateable<UsersTable>): Promise<UserRow | undefined> {
    await this.store.db.updateTable('users').set(patch).where('id', '=', id).where('deleted_at', 'is', null).execute();
    return this.findById(id);
  }

  /** Soft delete: the row stays for the ledger and the usage log; the email is freed. */
  async softDelete(id: string, now: number): Promise<boolean> {
    const res = await this.store.db
      .updateTable('users')
      // The address is freed; what is kept of it fits the column (320) whatever its length.
      .set({ deleted_at: now, updated_at: now, status: 'disabled', email: sql`substr(${`deleted:${id}:`} || email, 1, 320)`, password_hash: null })
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  /** Balance moves are increments, so concurrent instances never overwrite each other. */
  async addCredit(id: string, usd: number, now: number): Promise<void> {
    await this.store.db.updateTable('users').set({ credited_usd: sql`credited_usd + ${usd}`, updated_at: now }).where('id', '=', id).execute();
  }

  async addSpend(id: string, usd: number): Promise<void> {
    await this.store.db.updateTable('users').set({ spent_usd: sql`spent_usd + ${usd}` }).where('id', '=', id).execute();
  }
}
