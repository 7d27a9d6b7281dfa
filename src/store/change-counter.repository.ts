import { sql } from 'kysely';
import type { Store } from './db.ts';

/** The database's change counter: bumped by every change to keys or upstreams, polled by every instance. */
export class ChangeCounterRepository {
  constructor(private readonly store: Store) {}

  async bump(): Promise<void> {
    await this.store.db
      .updateTable('change_counter')
      .set({ value: sql`value + 1` })
      .where('id', '=', 1)
      .execute();
  }

  async read(): Promise<number> {
    const row = await this.store.db.selectFrom('change_counter').select('value').where('id', '=', 1).executeTakeFirst();
    return Number(row?.value ?? 0);
  }
}
