import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { type ChargeReversalDeps, reverseCharges } from '../metering/charge-reversal.ts';
import { taskFields } from '../routing/mj-relay.ts';
import { listMidjourneyTasks, mjCredential } from '../routing/mj-upstream.ts';
import type { Upstream } from '../routing/upstreams.ts';
import { FAILED_STATUSES, FINAL_STATUSES, type MjTasksRepository, parseCharges } from '../store/mj-tasks.repository.ts';
import type { MjTaskRow } from '../store/tables.ts';
import { keepTaskFields, type MjTaskFields, type MjUpstreamTask } from '../wire/midjourney.ts';

export interface MjPollerDeps {
  config: Config['midjourney'];
  tasks: MjTasksRepository;
  /** The live upstream of this name (upstreams change at run time). */
  upstream: (name: string) => Upstream | undefined;
  reversal: ChargeReversalDeps;
  log: Logger;
  now: () => number;
}

/** Claim rounds in one tick: bounds a tick when very many tasks are due. */
const MAX_ROUNDS = 50;
/** Why a refunded record is no longer charged. */
export const MJ_REFUND_CODE = 'mj_task_failed';

const isFinal = (s: string): boolean => (FINAL_STATUSES as readonly string[]).includes(s);
const isFailed = (s: string): boolean => (FAILED_STATUSES as readonly string[]).includes(s);

/**
 * Follows unfinished Midjourney tasks at their upstreams: every interval it claims the
 * tasks that are due (a lease per task, so with several instances each task is polled by
 * one), asks each upstream about its tasks in batches (list-by-condition), saves what
 * changed, fails tasks stuck beyond the configured limit, and refunds the charges of
 * tasks that failed. The request path only reads what the poller saved.
 */
export class MjPoller {
  readonly owner = `inst_${randomBytes(8).toString('hex')}`;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopping = false;
  private readonly leaseMs: number;

  constructor(private readonly deps: MjPollerDeps) {
    // Longer than one upstream call can take, so a live instance keeps its claim while it waits.
    this.leaseMs = Math.max(70_000, deps.config.poll_interval_ms * 5);
  }

  start(): void {
    if (this.timer) return;
    this.stopping = false;
    this.timer = setInterval(() => void this.tick(), this.deps.config.poll_interval_ms);
    this.timer.unref();
  }

  /** Stops polling and waits for the tick under way; leases it held run out and other instances take over. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Polls every due task once (also called by tests to avoid waiting for the timer). */
  async tick(): Promise<void> {
    if (this.running || this.stopping) return this.running;
    this.running = this.rounds().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async rounds(): Promise<void> {
    const batch = this.deps.config.poll_batch;
    for (let round = 0; round < MAX_ROUNDS && !this.stopping; round++) {
      let claimed: MjTaskRow[];
      try {
        claimed = await this.deps.tasks.claim(this.owner, this.deps.now(), this.leaseMs, batch);
      } catch (err) {
        this.deps.log.warn({ err: { message: (err as Error).message } }, 'could not claim Midjourney tasks to poll; retried on the next tick');
        return;
      }
      if (claimed.length === 0) return;
      const byUpstream = new Map<string, MjTaskRow[]>();
      for (const row of claimed) byUpstream.set(row.upstream, [...(byUpstream.get(row.upstream) ?? []), row]);
      await Promise.all([...byUpstream].map(([name, rows]) => this.pollUpstream(name, rows)));
      if (claimed.length < batch) return;
    }
  }

  private async pollUpstream(name: string, rows: MjTaskRow[]): Promise<void> {
    const u = this.deps.upstream(name);
    const open = rows.filter((r) => !isFinal(r.status));
    const seen = new Map<string, MjUpstreamTask>();
    if (u && open.length > 0) {
      try {
        for (const t of await listMidjourneyTasks(u, mjCredential(u, this.deps.now()), open.map((r) => r.upstream_task_id))) seen.set(t.id, t);
      } catch (err) {
        this.deps.log.warn({ upstream: name, tasks: open.length, err: { message: (err as Error).message } }, 'could not poll Midjourney tasks; retried on the next tick');
      }
    }
    for (const row of rows) {
      try {
        await this.save(row, seen.get(row.upstream_task_id));
      } catch (err) {
        this.deps.log.warn({ taskId: row.id, err: { message: (err as Error).message } }, 'could not save a polled Midjourney task; its lease runs out and it is polled again');
      }
    }
  }

  private async save(row: MjTaskRow, polled: MjUpstreamTask | undefined): Promise<void> {
    const { config, tasks, now } = this.deps;
    const at = now();
    let fields = taskFields(row) ?? keepTaskFields({ id: row.upstream_task_id, status: row.status, action: row.action, submitTime: row.created_at });
    if (polled && !isFinal(row.status)) fields = merge(fields, keepTaskFields(polled));
    let status = isFinal(row.status) ? row.status : fields.status;
    if (!isFinal(status) && at - row.submitted_at > config.task_timeout_minutes * 60_000) {
      status = 'FAILURE';
      fields = { ...fields, status, failReason: `Task timed out: not finished within ${config.task_timeout_minutes} minutes of its submit.`, finishTime: at };
    }
    const charges = parseCharges(row.charges_json);
    const refundDue = isFailed(status) && charges.length > 0 && (row.refund_due === 1 || !isFailed(row.status));
    const saved = await tasks.savePolled(row.id, this.owner, {
      status,
      action: fields.action || row.action,
      task_json: JSON.stringify(fields),
      image_url: fields.imageUrl,
      active: isFinal(status) && !refundDue ? 0 : 1,
      refund_due: refundDue ? 1 : 0,
      updated_at: at,
      next_poll_at: at + config.poll_interval_ms,
    });
    if (saved && refundDue) await this.refund(row, charges);
  }

  /** Takes back what the failed task was charged; a record not written yet is refunded on a later tick. */
  private async refund(row: MjTaskRow, charges: string[]): Promise<void> {
    try {
      const result = await reverseCharges(this.deps.reversal, row.key_id, charges, MJ_REFUND_CODE);
      if (result.complete) await this.deps.tasks.refunded(row.id, charges);
      this.deps.log.info({ taskId: row.id, keyId: row.key_id, usd: result.usd, complete: result.complete }, 'refunded a failed Midjourney task');
    } catch (err) {
      // The task stays due for its refund: the next tick tries again (reversal never counts a record twice).
      this.deps.log.warn({ taskId: row.id, err: { message: (err as Error).message } }, 'could not refund a failed Midjourney task yet');
    }
  }
}

/** The upstream's new view, keeping what the gateway knew where the upstream says nothing (prompt, state, submit time). */
function merge(old: MjTaskFields, fresh: MjTaskFields): MjTaskFields {
  return {
    ...fresh,
    action: fresh.action || old.action,
    prompt: fresh.prompt || old.prompt,
    promptEn: fresh.promptEn || old.promptEn,
    description: fresh.description || old.description,
    state: fresh.state ?? old.state,
    submitTime: fresh.submitTime || old.submitTime,
  };
}
