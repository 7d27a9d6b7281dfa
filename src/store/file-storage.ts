import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Where file bytes live; the database holds their metadata. Small on purpose, so
 * an S3-compatible store can implement it without touching the API code.
 */
export interface FileStorage {
  /** Writes the stream as the file's bytes; resolves with their count. */
  write(id: string, data: Readable): Promise<number>;
  /** The bytes, from `start` (inclusive) to `end` (inclusive) when given. */
  read(id: string, range?: { start: number; end: number }): Readable;
  /** Removes the bytes; a missing file is not an error. */
  remove(id: string): Promise<void>;
}

/** Files in a local directory, one per id (ids are generated, never client text). */
export class LocalFileStorage implements FileStorage {
  private ready: Promise<unknown> | undefined;

  constructor(private readonly dir: string) {}

  private path(id: string): string {
    if (!/^[A-Za-z0-9_-]+$/.test(id)) throw new Error(`bad file id ${id}`);
    return join(this.dir, id);
  }

  async write(id: string, data: Readable): Promise<number> {
    this.ready ??= mkdir(this.dir, { recursive: true });
    await this.ready;
    const path = this.path(id);
    await pipeline(data, createWriteStream(path, { mode: 0o600 }));
    return (await stat(path)).size;
  }

  read(id: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.path(id), range);
  }

  async remove(id: string): Promise<void> {
    await rm(this.path(id), { force: true });
  }
}
