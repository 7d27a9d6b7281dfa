import type { Insertable } from 'kysely';
import type { Store } from './db.ts';
import type { RedemptionCodeRow, RedemptionCodesTable } from './tables.ts';

export class RedemptionCodesRepository {
  constructor(private readonly store: Store) {}

  async insertMany(rows: Insertable<RedemptionCodesTable>[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 200) await this.store.db.insertInto('redemption_codes').values(rows.slice(i, i + 200)).execute();
  }

  findById(id: string): Promise<RedemptionCodeRow | undefined> {
    return this.store.db.selectFrom('redemption_codes').selectAll().where('id', '=', id).executeTakeFirst();
  }

  findByHash(hash: string): Promise<RedemptionCodeRow | undefined> {
    return this.store.db.selectFrom('redemption_codes').selectAll().where('code_hash', '=', hash).executeTakeFirst();
  }

  list(opts: { limit: number; after?: { createdAt: number; id: string }; name?: string; status?: 'unused' | 'redeemed' }): Promise<RedemptionCodeRow[]> {
    let q = this.store.db.selectFrom('redemption_codes').selectAll();
    if (opts.name) q = q.where('name', '=', opts.name);
    if (opts.status === 'unused') q = q.where('redeemed_at', 'is', null);
    if (opts.status === 'redeemed') q = q.where('redeemed_at', 'is not', null);
    const a = opts.after;
    if (a) q = q.where((eb) => eb.or([eb('created_at', '<', a.createdAt), eb.and([eb('created_at', '=', a.createdAt), eb('id', '<', a.id)])]));
    return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(opts.limit).execute();
  }

  /**
   * Marks the code redeemed if nobody has yet: one conditional UPDATE, so of any number of
   * concurrent attempts (on any instance) exactly one sees a row changed.
   */
  async claim(id: string, userId: string, now: number): Promise<boolean> {
    const res = await this.store.db
      .updateTable('redemption_codes')
      .set({ redeemed_at: now, redeemed_by: userId })
      .where('id', '=', id)
      .where('redeemed_at', 'is', null)
      .where('disabled', '=', 0)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async disable(id: string): Promise<boolean> {
    const res = await this.store.db.updateTable('redemption_codes').set({ disabled: 1 }).where('id', '=', id).where('redeemed_at', 'is', null).executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }
}
