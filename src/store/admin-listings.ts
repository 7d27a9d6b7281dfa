import { type Expression, type SqlBool, sql } from 'kysely';
import type { Store } from './db.ts';
import type { ApiKeyRow, ConversationRow, FileRow, MjTaskRow } from './tables.ts';

/**
 * Lists across every key for the admin API: keyset pages on (created_at, id), served by each
 * table's (key_id, created_at) index or, across keys, by the (created_at, id) ones migration
 * 008 adds, so a page reads about `limit` rows however many there are.
 */

export type KeyStatus = 'active' | 'disabled' | 'expired' | 'exhausted';

export interface Page<T> {
  rows: T[];
  hasMore: boolean;
}

export interface AdminPage {
  /** Id of the last row of the previous page. */
  after?: string;
  limit: number;
  order: 'asc' | 'desc';
}

type Table = 'api_keys' | 'files' | 'mj_tasks' | 'conversations';

/** `(created_at, id)` past the row `after` in the page's order, or undefined when there is no such row (start over). */
async function pastCursor(store: Store, table: Table, page: AdminPage): Promise<Expression<SqlBool> | undefined> {
  if (!page.after) return undefined;
  const row = await store.db.selectFrom(table).select(['created_at', 'id']).where('id', '=', page.after).executeTakeFirst();
  if (!row) return undefined;
  return sql<SqlBool>`(created_at, id) ${sql.raw(page.order === 'desc' ? '<' : '>')} (${Number(row.created_at)}, ${row.id})`;
}

function pageOf<T>(rows: T[], limit: number): Page<T> {
  return { rows: rows.slice(0, limit), hasMore: rows.length > limit };
}

/** `%text%` for LIKE with `\` escaping the wildcards in it. */
function contains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** API keys by name (case-insensitive), id or masked prefix, and by status as KeyService.view computes it. */
export async function searchKeys(store: Store, f: AdminPage & { search?: string; status?: KeyStatus; now: number }): Promise<Page<ApiKeyRow>> {
  const cursor = await pastCursor(store, 'api_keys', f);
  let q = store.db.selectFrom('api_keys').selectAll().where('deleted_at', 'is', null);
  if (cursor) q = q.where(cursor);
  if (f.search) {
    const like = contains(f.search);
    q = q.where((eb) =>
      eb.or([
        sql<SqlBool>`lower(name) like ${like.toLowerCase()} escape '\\'`,
        eb('id', '=', f.search ?? ''),
        sql<SqlBool>`key_prefix like ${like} escape '\\'`,
      ]),
    );
  }
  const expired = sql<SqlBool>`(expires_at is not null and expires_at <= ${f.now})`;
  const exhausted = sql<SqlBool>`((quota_tokens is not null and used_tokens >= quota_tokens) or (quota_usd is not null and used_usd >= quota_usd))`;
  if (f.status === 'disabled') q = q.where('disabled', '=', 1);
  else if (f.status === 'expired') q = q.where('disabled', '=', 0).where(expired);
  else if (f.status === 'exhausted') q = q.where('disabled', '=', 0).where(sql<SqlBool>`not ${expired}`).where(exhausted);
  else if (f.status === 'active') q = q.where('disabled', '=', 0).where(sql<SqlBool>`not ${expired}`).where(sql<SqlBool>`not ${exhausted}`);
  return pageOf(await q.orderBy('created_at', f.order).orderBy('id', f.order).limit(f.limit + 1).execute(), f.limit);
}

/** Files of every key (or one), unexpired. */
export async function listFiles(store: Store, f: AdminPage & { keyId?: string; purpose?: string; now: number }): Promise<Page<FileRow>> {
  const cursor = await pastCursor(store, 'files', f);
  let q = store.db
    .selectFrom('files')
    .selectAll()
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', f.now)]));
  if (cursor) q = q.where(cursor);
  if (f.keyId) q = q.where('key_id', '=', f.keyId);
  if (f.purpose) q = q.where('purpose', '=', f.purpose);
  return pageOf(await q.orderBy('created_at', f.order).orderBy('id', f.order).limit(f.limit + 1).execute(), f.limit);
}

export async function listMjTasks(store: Store, f: AdminPage & { keyId?: string; status?: string }): Promise<Page<MjTaskRow>> {
  const cursor = await pastCursor(store, 'mj_tasks', f);
  let q = store.db.selectFrom('mj_tasks').selectAll();
  if (cursor) q = q.where(cursor);
  if (f.keyId) q = q.where('key_id', '=', f.keyId);
  if (f.status) q = q.where('status', '=', f.status);
  return pageOf(await q.orderBy('created_at', f.order).orderBy('id', f.order).limit(f.limit + 1).execute(), f.limit);
}

/** Conversations kept in the database (with Redis as their store, see the route). */
export async function listConversations(store: Store, f: AdminPage & { keyId?: string; now: number }): Promise<Page<ConversationRow>> {
  const cursor = await pastCursor(store, 'conversations', f);
  let q = store.db.selectFrom('conversations').selectAll().where('expires_at', '>', f.now);
  if (cursor) q = q.where(cursor);
  if (f.keyId) q = q.where('key_id', '=', f.keyId);
  return pageOf(await q.orderBy('created_at', f.order).orderBy('id', f.order).limit(f.limit + 1).execute(), f.limit);
}
