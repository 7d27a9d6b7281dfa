import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FileSweeper } from '../../src/jobs/file-sweeper.ts';
import { openStore, type Store } from '../../src/store/db.ts';
import { LocalFileStorage } from '../../src/store/file-storage.ts';
import { FilesRepository } from '../../src/store/files.repository.ts';
import { migrateToLatest } from '../../src/store/migrate.ts';
import { createFile, createGeneratedFile, deleteFile, type FileDeps, newFileId } from '../../src/store/stored-files.ts';
import type { FileRow } from '../../src/store/tables.ts';
import { DATABASE_KINDS, openTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

const log = pino({ level: 'silent' });
const T0 = Date.UTC(2026, 0, 2, 10);

function row(id: string, over: Partial<FileRow> = {}): FileRow {
  return { id, key_id: 'key_a', filename: `${id}.jsonl`, purpose: 'batch', bytes: 1, status: 'processed', created_at: T0, expires_at: null, ...over };
}

describe('newFileId', () => {
  it('is file- and 24 letters or digits, different each time', () => {
    const ids = new Set(Array.from({ length: 2000 }, newFileId));
    expect(ids.size).toBe(2000);
    for (const id of ids) expect(id).toMatch(/^file-[A-Za-z0-9]{24}$/);
  });
});

describe.each(DATABASE_KINDS)('files on %s', (kind) => {
  let tdb: TestDatabase;
  let store: Store;
  let files: FilesRepository;
  let dir: string;
  let deps: FileDeps & { log: typeof log };
  let now = T0;

  beforeAll(async () => {
    tdb = await openTestDatabase(kind);
    store = openStore(tdb.url);
    await migrateToLatest(store);
    files = new FilesRepository(store);
    dir = mkdtempSync(join(tmpdir(), 'switchyard-files-'));
    deps = { files, fileStorage: new LocalFileStorage(dir), now: () => now, log };
  });

  afterAll(async () => {
    await store?.close();
    await tdb?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    now = T0;
    await store.db.deleteFrom('files').execute();
    await store.db.deleteFrom('batches').execute();
  });

  it('finds a file only for its key and until it expires', async () => {
    await files.insert(row('file-a', { expires_at: T0 + 1000 }));
    expect(await files.find('file-a', 'key_a', T0)).toMatchObject({ id: 'file-a', bytes: 1, created_at: T0, expires_at: T0 + 1000 });
    expect(await files.find('file-a', 'key_b', T0)).toBeUndefined();
    expect(await files.find('file-a', 'key_a', T0 + 1000)).toBeUndefined();
    expect(await files.findAny('file-a')).toBeDefined();
  });

  it('pages newest first, by creation time then id, and keeps its place when the cursor expired', async () => {
    for (let i = 0; i < 5; i++) await files.insert(row(`file-${i}`, { created_at: T0 + i, expires_at: T0 + 10_000 }));
    // Same creation time: the id decides.
    await files.insert(row('file-4b', { created_at: T0 + 4, expires_at: T0 + 10_000 }));
    await files.insert(row('file-other', { key_id: 'key_b', created_at: T0 + 2 }));
    const ids = async (f: Partial<Parameters<FilesRepository['list']>[0]>) => {
      const page = await files.list({ keyId: 'key_a', limit: 100, order: 'desc', now: T0, ...f });
      return { ids: page.rows.map((r) => r.id), more: page.hasMore };
    };
    expect(await ids({})).toEqual({ ids: ['file-4b', 'file-4', 'file-3', 'file-2', 'file-1', 'file-0'], more: false });
    expect(await ids({ limit: 2 })).toEqual({ ids: ['file-4b', 'file-4'], more: true });
    expect(await ids({ limit: 2, after: 'file-4' })).toEqual({ ids: ['file-3', 'file-2'], more: true });
    expect(await ids({ order: 'asc', after: 'file-3' })).toEqual({ ids: ['file-4', 'file-4b'], more: false });
    // Another key's id is no cursor.
    expect((await ids({ after: 'file-other' })).ids).toHaveLength(6);

    await files.setExpiry('file-3', T0 - 1);
    expect(await ids({ after: 'file-3' })).toEqual({ ids: ['file-2', 'file-1', 'file-0'], more: false });
    expect((await ids({})).ids).not.toContain('file-3');
  });

  it('createFile writes the bytes, then the row; createGeneratedFile the same for gateway-made files', async () => {
    const created = await createFile(deps, { keyId: 'key_a', filename: 'in.jsonl', purpose: 'batch', data: Readable.from([Buffer.from('a\n'), Buffer.from('bc\n')]), expiresAt: T0 + 5 });
    expect(created).toEqual({ id: expect.stringMatching(/^file-/), key_id: 'key_a', filename: 'in.jsonl', purpose: 'batch', bytes: 5, status: 'processed', created_at: T0, expires_at: T0 + 5 });
    expect(readFileSync(join(dir, created.id), 'utf8')).toBe('a\nbc\n');
    expect(await files.findAny(created.id)).toEqual(created);

    const out = await createGeneratedFile(deps, { keyId: 'key_a', filename: 'batch_x_output.jsonl', purpose: 'batch_output', data: Readable.from(['{"id":1}\n']), expiresAt: null });
    expect(await files.find(out.id, 'key_a', T0 + 10 ** 12)).toMatchObject({ purpose: 'batch_output', bytes: 9, expires_at: null });
  });

  it('createFile leaves no bytes behind when the stream or the row fails', async () => {
    const failing = new Readable({
      read() {
        this.push('partial');
        this.destroy(new Error('client went away'));
      },
    });
    await expect(createFile(deps, { id: 'file-broken', keyId: 'key_a', filename: 'x', purpose: 'batch', data: failing, expiresAt: null })).rejects.toThrow('client went away');
    expect(existsSync(join(dir, 'file-broken'))).toBe(false);

    await files.insert(row('file-taken'));
    await expect(createFile(deps, { id: 'file-taken', keyId: 'key_a', filename: 'x', purpose: 'batch', data: Readable.from(['x']), expiresAt: null })).rejects.toThrow();
    expect(existsSync(join(dir, 'file-taken'))).toBe(false);
  });

  it('deleteFile removes the row and the bytes', async () => {
    const f = await createFile(deps, { keyId: 'key_a', filename: 'x', purpose: 'user_data', data: Readable.from(['x']), expiresAt: null });
    await deleteFile(deps, f.id);
    expect(await files.findAny(f.id)).toBeUndefined();
    expect(existsSync(join(dir, f.id))).toBe(false);
  });

  it('the sweep removes expired files page by page, spares a running batch input, then runs the extra sweeps', async () => {
    const made: FileRow[] = [];
    for (let i = 0; i < 7; i++) {
      made.push(await createFile(deps, { keyId: 'key_a', filename: `f${i}`, purpose: 'batch', data: Readable.from([`${i}`]), expiresAt: T0 + 100 }));
    }
    const forever = await createFile(deps, { keyId: 'key_a', filename: 'keep', purpose: 'batch', data: Readable.from(['k']), expiresAt: null });
    const later = await createFile(deps, { keyId: 'key_a', filename: 'later', purpose: 'batch', data: Readable.from(['l']), expiresAt: T0 + 10_000 });
    const input = made[0];
    await store.db
      .insertInto('batches')
      .values({ id: 'batch_1', key_id: 'key_a', endpoint: '/v1/chat/completions', input_file_id: input.id, completion_window: '24h', status: 'in_progress', created_at: T0, expires_at: T0 + 86_400_000 } as never)
      .execute();

    const calls: string[] = [];
    const sweeper = new FileSweeper(deps, {
      intervalMs: 60_000,
      pageSize: 2,
      extraSweeps: [
        async (at) => {
          calls.push(`first ${at}`);
          throw new Error('boom');
        },
        async (at) => {
          calls.push(`second ${at}`);
        },
      ],
    });
    now = T0 + 100;
    await sweeper.sweep();
    const left = (await store.db.selectFrom('files').select('id').execute()).map((r) => r.id).sort();
    expect(left).toEqual([input.id, forever.id, later.id].sort());
    for (const f of made.slice(1)) expect(existsSync(join(dir, f.id))).toBe(false);
    expect(existsSync(join(dir, input.id))).toBe(true);
    expect(calls).toEqual([`first ${T0 + 100}`, `second ${T0 + 100}`]);

    // Once the batch ended its input goes too.
    await store.db.updateTable('batches').set({ status: 'completed' }).execute();
    await sweeper.sweep();
    expect(await files.findAny(input.id)).toBeUndefined();
    expect(existsSync(join(dir, input.id))).toBe(false);
    await sweeper.stop();
  });

  it('sweeps on its timer until stopped, one sweep at a time', async () => {
    await createFile(deps, { id: 'file-timed', keyId: 'key_a', filename: 'x', purpose: 'batch', data: Readable.from(['x']), expiresAt: T0 });
    let runs = 0;
    const sweeper = new FileSweeper(deps, { intervalMs: 20, extraSweeps: [async () => void runs++] });
    sweeper.start();
    const end = Date.now() + 3000;
    while ((await files.findAny('file-timed')) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(await files.findAny('file-timed')).toBeUndefined();
    await sweeper.stop();
    const after = runs;
    expect(after).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 80));
    expect(runs).toBe(after);
  });
});
