import type { Kysely } from 'kysely';

// Never edit a migration after it lands; add a new one.
export async function up(db: Kysely<unknown>): Promise<void> {
  /** What the request was metered in: tokens, images, characters or seconds (of audio). */
  await db.schema.alterTable('usage_records').addColumn('unit', 'varchar(16)', (c) => c.notNull().defaultTo('tokens')).execute();
  /** How many of `unit` beyond tokens: images made, characters spoken, seconds transcribed (0 for token-metered calls). */
  await db.schema.alterTable('usage_records').addColumn('quantity', 'double precision', (c) => c.notNull().defaultTo(0)).execute();

  // Responses the gateway stored (`store: true`) for GET /v1/responses/{id} and previous_response_id, scoped to the key.
  await db.schema
    .createTable('stored_responses')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('key_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('previous_response_id', 'varchar(64)')
    /** The normalised input items of this turn (JSON array). */
    .addColumn('input_json', 'text', (c) => c.notNull())
    /** The Response object as the client received it (JSON). */
    .addColumn('response_json', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('stored_responses_key').on('stored_responses').columns(['key_id', 'created_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('stored_responses').execute();
  await db.schema.alterTable('usage_records').dropColumn('quantity').execute();
  await db.schema.alterTable('usage_records').dropColumn('unit').execute();
}
