import type { Kysely } from 'kysely';

// Never edit a migration after it lands; add a new one.
export async function up(db: Kysely<unknown>): Promise<void> {
  // Server-kept chat conversations (POST /v1/chat/conversation), scoped to the key.
  await db.schema
    .createTable('conversations')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('key_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('system', 'text')
    /** JSON array of {role, content, tokens}, oldest first. */
    .addColumn('messages_json', 'text', (c) => c.notNull())
    /** Bumped by every saved turn; a write names the version it read. */
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    /** The instance running a turn on the conversation, and until when (a crashed instance's lease runs out). */
    .addColumn('lease_owner', 'varchar(64)')
    .addColumn('lease_until', 'bigint')
    .execute();
  await db.schema.createIndex('conversations_key_time').on('conversations').columns(['key_id', 'created_at']).execute();
  await db.schema.createIndex('conversations_expiry').on('conversations').column('expires_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('conversations').execute();
}
