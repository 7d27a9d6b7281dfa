import { type Kysely, sql } from 'kysely';

// Never edit a migration after it lands; add a new one.
//
// Indexes for the admin API's views (docs/admin-api.md lists which serves which, with plans at a
// million rows). The request log pages newest first by the keyset (created_at, request_id): each
// index ends in those two columns so a page, filtered or not, is one index range read backwards
// with no sort. The older (key_id, created_at) and (created_at) indexes are prefixes of the new
// ones and are dropped, so the usage writer maintains three more indexes, not five.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('usage_records_time_id').on('usage_records').columns(['created_at', 'request_id']).execute();
  await db.schema.dropIndex('usage_records_time').execute();
  await db.schema.createIndex('usage_records_key_time_id').on('usage_records').columns(['key_id', 'created_at', 'request_id']).execute();
  await db.schema.dropIndex('usage_records_key_time').execute();
  await db.schema.createIndex('usage_records_model_time_id').on('usage_records').columns(['model', 'created_at', 'request_id']).execute();
  await db.schema.createIndex('usage_records_upstream_time_id').on('usage_records').columns(['upstream', 'created_at', 'request_id']).execute();
  // Failed requests are few: a partial index finds them without walking the successes.
  await db.schema
    .createIndex('usage_records_errors_time_id')
    .on('usage_records')
    .columns(['created_at', 'request_id'])
    .where(sql<boolean>`status >= 400`)
    .execute();
  // Lists across every key, newest first, keyset (created_at, id).
  for (const table of ['api_keys', 'files', 'batches', 'conversations', 'mj_tasks']) {
    await db.schema.createIndex(`${table}_time_id`).on(table).columns(['created_at', 'id']).execute();
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['api_keys', 'files', 'batches', 'conversations', 'mj_tasks']) await db.schema.dropIndex(`${table}_time_id`).execute();
  await db.schema.dropIndex('usage_records_errors_time_id').execute();
  await db.schema.dropIndex('usage_records_upstream_time_id').execute();
  await db.schema.dropIndex('usage_records_model_time_id').execute();
  await db.schema.createIndex('usage_records_key_time').on('usage_records').columns(['key_id', 'created_at']).execute();
  await db.schema.dropIndex('usage_records_key_time_id').execute();
  await db.schema.createIndex('usage_records_time').on('usage_records').column('created_at').execute();
  await db.schema.dropIndex('usage_records_time_id').execute();
}
