import type { Insertable } from 'kysely';
import type { Store } from './db.ts';
import type { InviteRow, InvitesTable } from './tables.ts';

export class InvitesRepository {
  constructor(private readonly store: Store) {}

  async insertMany(rows: Insertable<InvitesTable>[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 200) await this.store.db.insertInto('invites').values(rows.slice(i, i + 200)).execute();
  }

  findByHash(hash: string): Promise<InviteRow | undefined> {
    return this.store.db.selectFrom('invites').selectAll().where('code_hash', '=', hash).executeTakeFirst();
  }

  list(limit: number, after?: { createdAt: number; id: string }): Promise<InviteRow[]> {
    let q = this.store.db.selectFrom('invites').selectAll();
    if (after) q = q.where((eb) => eb.or([eb('created_at', '<', after.createdAt), eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)])]));
    return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  }

  /** Uses the invite if it is still unused and unexpired; exactly one concurrent caller wins. */
  async use(id: string, userId: string, now: number): Promise<boolean> {
    const res = await this.store.db
      .updateTable('invites')
      .set({ used_at: now, used_by: userId })
      .where('id', '=', id)
      .where('used_at', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async delete(id: string): Promise<boolean> {
    const res = await this.store.db.deleteFrom('invites').where('id', '=', id).where('used_at', 'is', null).executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }
}
