import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { FileStorage } from './file-storage.ts';
import type { FilesRepository } from './files.repository.ts';
import type { FileRow } from './tables.ts';

/** What writing and removing a file needs; `Services` has all of it. */
export interface FileDeps {
  files: FilesRepository;
  fileStorage: FileStorage;
  now: () => number;
}

/** Purposes a client may upload with (OpenAI's list; anything else is a 400). */
export const UPLOAD_PURPOSES = ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'] as const;
export type UploadPurpose = (typeof UPLOAD_PURPOSES)[number];

/** Purposes only the gateway gives, to files it writes itself. */
export type GeneratedPurpose = 'batch_output' | 'assistants_output' | 'fine-tune-results';

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `file-` and 24 random letters and digits, like OpenAI's ids (and safe as a storage name). */
export function newFileId(): string {
  // 248 is the largest multiple of 62 below 256: rejecting bytes above it keeps every letter equally likely.
  let out = '';
  while (out.length < 24) {
    for (const b of randomBytes(32)) {
      if (b < 248 && out.length < 24) out += ID_ALPHABET[b % 62];
    }
  }
  return `file-${out}`;
}

export interface NewFile {
  keyId: string;
  filename: string;
  purpose: UploadPurpose | GeneratedPurpose;
  /** The bytes; read to the end. */
  data: Readable;
  /** Unix ms, or null for never. */
  expiresAt: number | null;
  /** Defaults to a new id. */
  id?: string;
  /** Defaults to `deps.now()`; Unix ms. */
  createdAt?: number;
}

/**
 * Writes the bytes, then the row: a file is listed only once its bytes are all
 * there. When the row cannot be written the bytes are removed again.
 */
export async function createFile(deps: FileDeps, f: NewFile): Promise<FileRow> {
  const id = f.id ?? newFileId();
  let bytes: number;
  try {
    bytes = await deps.fileStorage.write(id, f.data);
  } catch (err) {
    await deps.fileStorage.remove(id).catch(() => undefined);
    throw err;
  }
  const row: FileRow = {
    id,
    key_id: f.keyId,
    filename: f.filename,
    purpose: f.purpose,
    bytes,
    status: 'processed',
    created_at: f.createdAt ?? deps.now(),
    expires_at: f.expiresAt,
  };
  try {
    await deps.files.insert(row);
  } catch (err) {
    await deps.fileStorage.remove(id).catch(() => undefined);
    throw err;
  }
  return row;
}

/** A file the gateway writes for a key (a batch's output or error file). */
export function createGeneratedFile(
  deps: FileDeps,
  f: { keyId: string; filename: string; purpose: GeneratedPurpose; data: Readable; expiresAt: number | null },
): Promise<FileRow> {
  return createFile(deps, f);
}

/**
 * Removes the row first, so no one is handed a file whose bytes are gone. Bytes a
 * failed removal leaves behind are unreachable (only disk space): logged, not thrown,
 * since the file is gone for its owner either way.
 */
export async function deleteFile(deps: FileDeps & { log: Logger }, id: string): Promise<void> {
  await deps.files.delete(id);
  try {
    await deps.fileStorage.remove(id);
  } catch (err) {
    deps.log.warn({ fileId: id, err: { message: (err as Error).message } }, 'could not remove the bytes of a deleted file');
  }
}
