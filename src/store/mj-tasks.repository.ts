import type { Store } from './db.ts';
import type { MjTaskRow } from './tables.ts';

export type MjTaskPatch = Partial<Omit<MjTaskRow, 'id' | 'key_id' | 'upstream' | 'upstream_task_id' | 'created_at'>>;

/**
 * Midjourney tasks: the gateway's id mapped to the upstream's, owned by one key. The
 * poller's work is shared through leases: a task is claimed by one instance until a
 * deadline (a crashed instance's lease runs out and the task is taken again); on
 * PostgreSQL the claim skips rows another instance has locked.
 */
export class MjTasksRepository {
  constructor(private readonly store: Store) {}

  async insert(row: MjTaskRow): Promise<void> {
    await this.store.db.insertInto('mj_tasks').values(row).execute();
  }

  /** The key's task, or undefined (another key's task does not exist for this one). */
  findOwned(id: string, keyId: string): Promise<MjTaskRow | undefined> {
    return this.store.db.selectFrom('mj_tasks').selectAll().where('id', '=', id).where('key_id', '=', keyId).executeTakeFirst();
  }

  /** The key's tasks among `ids`, in the order asked. */
  async findManyOwned(ids: readonly string[], keyId: string): Promise<MjTaskRow[]> {
    if (ids.length === 0) return [];
    const rows = await this.store.db.selectFrom('mj_tasks').selectAll().where('id', 'in', [...ids]).where('key_id', '=', keyId).execute();
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  /** The key's task the upstream knows by this id (an upstream answering a submit with a task it already has). */
  findByUpstreamId(keyId: string, upstream: string, upstreamTaskId: string): Promise<MjTaskRow | undefined> {
    return this.store.db
      .selectFrom('mj_tasks')
      .selectAll()
      .where('key_id', '=', keyId)
      .where('upstream', '=', upstream)
      .where('upstream_task_id', '=', upstreamTaskId)
      .executeTakeFirst();
  }

  /** One more charge on an existing task (a modal continuing it): it runs again, so it is polled again and owes no refund now. */
  async addCharge(id: string, requestId: string, patch: MjTaskPatch): Promise<MjTaskRow | undefined> {
    return this.store.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('mj_tasks').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) return undefined;
      const charges = parseCharges(row.charges_json);
      if (!charges.includes(requestId)) charges.push(requestId);
      const next = { ...patch, charges_json: JSON.stringify(charges), active: 1, refund_due: 0 };
      await trx.updateTable('mj_tasks').set(next).where('id', '=', id).execute();
      return { ...row, ...next };
    });
  }

  /**
   * Claims up to `limit` tasks the poller has work on and whose time has come, unless
   * another live instance holds them: each task is polled by one instance at a time.
   */
  async claim(owner: string, now: number, leaseMs: number, limit: number): Promise<MjTaskRow[]> {
    const pg = !this.store.sqlite;
    return this.store.db.transaction().execute(async (trx) => {
      let pick = trx
        .selectFrom('mj_tasks')
        .select('id')
        .where('active', '=', 1)
        .where('next_poll_at', '<=', now)
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
        .orderBy('next_poll_at')
        .limit(limit);
      if (pg) pick = pick.forUpdate().skipLocked();
      const picked = (await pick.execute()).map((r) => r.id);
      if (picked.length === 0) return [];
      return trx
        .updateTable('mj_tasks')
        .set({ lease_owner: owner, lease_until: now + leaseMs })
        .where('id', 'in', picked)
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
        .returningAll()
        .execute();
    });
  }

  /** Saves a poll's outcome and hands the lease back; false when the lease had passed to another instance. */
  async savePolled(id: string, owner: string, patch: MjTaskPatch): Promise<boolean> {
    const res = await this.store.db
      .updateTable('mj_tasks')
      .set({ ...patch, lease_owner: null, lease_until: null })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  /** The refund of a failed task is made: nothing left to do on it, unless a new charge came meanwhile. */
  async refunded(id: string, charges: readonly string[]): Promise<void> {
    await this.store.db
      .updateTable('mj_tasks')
      .set({ refund_due: 0, active: 0 })
      .where('id', '=', id)
      .where('charges_json', '=', JSON.stringify(charges))
      .where('status', 'in', [...FAILED_STATUSES])
      .execute();
  }
}

/** Upstream statuses after which a task changes no more. */
export const FINAL_STATUSES = ['SUCCESS', 'FAILURE', 'CANCEL'] as const;
/** Final statuses whose charges are refunded. */
export const FAILED_STATUSES = ['FAILURE', 'CANCEL'] as const;

export function parseCharges(json: string): string[] {
  try {
    const v = JSON.parse(json) as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}
