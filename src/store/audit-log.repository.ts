import type { Insertable } from 'kysely';
import type { Store } from './db.ts';
import type { AuditLogRow, AuditLogTable } from './tables.ts';

export class AuditLogRepository {
  constructor(private readonly store: Store) {}

  async insert(row: Insertable<AuditLogTable>): Promise<void> {
    await this.store.db.insertInto('audit_log').values(row).execute();
  }

  /** Newest first, keyset-paginated on (at, id). */
  list(opts: { limit: number; before?: { at: number; id: string }; targetType?: string; targetId?: string; start?: number; end?: number }): Promise<AuditLogRow[]> {
    let q = this.store.db.selectFrom('audit_log').selectAll();
    if (opts.targetType) q = q.where('target_type', '=', opts.targetType);
    if (opts.targetId) q = q.where('target_id', '=', opts.targetId);
    if (opts.start !== undefined) q = q.where('at', '>=', opts.start);
    if (opts.end !== undefined) q = q.where('at', '<', opts.end);
    const b = opts.before;
    if (b) q = q.where((eb) => eb.or([eb('at', '<', b.at), eb.and([eb('at', '=', b.at), eb('id', '<', b.id)])]));
    return q.orderBy('at', 'desc').orderBy('id', 'desc').limit(opts.limit).execute();
  }
}
