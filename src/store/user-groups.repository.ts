import type { Store } from './db.ts';
import type { UserGroupRow } from './tables.ts';

export class UserGroupsRepository {
  constructor(private readonly store: Store) {}

  list(): Promise<UserGroupRow[]> {
    return this.store.db.selectFrom('user_groups').selectAll().orderBy('name').execute();
  }

  async upsert(row: UserGroupRow): Promise<void> {
    await this.store.db
      .insertInto('user_groups')
      .values(row)
      .onConflict((oc) => oc.column('name').doUpdateSet({ price_factor: row.price_factor, models: row.models, description: row.description, updated_at: row.updated_at }))
      .execute();
  }

  async delete(name: string): Promise<boolean> {
    const res = await this.store.db.deleteFrom('user_groups').where('name', '=', name).executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }
}
