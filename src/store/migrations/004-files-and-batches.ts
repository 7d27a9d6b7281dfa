import type { Kysely } from 'kysely';

// Never edit a migration after it lands; add a new one.
export async function up(db: Kysely<unknown>): Promise<void> {
  // Uploaded and generated files; the bytes live in the file storage (a local directory by default).
  await db.schema
    .createTable('files')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('key_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('filename', 'text', (c) => c.notNull())
    .addColumn('purpose', 'varchar(32)', (c) => c.notNull())
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    /** Unix ms, or null for never. */
    .addColumn('expires_at', 'bigint')
    .execute();
  await db.schema.createIndex('files_key_time').on('files').columns(['key_id', 'created_at']).execute();
  await db.schema.createIndex('files_expiry').on('files').column('expires_at').execute();

  await db.schema
    .createTable('batches')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('key_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('endpoint', 'varchar(64)', (c) => c.notNull())
    .addColumn('input_file_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('completion_window', 'varchar(16)', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('output_file_id', 'varchar(64)')
    .addColumn('error_file_id', 'varchar(64)')
    /** JSON `{object:'list', data:[{code, message, param, line}]}` when validation failed. */
    .addColumn('errors_json', 'text')
    .addColumn('metadata_json', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('in_progress_at', 'bigint')
    .addColumn('finalizing_at', 'bigint')
    .addColumn('completed_at', 'bigint')
    .addColumn('failed_at', 'bigint')
    .addColumn('expired_at', 'bigint')
    .addColumn('cancelling_at', 'bigint')
    .addColumn('cancelled_at', 'bigint')
    .addColumn('request_total', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('request_completed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('request_failed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('input_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('cached_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('output_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('reasoning_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
    /** The instance validating or finalizing the batch, and until when (a crashed instance's lease runs out). */
    .addColumn('lease_owner', 'varchar(64)')
    .addColumn('lease_until', 'bigint')
    .execute();
  await db.schema.createIndex('batches_key_time').on('batches').columns(['key_id', 'created_at']).execute();
  await db.schema.createIndex('batches_status').on('batches').column('status').execute();

  // One row per input line: where its body is in the input file, and its result once run.
  await db.schema
    .createTable('batch_lines')
    .addColumn('batch_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('line_no', 'integer', (c) => c.notNull())
    .addColumn('custom_id', 'text', (c) => c.notNull())
    /** Byte offset and length of the line in the input file. */
    .addColumn('offset', 'bigint', (c) => c.notNull())
    .addColumn('length', 'integer', (c) => c.notNull())
    /** pending, running, done (output file), error (error file). */
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('claimed_by', 'varchar(64)')
    .addColumn('claimed_until', 'bigint')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    /** The output or error line's JSON. */
    .addColumn('result_json', 'text')
    .addPrimaryKeyConstraint('batch_lines_pk', ['batch_id', 'line_no'])
    .execute();
  await db.schema.createIndex('batch_lines_status').on('batch_lines').columns(['batch_id', 'status']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('batch_lines').execute();
  await db.schema.dropTable('batches').execute();
  await db.schema.dropTable('files').execute();
}
