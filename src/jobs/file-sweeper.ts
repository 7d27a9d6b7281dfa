import type { Logger } from 'pino';
import { deleteFile, type FileDeps } from '../store/stored-files.ts';

/** One more thing removed on the sweep's schedule (batches past their retention); `now` is Unix ms. */
export type Sweep = (now: number) => Promise<void>;

export interface FileSweeperOptions {
  intervalMs: number;
  /** Run after the files on every sweep, each on its own: one failing does not stop the others. */
  extraSweeps?: readonly Sweep[];
  /** Rows read per round; a sweep goes on until none are left. */
  pageSize?: number;
}

/**
 * Removes expired files (row, then bytes) every interval. Files a running batch
 * still reads are left until it ends (`FilesRepository.expired`). With several
 * instances each sweeps: removing a file twice is harmless.
 */
export class FileSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopping = false;

  constructor(
    private readonly deps: FileDeps & { log: Logger },
    private readonly opts: FileSweeperOptions,
  ) {}

  start(): void {
    if (this.timer) return;
    this.stopping = false;
    this.timer = setInterval(() => void this.sweep(), this.opts.intervalMs);
    // Expiry is housekeeping: it must never keep the process alive.
    this.timer.unref();
  }

  /** One sweep now (or the one under way); never throws. */
  sweep(): Promise<void> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async run(): Promise<void> {
    const now = this.deps.now();
    const pageSize = this.opts.pageSize ?? 500;
    try {
      for (;;) {
        const rows = await this.deps.files.expired(now, pageSize);
        for (const row of rows) await deleteFile(this.deps, row.id);
        if (rows.length < pageSize || this.stopping) break;
      }
    } catch (err) {
      this.deps.log.warn({ err: { message: (err as Error).message } }, 'could not remove expired files; trying again next sweep');
    }
    for (const extra of this.opts.extraSweeps ?? []) {
      try {
        await extra(now);
      } catch (err) {
        this.deps.log.warn({ err: { message: (err as Error).message } }, 'a retention sweep failed; trying again next sweep');
      }
    }
  }

  /** Stops the timer and waits for a sweep under way, so the store can be closed after. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
