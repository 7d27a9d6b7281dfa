import type { Kysely } from 'kysely';

// Never edit a migration after it lands; add a new one.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('api_keys').addColumn('tpm', 'integer').execute();
  await db.schema.alterTable('api_keys').addColumn('max_concurrency', 'integer').execute();
  /** JSON array of CIDR ranges, or null for any address. */
  await db.schema.alterTable('api_keys').addColumn('allowed_ips', 'text').execute();

  await db.schema.alterTable('usage_records').addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(1)).execute();
  /** The model the client asked for, when a fallback model answered. */
  await db.schema.alterTable('usage_records').addColumn('requested_model', 'text').execute();

  // Upstreams added at run time (source 'api'), and admin switches for YAML upstreams (source 'config', no config_json).
  await db.schema
    .createTable('upstreams')
    .addColumn('name', 'varchar(128)', (c) => c.primaryKey())
    .addColumn('source', 'varchar(16)', (c) => c.notNull())
    /** The upstream's config without credentials. */
    .addColumn('config_json', 'text')
    /** AES-256-GCM sealed JSON array of credentials. */
    .addColumn('credentials_enc', 'text')
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  // One counter bumped on every change to keys or upstreams: instances poll it to see changes made elsewhere (the CLI, another gateway).
  await db.schema
    .createTable('change_counter')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('value', 'bigint', (c) => c.notNull())
    .execute();
  await db.insertInto('change_counter' as never).values({ id: 1, value: 0 } as never).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('change_counter').execute();
  await db.schema.dropTable('upstreams').execute();
  await db.schema.alterTable('usage_records').dropColumn('requested_model').execute();
  await db.schema.alterTable('usage_records').dropColumn('attempts').execute();
  await db.schema.alterTable('api_keys').dropColumn('allowed_ips').execute();
  await db.schema.alterTable('api_keys').dropColumn('max_concurrency').execute();
  await db.schema.alterTable('api_keys').dropColumn('tpm').execute();
}
