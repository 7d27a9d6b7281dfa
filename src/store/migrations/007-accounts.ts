import type { Kysely } from 'kysely';

// Never edit a migration after it lands; add a new one.
export async function up(db: Kysely<unknown>): Promise<void> {
  // Customers of a relay: each owns keys and a balance in USD (credited minus spent).
  await db.schema
    .createTable('users')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    /** Lower-cased; a deleted user's address is freed (rewritten to deleted:<id>:...). */
    .addColumn('email', 'varchar(320)', (c) => c.notNull().unique())
    .addColumn('display_name', 'text', (c) => c.notNull())
    /** scrypt$N$r$p$salt$hash (base64url), or null for a user who cannot sign in yet. */
    .addColumn('password_hash', 'text')
    .addColumn('group_name', 'varchar(64)', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    /** Everything ever credited (redemptions, adjustments): the balance is credited_usd - spent_usd. */
    .addColumn('credited_usd', 'double precision', (c) => c.notNull().defaultTo(0))
    .addColumn('spent_usd', 'double precision', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('last_sign_in_at', 'bigint')
    .addColumn('deleted_at', 'bigint')
    .execute();

  await db.schema.alterTable('api_keys').addColumn('user_id', 'varchar(64)').execute();
  await db.schema.createIndex('api_keys_user').on('api_keys').column('user_id').execute();
  await db.schema.alterTable('usage_records').addColumn('user_id', 'varchar(64)').execute();
  await db.schema.createIndex('usage_records_user_time').on('usage_records').columns(['user_id', 'created_at']).execute();

  // Groups made through the admin API (those in the config file are merged in at run time).
  await db.schema
    .createTable('user_groups')
    .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('price_factor', 'double precision', (c) => c.notNull())
    /** JSON array of the models the group may call, or null for all. */
    .addColumn('models', 'text')
    .addColumn('description', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  // Single-use sign-up invites and redemption codes: only hashes are kept.
  await db.schema
    .createTable('invites')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('code_hash', 'varchar(128)', (c) => c.notNull().unique())
    .addColumn('code_prefix', 'varchar(32)', (c) => c.notNull())
    .addColumn('note', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint')
    .addColumn('used_at', 'bigint')
    .addColumn('used_by', 'varchar(64)')
    .execute();

  await db.schema
    .createTable('redemption_codes')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('code_hash', 'varchar(128)', (c) => c.notNull().unique())
    .addColumn('code_prefix', 'varchar(32)', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('amount_usd', 'double precision', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint')
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('redeemed_at', 'bigint')
    .addColumn('redeemed_by', 'varchar(64)')
    .execute();
  await db.schema.createIndex('redemption_codes_time').on('redemption_codes').column('created_at').execute();

  // Every balance change. Charges are one row per user and hour (entry_key charge:<user>:<hour>),
  // added to as usage is written; the rows of a user sum to credited_usd - spent_usd.
  await db.schema
    .createTable('ledger_entries')
    .addColumn('entry_key', 'varchar(200)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    /** charge, redemption, adjustment, refund, signup */
    .addColumn('kind', 'varchar(16)', (c) => c.notNull())
    .addColumn('amount_usd', 'double precision', (c) => c.notNull())
    /** Requests a charge row totals (0 for others). */
    .addColumn('requests', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('ref', 'varchar(128)')
    .addColumn('note', 'text')
    .addColumn('actor', 'varchar(128)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('ledger_user_time').on('ledger_entries').columns(['user_id', 'created_at']).execute();

  // Browser sessions (portal users and the dashboard's admin), shared by every instance; the cookie holds the token, the table its hash.
  await db.schema
    .createTable('sessions')
    .addColumn('token_hash', 'varchar(128)', (c) => c.primaryKey())
    .addColumn('kind', 'varchar(16)', (c) => c.notNull())
    .addColumn('subject', 'varchar(64)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('sessions_subject').on('sessions').columns(['kind', 'subject']).execute();
  await db.schema.createIndex('sessions_expiry').on('sessions').column('expires_at').execute();

  // Admin actions: who changed what, when (no secrets in detail).
  await db.schema
    .createTable('audit_log')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('actor', 'varchar(128)', (c) => c.notNull())
    .addColumn('actor_ip', 'varchar(64)')
    .addColumn('action', 'varchar(64)', (c) => c.notNull())
    .addColumn('target_type', 'varchar(32)', (c) => c.notNull())
    .addColumn('target_id', 'varchar(200)')
    .addColumn('status', 'integer', (c) => c.notNull())
    .addColumn('detail', 'text')
    .execute();
  await db.schema.createIndex('audit_log_time').on('audit_log').columns(['at', 'id']).execute();
  await db.schema.createIndex('audit_log_target').on('audit_log').columns(['target_type', 'target_id', 'at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['audit_log', 'sessions', 'ledger_entries', 'redemption_codes', 'invites', 'user_groups', 'users']) await db.schema.dropTable(t).execute();
  await db.schema.dropIndex('usage_records_user_time').execute();
  await db.schema.alterTable('usage_records').dropColumn('user_id').execute();
  await db.schema.dropIndex('api_keys_user').execute();
  await db.schema.alterTable('api_keys').dropColumn('user_id').execute();
}
