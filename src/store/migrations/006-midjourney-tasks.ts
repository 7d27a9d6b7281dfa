import type { Kysely } from 'kysely';

// Never edit a migration after it lands; add a new one.
export async function up(db: Kysely<unknown>): Promise<void> {
  // Midjourney tasks relayed to `midjourney` upstreams: the gateway's id, the upstream's, and the polling state.
  await db.schema
    .createTable('mj_tasks')
    /** The id clients see (digits, like the upstream's own ids). */
    .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
    .addColumn('key_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('upstream', 'varchar(128)', (c) => c.notNull())
    .addColumn('upstream_task_id', 'varchar(128)', (c) => c.notNull())
    /** The submit that created it: imagine, action, blend, describe, modal, shorten. */
    .addColumn('submit', 'varchar(16)', (c) => c.notNull())
    /** mj-fast, mj-relax, mj-turbo, or null for the plain /mj path. */
    .addColumn('mode', 'varchar(16)')
    .addColumn('action', 'varchar(32)', (c) => c.notNull())
    .addColumn('status', 'varchar(32)', (c) => c.notNull())
    /** The upstream's task object as last polled (known fields only), JSON. */
    .addColumn('task_json', 'text')
    .addColumn('image_url', 'text')
    /** JSON array of the usage request ids that charged for this task (refunded if it fails). */
    .addColumn('charges_json', 'text', (c) => c.notNull())
    /** 1 while the poller has work on the task: not finished, or a refund not yet made. */
    .addColumn('active', 'integer', (c) => c.notNull())
    .addColumn('refund_due', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    /** The latest submit that set the task running (a modal restarts it): its timeout counts from here. */
    .addColumn('submitted_at', 'bigint', (c) => c.notNull())
    .addColumn('next_poll_at', 'bigint', (c) => c.notNull())
    /** The instance polling the task now, and until when (a crashed instance's lease runs out). */
    .addColumn('lease_owner', 'varchar(64)')
    .addColumn('lease_until', 'bigint')
    .execute();
  await db.schema.createIndex('mj_tasks_key_time').on('mj_tasks').columns(['key_id', 'created_at']).execute();
  await db.schema.createIndex('mj_tasks_upstream_id').on('mj_tasks').columns(['upstream', 'upstream_task_id']).execute();
  await db.schema.createIndex('mj_tasks_poll').on('mj_tasks').columns(['active', 'next_poll_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('mj_tasks').execute();
}
