import { sql } from 'kysely';
import type { Store } from './db.ts';
import type { LedgerEntryRow } from './tables.ts';

export type LedgerKind = 'charge' | 'redemption' | 'adjustment' | 'refund' | 'signup';

const HOUR_MS = 3_600_000;

/**
 * The balance ledger: every credit is a row of its own; charges are one row per user and hour,
 * incremented as usage is written (so the ledger stays small at any request rate). The amounts of
 * a user's rows sum to the balance.
 */
export class LedgerRepository {
  constructor(private readonly store: Store) {}

  async add(entry: { entryKey: string; userId: string; kind: LedgerKind; amountUsd: number; ref?: string | null; note?: string | null; actor?: string | null; at: number }): Promise<void> {
    await this.store.db
      .insertInto('ledger_entries')
      .values({
        entry_key: entry.entryKey,
        user_id: entry.userId,
        kind: entry.kind,
        amount_usd: entry.amountUsd,
        requests: 0,
        ref: entry.ref ?? null,
        note: entry.note ?? null,
        actor: entry.actor ?? null,
        created_at: entry.at,
        updated_at: entry.at,
      })
      .execute();
  }

  /** Adds spend to the user's row for the hour `at` falls in (created on first use). */
  async addCharge(userId: string, usd: number, requests: number, at: number): Promise<void> {
    const hour = Math.floor(at / HOUR_MS) * HOUR_MS;
    await this.store.db
      .insertInto('ledger_entries')
      .values({ entry_key: `charge:${userId}:${hour}`, user_id: userId, kind: 'charge', amount_usd: -usd, requests, ref: null, note: null, actor: null, created_at: hour, updated_at: at })
      .onConflict((oc) =>
        oc.column('entry_key').doUpdateSet({
          amount_usd: sql`ledger_entries.amount_usd - ${usd}`,
          requests: sql`ledger_entries.requests + ${requests}`,
          updated_at: at,
        }),
      )
      .execute();
  }

  /** Newest first, keyset-paginated on (created_at, entry_key). */
  list(userId: string, opts: { limit: number; before?: { at: number; key: string } }): Promise<LedgerEntryRow[]> {
    let q = this.store.db.selectFrom('ledger_entries').selectAll().where('user_id', '=', userId);
    const b = opts.before;
    if (b) q = q.where((eb) => eb.or([eb('created_at', '<', b.at), eb.and([eb('created_at', '=', b.at), eb('entry_key', '<', b.key)])]));
    return q.orderBy('created_at', 'desc').orderBy('entry_key', 'desc').limit(opts.limit).execute();
  }

  async sum(userId: string): Promise<number> {
    const row = await this.store.db
      .selectFrom('ledger_entries')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('amount_usd'), sql<number>`0`).as('total'))
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return Number(row?.total ?? 0);
  }
}
