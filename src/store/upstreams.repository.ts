import type { Store } from './db.ts';
import type { UpstreamRow } from './tables.ts';

/** Upstreams added through the admin API, and the admin's enable/disable switch for YAML ones. */
export class UpstreamsRepository {
  constructor(private readonly store: Store) {}

  list(): Promise<UpstreamRow[]> {
    return this.store.db.selectFrom('upstreams').selectAll().orderBy('created_at').orderBy('name').execute();
  }

  find(name: string): Promise<UpstreamRow | undefined> {
    return this.store.db.selectFrom('upstreams').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async insert(row: UpstreamRow): Promise<boolean> {
    const res = await this.store.db
      .insertInto('upstreams')
      .values(row)
      .onConflict((oc) => oc.column('name').doNothing())
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  /** Insert or replace (a YAML upstream's switch row is created on first use). */
  async upsert(row: UpstreamRow): Promise<void> {
    const { name, ...rest } = row;
    await this.store.db
      .insertInto('upstreams')
      .values(row)
      .onConflict((oc) => oc.column('name').doUpdateSet({ ...rest, created_at: undefined }))
      .execute();
  }

  async delete(name: string): Promise<boolean> {
    const res = await this.store.db.deleteFrom('upstreams').where('name', '=', name).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }
}
