import type { Store } from './db.ts';

export class SettingsRepository {
  constructor(private readonly store: Store) {}

  async get(key: string): Promise<string | undefined> {
    const row = await this.store.db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
    return row?.value;
  }

  /** Sets the value only if the key has none; returns whether it was set (first writer wins). */
  async setIfAbsent(key: string, value: string): Promise<boolean> {
    const res = await this.store.db
      .insertInto('settings')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doNothing())
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  async set(key: string, value: string): Promise<void> {
    await this.store.db
      .insertInto('settings')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
      .execute();
  }
}
