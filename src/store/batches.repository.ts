import { sql } from 'kysely';
import { prepared, sqliteTransaction, type Store } from './db.ts';
import type { BatchLineRow, BatchRow } from './tables.ts';

export type NewBatchRow = Omit<
  BatchRow,
  'request_total' | 'request_completed' | 'request_failed' | 'input_tokens' | 'cached_tokens' | 'output_tokens' | 'reasoning_tokens'
>;

/** A line's result, as finishLine records it. */
export interface LineResult {
  lineNo: number;
  outcome: 'done' | 'error';
  resultJson: string;
  usage: { input: number; cached: number; output: number; reasoning: number };
}

/** Statuses of a batch that still has work to do. */
export const ACTIVE_BATCH_STATUSES = ['validating', 'in_progress', 'finalizing', 'cancelling'] as const;

// SQLite forms of claimLines' and finishLines' statements (PostgreSQL goes through Kysely, with row locks).
const IN_PROGRESS = `EXISTS (SELECT 1 FROM batches WHERE batches.id = ? AND batches.status = 'in_progress')`;
const CLAIM_STALE_SQL = `SELECT line_no FROM batch_lines WHERE batch_id = ? AND status = 'running' AND claimed_until < ? AND ${IN_PROGRESS} LIMIT ?`;
const CLAIM_PENDING_SQL = `SELECT line_no FROM batch_lines WHERE batch_id = ? AND line_no >= ? AND status = 'pending' AND ${IN_PROGRESS} ORDER BY line_no LIMIT ?`;
const CLAIM_UPDATE_SQL = `UPDATE batch_lines SET status = 'running', claimed_by = ?, claimed_until = ?, attempts = attempts + 1
  WHERE batch_id = ? AND line_no IN (SELECT value FROM json_each(?)) RETURNING *`;
// claimed_by stays: which instance ran the line.
const FINISH_LINE_SQL = `UPDATE batch_lines SET status = ?, result_json = ?, claimed_until = NULL
  WHERE batch_id = ? AND line_no = ? AND status = 'running' AND claimed_by = ?`;
const ADD_COUNTS_SQL = `UPDATE batches SET request_completed = request_completed + ?, request_failed = request_failed + ?,
  input_tokens = input_tokens + ?, cached_tokens = cached_tokens + ?, output_tokens = output_tokens + ?, reasoning_tokens = reasoning_tokens + ?
  WHERE id = ?`;

interface Counts {
  completed: number;
  failed: number;
  input: number;
  cached: number;
  output: number;
  reasoning: number;
}

const newCounts = (): Counts => ({ completed: 0, failed: 0, input: 0, cached: 0, output: 0, reasoning: 0 });

/** Adds a line that was recorded to the batch's counters; returns `recorded`. */
function count(sum: Counts, r: LineResult, recorded: boolean): boolean {
  if (!recorded) return false;
  if (r.outcome === 'done') sum.completed++;
  else sum.failed++;
  sum.input += r.usage.input;
  sum.cached += r.usage.cached;
  sum.output += r.usage.output;
  sum.reasoning += r.usage.reasoning;
  return true;
}

/**
 * Batches and their lines. Work is shared through claims: a line is claimed by one
 * instance until a deadline (a crashed instance's claims run out and are taken
 * again), a batch's validation and finalization by a lease on its row. On
 * PostgreSQL claims skip rows another instance has locked.
 */
export class BatchesRepository {
  constructor(private readonly store: Store) {}

  async insert(row: NewBatchRow): Promise<void> {
    await this.store.db.insertInto('batches').values(row).execute();
  }

  find(id: string, keyId: string): Promise<BatchRow | undefined> {
    return this.store.db.selectFrom('batches').selectAll().where('id', '=', id).where('key_id', '=', keyId).executeTakeFirst();
  }

  findAny(id: string): Promise<BatchRow | undefined> {
    return this.store.db.selectFrom('batches').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Newest first; `after` is the last id of the previous page. */
  async list(f: { keyId?: string; after?: string; limit: number }): Promise<{ rows: BatchRow[]; hasMore: boolean }> {
    let q = this.store.db.selectFrom('batches').selectAll();
    if (f.keyId !== undefined) q = q.where('key_id', '=', f.keyId);
    if (f.after) {
      const cursor = await this.store.db.selectFrom('batches').select(['created_at', 'id']).where('id', '=', f.after).executeTakeFirst();
      if (cursor) {
        q = q.where((eb) => eb.or([eb('created_at', '<', cursor.created_at), eb.and([eb('created_at', '=', cursor.created_at), eb('id', '<', cursor.id)])]));
      }
    }
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(f.limit + 1).execute();
    return { rows: rows.slice(0, f.limit), hasMore: rows.length > f.limit };
  }

  /** Batches with work to do (for the runner). */
  active(): Promise<BatchRow[]> {
    return this.store.db.selectFrom('batches').selectAll().where('status', 'in', [...ACTIVE_BATCH_STATUSES]).orderBy('created_at').execute();
  }

  /** Moves a batch from one status to another; false when it was not in `from` (another instance or a cancel got there first). */
  async transition(id: string, from: readonly string[], patch: Partial<BatchRow>): Promise<boolean> {
    const res = await this.store.db.updateTable('batches').set(patch).where('id', '=', id).where('status', 'in', [...from]).executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  /** Takes the batch's lease (validation, finalization) unless another live instance holds it. */
  async lease(id: string, owner: string, now: number, ms: number): Promise<boolean> {
    const res = await this.store.db
      .updateTable('batches')
      .set({ lease_owner: owner, lease_until: now + ms })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('lease_owner', 'is', null), eb('lease_owner', '=', owner), eb('lease_until', '<', now)]))
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async insertLines(rows: Array<Omit<BatchLineRow, 'attempts'>>): Promise<void> {
    // 10 columns a row: 500 rows stay below both databases' bound-parameter limits.
    for (let i = 0; i < rows.length; i += 500) {
      await this.store.db.insertInto('batch_lines').values(rows.slice(i, i + 500)).onConflict((oc) => oc.columns(['batch_id', 'line_no']).doNothing()).execute();
    }
  }

  async deleteLines(batchId: string): Promise<void> {
    await this.store.db.deleteFrom('batch_lines').where('batch_id', '=', batchId).execute();
  }

  /**
   * Claims up to `limit` lines to run: running ones whose claim ran out (their
   * instance died) first, then pending ones in input order from line `fromLine`
   * on, and only while the batch is in_progress (none once it is cancelling).
   * Each line is claimed by one instance at a time. A line that was pending
   * comes back with `attempts` 1, a retaken one with more.
   *
   * Two queries, not one with `status = 'pending' OR (running AND stale)` ordered
   * by line_no: that form walks the primary key from the batch's first line past
   * every finished one (O(lines done) per claim, ~6 ms at 45,000 done lines on
   * SQLite). Here stale claims are found through (batch_id, status) without an
   * ORDER BY (with one SQLite walks the primary key again), and pending lines by
   * a primary-key range from `fromLine`, which the runner keeps just past the
   * lines it has claimed: each claim reads about `limit` rows.
   */
  async claimLines(batchId: string, owner: string, now: number, ms: number, limit: number, fromLine = 0): Promise<BatchLineRow[]> {
    const sqlite = this.store.sqlite;
    if (sqlite) {
      // The same statements, prepared once (Kysely's compile and prepare per query were most of a claim's CPU).
      return sqliteTransaction(this.store, sqlite, () => {
        const picked = prepared(sqlite, CLAIM_STALE_SQL).pluck().all(batchId, now, batchId, limit) as number[];
        if (picked.length < limit) {
          for (const n of prepared(sqlite, CLAIM_PENDING_SQL).pluck().all(batchId, fromLine, batchId, limit - picked.length) as number[]) picked.push(n);
        }
        if (picked.length === 0) return [];
        return prepared(sqlite, CLAIM_UPDATE_SQL).all(owner, now + ms, batchId, JSON.stringify(picked)) as BatchLineRow[];
      });
    }
    return this.store.db.transaction().execute(async (trx) => {
      const inProgress = trx.selectFrom('batches').select('batches.id').where('batches.id', '=', batchId).where('batches.status', '=', 'in_progress');
      let stale = trx
        .selectFrom('batch_lines')
        .select('line_no')
        .where('batch_id', '=', batchId)
        .where('status', '=', 'running')
        .where('claimed_until', '<', now)
        .where((eb) => eb.exists(inProgress))
        .limit(limit);
      stale = stale.forUpdate().skipLocked();
      const picked = (await stale.execute()).map((r) => r.line_no);
      if (picked.length < limit) {
        let pending = trx
          .selectFrom('batch_lines')
          .select('line_no')
          .where('batch_id', '=', batchId)
          .where('line_no', '>=', fromLine)
          .where('status', '=', 'pending')
          .where((eb) => eb.exists(inProgress))
          .orderBy('line_no')
          .limit(limit - picked.length);
        pending = pending.forUpdate().skipLocked();
        for (const r of await pending.execute()) picked.push(r.line_no);
      }
      if (picked.length === 0) return [];
      return trx
        .updateTable('batch_lines')
        .set({ status: 'running', claimed_by: owner, claimed_until: now + ms, attempts: sql`attempts + 1` })
        .where('batch_id', '=', batchId)
        .where('line_no', 'in', picked)
        .returningAll()
        .execute();
    });
  }

  /** Keeps the claims of lines still running alive. */
  async extendClaims(batchId: string, owner: string, lineNos: number[], until: number): Promise<void> {
    if (lineNos.length === 0) return;
    await this.store.db.updateTable('batch_lines').set({ claimed_until: until }).where('batch_id', '=', batchId).where('claimed_by', '=', owner).where('line_no', 'in', lineNos).execute();
  }

  /**
   * Records a line's result and the batch's counters in one transaction, once:
   * false when the line was no longer this instance's (its claim ran out and
   * another instance took it).
   */
  async finishLine(
    batchId: string,
    lineNo: number,
    owner: string,
    outcome: 'done' | 'error',
    resultJson: string,
    usage: LineResult['usage'],
  ): Promise<boolean> {
    return (await this.finishLines(batchId, owner, [{ lineNo, outcome, resultJson, usage }]))[0];
  }

  /**
   * finishLine for several lines of one batch in one transaction (the runner
   * groups the lines that finish together: one commit, and one update of the
   * batch's counters, instead of one per line). Each line is recorded only if it
   * is still running under this instance's claim; the counters count those.
   */
  async finishLines(batchId: string, owner: string, results: LineResult[]): Promise<boolean[]> {
    if (results.length === 0) return [];
    const sqlite = this.store.sqlite;
    if (sqlite) {
      return sqliteTransaction(this.store, sqlite, () => {
        const finish = prepared(sqlite, FINISH_LINE_SQL);
        const sum = newCounts();
        const recorded = results.map((r) => count(sum, r, finish.run(r.outcome, r.resultJson, batchId, r.lineNo, owner).changes > 0));
        if (sum.completed + sum.failed > 0) {
          prepared(sqlite, ADD_COUNTS_SQL).run(sum.completed, sum.failed, sum.input, sum.cached, sum.output, sum.reasoning, batchId);
        }
        return recorded;
      });
    }
    return this.store.db.transaction().execute(async (trx) => {
      const recorded: boolean[] = [];
      const sum = newCounts();
      for (const r of results) {
        const res = await trx
          .updateTable('batch_lines')
          // claimed_by stays: which instance ran the line.
          .set({ status: r.outcome, result_json: r.resultJson, claimed_until: null })
          .where('batch_id', '=', batchId)
          .where('line_no', '=', r.lineNo)
          .where('status', '=', 'running')
          .where('claimed_by', '=', owner)
          .executeTakeFirst();
        recorded.push(count(sum, r, Number(res.numUpdatedRows) > 0));
      }
      if (sum.completed + sum.failed > 0) {
        await trx
          .updateTable('batches')
          .set({
            request_completed: sql`request_completed + ${sum.completed}`,
            request_failed: sql`request_failed + ${sum.failed}`,
            input_tokens: sql`input_tokens + ${sum.input}`,
            cached_tokens: sql`cached_tokens + ${sum.cached}`,
            output_tokens: sql`output_tokens + ${sum.output}`,
            reasoning_tokens: sql`reasoning_tokens + ${sum.reasoning}`,
          })
          .where('id', '=', batchId)
          .execute();
      }
      return recorded;
    });
  }

  /** Lines not run yet go to the error file with `code` (batch expired or cancelled). */
  async closePending(batchId: string, code: string, message: string, idFor: (lineNo: number) => string, now: number): Promise<number> {
    let closed = 0;
    for (;;) {
      const rows = await this.store.db
        .selectFrom('batch_lines')
        .select(['line_no', 'custom_id'])
        .where('batch_id', '=', batchId)
        .where((eb) => eb.or([eb('status', '=', 'pending'), eb.and([eb('status', '=', 'running'), eb('claimed_until', '<', now)])]))
        .orderBy('line_no')
        .limit(500)
        .execute();
      if (rows.length === 0) return closed;
      for (const r of rows) {
        const result = JSON.stringify({ id: idFor(r.line_no), custom_id: r.custom_id, response: null, error: { code, message } });
        const ok = await this.store.db
          .updateTable('batch_lines')
          .set({ status: 'error', result_json: result })
          .where('batch_id', '=', batchId)
          .where('line_no', '=', r.line_no)
          .where((eb) => eb.or([eb('status', '=', 'pending'), eb.and([eb('status', '=', 'running'), eb('claimed_until', '<', now)])]))
          .executeTakeFirst();
        if (Number(ok.numUpdatedRows) > 0) {
          closed++;
          await this.store.db.updateTable('batches').set({ request_failed: sql`request_failed + 1` }).where('id', '=', batchId).execute();
        }
      }
    }
  }

  /** How many lines are not finished: pending, and running under a live claim (a stale claim counts as pending). */
  async unfinished(batchId: string, now: number): Promise<{ pending: number; running: number }> {
    const live = sql<string>`case when status = 'running' and claimed_until >= ${sql.lit(now)} then 'running' else 'pending' end`;
    const rows = await this.store.db
      .selectFrom('batch_lines')
      .select([live.as('status'), sql<number>`count(*)`.as('n')])
      .where('batch_id', '=', batchId)
      .where('status', 'in', ['pending', 'running'])
      .groupBy(live)
      .execute();
    const get = (s: string): number => Number(rows.find((r) => r.status === s)?.n ?? 0);
    return { pending: get('pending'), running: get('running') };
  }

  /** How many lines ended in each file. */
  async resultCounts(batchId: string): Promise<{ done: number; error: number }> {
    const rows = await this.store.db
      .selectFrom('batch_lines')
      .select(['status', sql<number>`count(*)`.as('n')])
      .where('batch_id', '=', batchId)
      .where('status', 'in', ['done', 'error'])
      .groupBy('status')
      .execute();
    const get = (s: string): number => Number(rows.find((r) => r.status === s)?.n ?? 0);
    return { done: get('done'), error: get('error') };
  }

  /** Finished lines of one kind in input order, a page at a time (the output and error files). */
  async *results(batchId: string, status: 'done' | 'error'): AsyncGenerator<string> {
    let after = -1;
    for (;;) {
      const rows = await this.store.db
        .selectFrom('batch_lines')
        .select(['line_no', 'result_json'])
        .where('batch_id', '=', batchId)
        .where('status', '=', status)
        .where('line_no', '>', after)
        .orderBy('line_no')
        .limit(1000)
        .execute();
      if (rows.length === 0) return;
      for (const r of rows) yield r.result_json ?? '';
      after = rows[rows.length - 1].line_no;
    }
  }

  /** Ended batches past their retention (for the sweep). */
  endedBefore(cutoff: number): Promise<BatchRow[]> {
    return this.store.db
      .selectFrom('batches')
      .selectAll()
      .where('status', 'in', ['completed', 'failed', 'expired', 'cancelled'])
      .where((eb) =>
        eb(sql<number>`coalesce(completed_at, failed_at, expired_at, cancelled_at, created_at)`, '<', cutoff),
      )
      .limit(200)
      .execute();
  }

  async delete(id: string): Promise<void> {
    await this.store.db.deleteFrom('batch_lines').where('batch_id', '=', id).execute();
    await this.store.db.deleteFrom('batches').where('id', '=', id).execute();
  }
}
