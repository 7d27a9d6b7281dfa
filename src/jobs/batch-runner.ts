import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { KeyService } from '../metering/keys.ts';
import type { ModelRegistry } from '../routing/model-registry.ts';
import { INTERNAL_BATCH_HEADER, INTERNAL_HEADER, INTERNAL_KEY_HEADER } from '../routes/v1/auth.ts';
import type { BatchesRepository, LineResult } from '../store/batches.repository.ts';
import type { FileStorage } from '../store/file-storage.ts';
import type { FilesRepository } from '../store/files.repository.ts';
import { createGeneratedFile } from '../store/stored-files.ts';
import type { BatchLineRow, BatchRow } from '../store/tables.ts';
import { type BatchLineError, checkBatchLine, readJsonLines } from './batch-validate.ts';

/** A request run through the gateway's own HTTP pipeline (Fastify's inject: routing, conversion, limits, metering). */
export interface InjectedRequest {
  method: 'POST';
  url: string;
  headers: Record<string, string>;
  payload: string;
}

export interface InjectedResponse {
  statusCode: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

export type Executor = (req: InjectedRequest) => Promise<InjectedResponse>;

export interface BatchRunnerDeps {
  config: Config;
  batches: BatchesRepository;
  files: FilesRepository;
  fileStorage: FileStorage;
  keys: KeyService;
  registry: () => ModelRegistry;
  log: Logger;
  now: () => number;
  internalToken: string;
}

/** Validation errors kept on a failed batch. */
const MAX_ERRORS = 100;
/** Claimed lines closer than this in the input file are read together (the bytes between are skipped). */
const MAX_READ_GAP = 4096;
/** Most bytes one read of claimed lines covers. */
const MAX_READ_SPAN = 1 << 20;
/**
 * How long a finished line's result waits for others of its batch before they are
 * written together (and their slots refilled with one claim). Without it, lines that
 * finish one at a time (upstream latencies vary) cost a transaction and a claim each.
 */
const RESULT_COALESCE_MS = 5;

/** `batch_req_` and a digest of batch and line: the same id if a line runs again after a crash. */
export function batchRequestId(batchId: string, lineNo: number): string {
  return `batch_req_${createHash('sha256').update(`${batchId}:${lineNo}`).digest('hex').slice(0, 32)}`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs batches itself, on any upstream: validates the input file as a stream,
 * records one row per line, claims lines (several instances share a batch on
 * PostgreSQL), runs each through the normal relay pipeline with retries, and
 * writes OpenAI-format output and error files once every line has a result.
 * Progress is in the database, so a killed instance's claims run out and the
 * work resumes; each custom_id ends in exactly one of the two files.
 */
export class BatchRunner {
  readonly owner = `inst_${randomBytes(8).toString('hex')}`;
  private exec: Executor | undefined;
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private ticking = false;
  private stopping = false;
  /** Lines running on this instance, per batch. */
  private readonly inFlight = new Map<string, Set<number>>();
  private total = 0;
  private readonly tasks = new Set<Promise<void>>();
  /** Slots a claim under way may fill, per batch and in all: a tick and a refill never hand out the same free slots twice. */
  private readonly reserved = new Map<string, number>();
  private reservedTotal = 0;
  /**
   * Per batch, the line after the last pending line this instance claimed: claims
   * read the primary key from there rather than from line 1 (see claimLines).
   */
  private readonly nextLine = new Map<string, number>();
  /** Batches with a refill queued or under way; true when another was asked for meanwhile. */
  private readonly refills = new Map<string, boolean>();
  /** Results of finished lines waiting for their batch's next write (see record()). */
  private readonly results = new Map<string, Array<{ result: LineResult; done: (recorded: boolean) => void }>>();

  /** How long a claim on a line or a lease on a batch lasts without a heartbeat (renewed at a quarter of it). */
  private readonly claimMs: number;

  constructor(private readonly deps: BatchRunnerDeps) {
    this.claimMs = deps.config.batch.claim_seconds * 1000;
  }

  setExecutor(exec: Executor): void {
    this.exec = exec;
  }

  start(): void {
    if (this.timer) return;
    this.stopping = false;
    this.timer = setInterval(() => void this.tick(), this.deps.config.batch.poll_ms);
    this.timer.unref();
    this.heartbeat = setInterval(() => void this.extendClaims(), Math.max(50, this.claimMs / 4));
    this.heartbeat.unref();
  }

  /** Stops taking work and waits (up to `graceMs`) for lines under way; unfinished claims run out and are taken again. */
  async stop(graceMs = 5_000): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.timer = this.heartbeat = undefined;
    await Promise.race([Promise.allSettled([...this.tasks]), sleep(graceMs)]);
  }

  /** Looks at every batch with work once (also called by tests to avoid waiting for the timer). */
  async tick(): Promise<void> {
    if (this.ticking || this.stopping || !this.exec) return;
    this.ticking = true;
    try {
      for (const b of await this.deps.batches.active()) {
        if (this.stopping) break;
        try {
          await this.step(b);
        } catch (err) {
          this.deps.log.error({ batchId: b.id, err: { message: (err as Error).message } }, 'batch step failed; retried on the next tick');
        }
      }
    } catch (err) {
      this.deps.log.warn({ err: { message: (err as Error).message } }, 'could not read batches; retried on the next tick');
    } finally {
      this.ticking = false;
    }
  }

  private async step(b: BatchRow): Promise<void> {
    const now = this.deps.now();
    switch (b.status) {
      case 'validating':
        if (await this.deps.batches.lease(b.id, this.owner, now, this.claimMs)) await this.validate(b);
        return;
      case 'in_progress': {
        if (now >= b.expires_at) {
          await this.close(b, 'expired');
          return;
        }
        // The counters move with each line's result, in the same transaction: while they say
        // lines are left, claim without counting the rows (a read of every remaining line,
        // ~12 ms at 40,000 on SQLite). The count decides when nothing could be claimed here.
        const left = Number(b.request_total) - Number(b.request_completed) - Number(b.request_failed);
        if (left > 0 && ((await this.schedule(b, true)) > 0 || (this.inFlight.get(b.id)?.size ?? 0) > 0)) return;
        const { pending, running } = await this.deps.batches.unfinished(b.id, now);
        if (pending === 0 && running === 0) await this.close(b, 'completed');
        else if (left <= 0) await this.schedule(b, true);
        return;
      }
      case 'cancelling':
        await this.close(b, 'cancelled');
        return;
      case 'finalizing':
        await this.close(b, b.cancelling_at ? 'cancelled' : now >= b.expires_at ? 'expired' : 'completed');
        return;
    }
  }

  // ------------------------------------------------------------ validation

  private async validate(b: BatchRow): Promise<void> {
    const { batches, files, fileStorage, config, now } = this.deps;
    const input = await files.findAny(b.input_file_id);
    const errors: BatchLineError[] = [];
    let lines = 0;
    if (!input) errors.push({ code: 'invalid_request', message: `The input file ${b.input_file_id} no longer exists.`, param: 'input_file_id', line: null });
    else {
      // A validation cut short by a crash starts over.
      await batches.deleteLines(b.id);
      const registry = this.deps.registry();
      const key = await this.deps.keys.authenticateId(b.key_id).catch(() => undefined);
      const knowsModel = (m: string): boolean => {
        try {
          const targets = registry.resolve(m);
          return key?.models ? key.models.has(m) || key.models.has(targets[0].model) : true;
        } catch {
          return false;
        }
      };
      const seen = new Set<string>();
      let rows: Array<Omit<BatchLineRow, 'attempts'>> = [];
      for await (const l of readJsonLines(fileStorage.read(input.id))) {
        lines++;
        if (lines > config.batch.max_lines) {
          errors.push({ code: 'too_many_requests', message: `The input file has more than ${config.batch.max_lines} requests.`, param: null, line: l.line });
          break;
        }
        const checked = checkBatchLine(l.text, l.line, b.endpoint, seen, knowsModel);
        if ('error' in checked) {
          if (errors.length < MAX_ERRORS) errors.push(checked.error);
          continue;
        }
        if (errors.length > 0) continue;
        rows.push({ batch_id: b.id, line_no: lines, custom_id: checked.customId, offset: l.offset, length: l.length, status: 'pending', claimed_by: null, claimed_until: null, result_json: null });
        if (rows.length >= 500) {
          await batches.insertLines(rows);
          rows = [];
          await batches.lease(b.id, this.owner, now(), this.claimMs);
        }
      }
      if (errors.length === 0) await batches.insertLines(rows);
      if (lines === 0 && errors.length === 0) errors.push({ code: 'empty_file', message: 'The input file has no requests.', param: null, line: null });
    }
    const at = now();
    if (errors.length > 0) {
      await batches.deleteLines(b.id);
      await batches.transition(b.id, ['validating'], { status: 'failed', failed_at: at, errors_json: JSON.stringify({ object: 'list', data: errors }), lease_owner: null, lease_until: null });
      return;
    }
    await batches.transition(b.id, ['validating'], { status: 'in_progress', in_progress_at: at, request_total: lines, lease_owner: null, lease_until: null });
  }

  // ------------------------------------------------------------ running lines

  /**
   * Claims lines up to the free slots and starts them. Called by the tick and, as
   * lines finish, by refill(): a batch keeps `per_batch_concurrency` lines in flight
   * rather than running one round of them per `poll_ms`.
   */
  private async schedule(b: BatchRow, fromTick: boolean): Promise<number> {
    const cfg = this.deps.config.batch;
    const mine = this.inFlight.get(b.id) ?? new Set<number>();
    this.inFlight.set(b.id, mine);
    const held = this.reserved.get(b.id) ?? 0;
    const room = Math.min(cfg.per_batch_concurrency - mine.size - held, cfg.max_concurrency - this.total - this.reservedTotal);
    if (room <= 0) return 0;
    this.reserved.set(b.id, held + room);
    this.reservedTotal += room;
    let claimed: BatchLineRow[];
    try {
      claimed = await this.claim(b.id, room, fromTick);
    } finally {
      const left = (this.reserved.get(b.id) ?? room) - room;
      if (left > 0) this.reserved.set(b.id, left);
      else this.reserved.delete(b.id);
      this.reservedTotal -= room;
    }
    const bodies = this.readBodies(b.input_file_id, claimed);
    for (const line of claimed) {
      mine.add(line.line_no);
      this.total++;
      const task = this.runLine(b, line, bodies.get(line.line_no) as Promise<string>).finally(() => {
        mine.delete(line.line_no);
        this.total--;
        this.tasks.delete(task);
        this.refill(b);
      });
      this.tasks.add(task);
    }
    return claimed.length;
  }

  /** Claims up to `room` lines from this instance's cursor; a tick that finds too few there also looks from line 1. */
  private async claim(batchId: string, room: number, fromTick: boolean): Promise<BatchLineRow[]> {
    const { batches, now } = this.deps;
    const from = this.nextLine.get(batchId) ?? 0;
    const at = now();
    let lines = await batches.claimLines(batchId, this.owner, at, this.claimMs, room, from);
    if (fromTick && from > 0 && lines.length < room) {
      // Lines are never set back to pending, but on PostgreSQL a claim skips lines another
      // instance's claim holds locked; if that claim rolled back they are still pending,
      // behind the cursor. That scan reads every finished line, so once a tick at most.
      lines = lines.concat(await batches.claimLines(batchId, this.owner, at, this.claimMs, room - lines.length, 0));
    }
    // attempts 1: the line was pending (a retaken stale claim has more); the cursor moves past it.
    let next = from;
    for (const l of lines) if (l.attempts === 1 && l.line_no >= next) next = l.line_no + 1;
    if (next > from) this.nextLine.set(batchId, next);
    return lines;
  }

  /**
   * Tops a batch up once a line of it finished (coalesced: one claim for the lines
   * that finished in the same turn of the event loop). `b` is the row the tick
   * read: its id, key, endpoint, input file and expiry do not change, and claims
   * stop by themselves once the batch is no longer in_progress (a cancel). A batch
   * with nothing left to claim and nothing running here gets a tick at once,
   * which closes it.
   */
  private refill(b: BatchRow): void {
    if (this.stopping) return;
    if (this.refills.has(b.id)) {
      this.refills.set(b.id, true);
      return;
    }
    this.refills.set(b.id, false);
    setImmediate(() => void this.runRefill(b));
  }

  private async runRefill(b: BatchRow): Promise<void> {
    let idle = false;
    try {
      for (;;) {
        this.refills.set(b.id, false);
        // The window's end stops new lines; the tick does the rest.
        if (this.stopping || this.deps.now() >= b.expires_at) break;
        const started = await this.schedule(b, false);
        if (started === 0 && (this.inFlight.get(b.id)?.size ?? 0) === 0) idle = true;
        if (!this.refills.get(b.id)) break;
      }
    } catch (err) {
      this.deps.log.warn({ batchId: b.id, err: { message: (err as Error).message } }, 'batch refill failed; the next tick claims lines');
    } finally {
      this.refills.delete(b.id);
    }
    if (idle) void this.tick();
  }

  private async runLine(b: BatchRow, line: BatchLineRow, lineBody: Promise<string>): Promise<void> {
    const { config, log } = this.deps;
    const id = batchRequestId(b.id, line.line_no);
    let result: { outcome: 'done' | 'error'; json: string; usage: LineUsage };
    try {
      const body = await lineBody;
      result = await this.callWithRetries(b, body, id, line.custom_id, config.batch.max_attempts);
    } catch (err) {
      log.warn({ batchId: b.id, line: line.line_no, err: { message: (err as Error).message } }, 'batch line could not run');
      result = {
        outcome: 'error',
        json: JSON.stringify({ id, custom_id: line.custom_id, response: null, error: { code: 'server_error', message: (err as Error).message } }),
        usage: NO_USAGE,
      };
    }
    const recorded = await this.record(b.id, { lineNo: line.line_no, outcome: result.outcome, resultJson: result.json, usage: result.usage });
    if (!recorded) log.debug({ batchId: b.id, line: line.line_no }, 'batch line result dropped: its claim had passed to another instance, or it could not be written');
  }

  /**
   * Records a line's result with the other lines of its batch that finish within
   * RESULT_COALESCE_MS: one transaction for all of them (a commit per line was most
   * of the runner's own CPU), after which their slots are refilled together.
   * Resolves whether the line was recorded.
   */
  private record(batchId: string, result: LineResult): Promise<boolean> {
    return new Promise((resolve) => {
      let queue = this.results.get(batchId);
      if (!queue) {
        queue = [];
        this.results.set(batchId, queue);
        setTimeout(() => void this.flushResults(batchId), RESULT_COALESCE_MS);
      }
      queue.push({ result, done: resolve });
    });
  }

  private async flushResults(batchId: string): Promise<void> {
    const queue = this.results.get(batchId) ?? [];
    this.results.delete(batchId);
    let recorded: boolean[];
    try {
      recorded = await this.deps.batches.finishLines(batchId, this.owner, queue.map((q) => q.result));
    } catch (err) {
      // The claims run out and the lines run again: still exactly one result per custom_id.
      this.deps.log.error({ batchId, lines: queue.map((q) => q.result.lineNo), err: { message: (err as Error).message } }, 'could not record batch lines');
      recorded = queue.map(() => false);
    }
    queue.forEach((q, i) => q.done(recorded[i] === true));
  }

  /**
   * The request bodies of claimed lines. Lines next to each other in the input file
   * (as the lines of one claim are) come from one read of it, not one open and read
   * each; a failed read fails the lines it covers.
   */
  private readBodies(fileId: string, lines: BatchLineRow[]): Map<number, Promise<string>> {
    const out = new Map<number, Promise<string>>();
    const sorted = [...lines].sort((x, y) => Number(x.offset) - Number(y.offset));
    for (let i = 0; i < sorted.length; ) {
      const start = Number(sorted[i].offset);
      let end = start + sorted[i].length;
      let j = i + 1;
      while (j < sorted.length) {
        const at = Number(sorted[j].offset);
        if (at - end > MAX_READ_GAP || at + sorted[j].length - start > MAX_READ_SPAN) break;
        end = Math.max(end, at + sorted[j].length);
        j++;
      }
      const bytes = this.readRange(fileId, start, end);
      for (const l of sorted.slice(i, j)) {
        const from = Number(l.offset) - start;
        out.set(
          l.line_no,
          bytes.then((buf) => {
            if (buf.length < from + l.length) throw new Error(`the input file ${fileId} is shorter than its recorded lines`);
            const obj = JSON.parse(buf.toString('utf8', from, from + l.length)) as { body: unknown };
            return JSON.stringify(obj.body);
          }),
        );
      }
      i = j;
    }
    return out;
  }

  /** Bytes `start` to `end` (exclusive) of a stored file. */
  private async readRange(fileId: string, start: number, end: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const c of this.deps.fileStorage.read(fileId, { start, end: end - 1 }) as AsyncIterable<Buffer>) parts.push(c);
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  private async callWithRetries(b: BatchRow, payload: string, id: string, customId: string, maxAttempts: number): Promise<{ outcome: 'done' | 'error'; json: string; usage: LineUsage }> {
    const exec = this.exec;
    if (!exec) throw new Error('the batch runner has no executor');
    let res: InjectedResponse | undefined;
    for (let attempt = 1; ; attempt++) {
      res = await exec({
        method: 'POST',
        url: b.endpoint,
        headers: {
          'content-type': 'application/json',
          [INTERNAL_HEADER]: this.deps.internalToken,
          [INTERNAL_KEY_HEADER]: b.key_id,
          [INTERNAL_BATCH_HEADER]: b.id,
        },
        payload,
      });
      if (!retryable(res) || attempt >= maxAttempts || this.stopping) break;
      await sleep(this.deps.config.batch.retry_backoff_ms * 2 ** (attempt - 1) * (0.5 + Math.random() / 2));
    }
    let body: unknown = res.body;
    try {
      body = JSON.parse(res.body);
    } catch {
      // Not JSON (text answers): kept as the string.
    }
    const requestId = res.headers['x-request-id'];
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    const json = JSON.stringify({ id, custom_id: customId, response: { status_code: res.statusCode, request_id: typeof requestId === 'string' ? requestId : null, body }, error: null });
    return { outcome: ok ? 'done' : 'error', json, usage: ok ? lineUsage(body) : NO_USAGE };
  }

  private async extendClaims(): Promise<void> {
    const until = this.deps.now() + this.claimMs;
    for (const [batchId, lines] of this.inFlight) {
      await this.deps.batches.extendClaims(batchId, this.owner, [...lines], until).catch(() => undefined);
    }
  }

  // ------------------------------------------------------------ ending

  /**
   * Ends a batch once no line of it is running: lines never run go to the error
   * file (`batch_expired`, `batch_cancelled`), then the output and error files
   * are written in input order and the batch takes its final status.
   */
  private async close(b: BatchRow, final: 'completed' | 'expired' | 'cancelled'): Promise<void> {
    const { batches, config, now } = this.deps;
    if (!(await batches.lease(b.id, this.owner, now(), this.claimMs))) return;
    if (final !== 'completed') {
      if (b.status !== 'finalizing') {
        const [code, message] = final === 'expired' ? ['batch_expired', 'This line was not run before the batch expired.'] : ['batch_cancelled', 'This line was not run: the batch was cancelled.'];
        await batches.closePending(b.id, code, message, (n) => batchRequestId(b.id, n), now());
      }
      // Lines under way (here or on another live instance) finish first.
      if ((await batches.unfinished(b.id, now())).running > 0) return;
    }
    const at = now();
    if (b.status !== 'finalizing') {
      if (!(await batches.transition(b.id, [b.status], { status: 'finalizing', finalizing_at: at }))) return;
    }
    const expiresAt = at + config.files.output_ttl_seconds * 1000;
    const done = await batches.resultCounts(b.id);
    const output = done.done > 0 || final === 'completed' ? await this.writeResults(b, 'done', expiresAt) : null;
    const errorFile = done.error > 0 ? await this.writeResults(b, 'error', expiresAt) : null;
    const stamp = final === 'completed' ? { completed_at: at } : final === 'expired' ? { expired_at: at } : { cancelled_at: at };
    await batches.transition(b.id, ['finalizing'], { status: final, ...stamp, output_file_id: output, error_file_id: errorFile, lease_owner: null, lease_until: null });
    this.inFlight.delete(b.id);
    this.nextLine.delete(b.id);
  }

  private async writeResults(b: BatchRow, status: 'done' | 'error', expiresAt: number): Promise<string> {
    const lines = this.deps.batches.results(b.id, status);
    const data = Readable.from(
      (async function* () {
        for await (const l of lines) yield `${l}\n`;
      })(),
    );
    const file = await createGeneratedFile(this.deps, {
      keyId: b.key_id,
      filename: `${b.id}_${status === 'done' ? 'output' : 'error'}.jsonl`,
      purpose: 'batch_output',
      data,
      expiresAt,
    });
    return file.id;
  }
}

interface LineUsage {
  input: number;
  cached: number;
  output: number;
  reasoning: number;
}

const NO_USAGE: LineUsage = { input: 0, cached: 0, output: 0, reasoning: 0 };

/** 429 (not a spent quota) and 5xx are worth another try; anything else is the line's answer. */
function retryable(res: InjectedResponse): boolean {
  if (res.statusCode >= 500) return true;
  if (res.statusCode !== 429) return false;
  return !res.body.includes('insufficient_quota');
}

/** Tokens of an answer: chat, completions, embeddings (prompt/completion) or Responses (input/output). */
function lineUsage(body: unknown): LineUsage {
  const u = (body as { usage?: Record<string, unknown> } | null)?.usage;
  if (!u || typeof u !== 'object') return NO_USAGE;
  const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const details = (v: unknown, f: string): number => (v && typeof v === 'object' ? n((v as Record<string, unknown>)[f]) : 0);
  return {
    input: n(u.prompt_tokens ?? u.input_tokens),
    cached: details(u.prompt_tokens_details ?? u.input_tokens_details, 'cached_tokens'),
    output: n(u.completion_tokens ?? u.output_tokens),
    reasoning: details(u.completion_tokens_details ?? u.output_tokens_details, 'reasoning_tokens'),
  };
}
