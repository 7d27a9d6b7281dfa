import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { KeyService } from '../metering/keys.ts';
import type { ModelRegistry } from '../routing/model-registry.ts';
import { INTERNAL_BATCH_HEADER, INTERNAL_HEADER, INTERNAL_KEY_HEADER } from '../routes/v1/auth.ts';
import type { BatchesRepository } from '../store/batches.repository.ts';
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
        const { pending, running } = await this.deps.batches.unfinished(b.id, now);
        if (pending === 0 && running === 0) await this.close(b, 'completed');
        else if (pending > 0 || running > 0) await this.schedule(b);
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

  private async schedule(b: BatchRow): Promise<void> {
    const cfg = this.deps.config.batch;
    const mine = this.inFlight.get(b.id) ?? new Set<number>();
    this.inFlight.set(b.id, mine);
    const room = Math.min(cfg.per_batch_concurrency - mine.size, cfg.max_concurrency - this.total);
    if (room <= 0) return;
    const claimed = await this.deps.batches.claimLines(b.id, this.owner, this.deps.now(), this.claimMs, room);
    for (const line of claimed) {
      mine.add(line.line_no);
      this.total++;
      const task = this.runLine(b, line).finally(() => {
        mine.delete(line.line_no);
        this.total--;
        this.tasks.delete(task);
      });
      this.tasks.add(task);
    }
  }

  private async runLine(b: BatchRow, line: BatchLineRow): Promise<void> {
    const { config, log } = this.deps;
    const id = batchRequestId(b.id, line.line_no);
    let result: { outcome: 'done' | 'error'; json: string; usage: LineUsage };
    try {
      const body = await this.readLineBody(b.input_file_id, line);
      result = await this.callWithRetries(b, body, id, line.custom_id, config.batch.max_attempts);
    } catch (err) {
      log.warn({ batchId: b.id, line: line.line_no, err: { message: (err as Error).message } }, 'batch line could not run');
      result = {
        outcome: 'error',
        json: JSON.stringify({ id, custom_id: line.custom_id, response: null, error: { code: 'server_error', message: (err as Error).message } }),
        usage: NO_USAGE,
      };
    }
    const recorded = await this.deps.batches.finishLine(b.id, line.line_no, this.owner, result.outcome, result.json, result.usage).catch((err: unknown) => {
      // The claim runs out and the line runs again: still exactly one result per custom_id.
      log.error({ batchId: b.id, line: line.line_no, err: { message: (err as Error).message } }, 'could not record a batch line');
      return false;
    });
    if (!recorded) log.debug({ batchId: b.id, line: line.line_no }, 'batch line result dropped: its claim had passed to another instance');
  }

  private async readLineBody(fileId: string, line: BatchLineRow): Promise<string> {
    const parts: Buffer[] = [];
    for await (const c of this.deps.fileStorage.read(fileId, { start: Number(line.offset), end: Number(line.offset) + line.length - 1 }) as AsyncIterable<Buffer>) parts.push(c);
    const obj = JSON.parse(Buffer.concat(parts).toString('utf8')) as { body: unknown };
    return JSON.stringify(obj.body);
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
