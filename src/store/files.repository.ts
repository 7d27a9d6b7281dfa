import type { Store } from './db.ts';
import type { FileRow } from './tables.ts';

export interface FileListFilter {
  keyId: string;
  purpose?: string;
  /** Id of the last file of the previous page. */
  after?: string;
  limit: number;
  order: 'asc' | 'desc';
  now: number;
}

/** File metadata; every read by a client is scoped to its key and hides expired files. */
export class FilesRepository {
  constructor(private readonly store: Store) {}

  async insert(row: FileRow): Promise<void> {
    await this.store.db.insertInto('files').values(row).execute();
  }

  find(id: string, keyId: string, now: number): Promise<FileRow | undefined> {
    return this.store.db
      .selectFrom('files')
      .selectAll()
      .where('id', '=', id)
      .where('key_id', '=', keyId)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .executeTakeFirst();
  }

  /** Any key's file, expired or not (the batch runner reads its own input). */
  findAny(id: string): Promise<FileRow | undefined> {
    return this.store.db.selectFrom('files').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** One page, newest first by default; one more row than `limit` tells whether there are more. */
  async list(f: FileListFilter): Promise<{ rows: FileRow[]; hasMore: boolean }> {
    let q = this.store.db
      .selectFrom('files')
      .selectAll()
      .where('key_id', '=', f.keyId)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', f.now)]));
    if (f.purpose) q = q.where('purpose', '=', f.purpose);
    if (f.after) {
      // Expired or not: a cursor that expired between two pages still marks the place.
      const cursor = await this.store.db
        .selectFrom('files')
        .select(['id', 'created_at'])
        .where('id', '=', f.after)
        .where('key_id', '=', f.keyId)
        .executeTakeFirst();
      if (cursor) {
        q = q.where((eb) =>
          f.order === 'desc'
            ? eb.or([eb('created_at', '<', cursor.created_at), eb.and([eb('created_at', '=', cursor.created_at), eb('id', '<', cursor.id)])])
            : eb.or([eb('created_at', '>', cursor.created_at), eb.and([eb('created_at', '=', cursor.created_at), eb('id', '>', cursor.id)])]),
        );
      }
    }
    const rows = await q.orderBy('created_at', f.order).orderBy('id', f.order).limit(f.limit + 1).execute();
    return { rows: rows.slice(0, f.limit), hasMore: rows.length > f.limit };
  }

  async delete(id: string): Promise<void> {
    await this.store.db.deleteFrom('files').where('id', '=', id).execute();
  }

  async setExpiry(id: string, expiresAt: number | null): Promise<void> {
    await this.store.db.updateTable('files').set({ expires_at: expiresAt }).where('id', '=', id).execute();
  }

  /** Files whose time is up, except those a batch still reads; for the sweep. */
  expired(now: number, limit = 500): Promise<FileRow[]> {
    return this.store.db
      .selectFrom('files')
      .selectAll()
      .where('expires_at', 'is not', null)
      .where('expires_at', '<=', now)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('batches')
              .select('batches.id')
              .whereRef('batches.input_file_id', '=', 'files.id')
              .where('batches.status', 'in', ['validating', 'in_progress', 'finalizing', 'cancelling']),
          ),
        ),
      )
      .limit(limit)
      .execute();
  }
}
