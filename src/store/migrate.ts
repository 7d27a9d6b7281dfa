import { type Migration, type MigrationProvider, Migrator } from 'kysely';
import * as m001 from './migrations/001-initial.ts';
import * as m002 from './migrations/002-limits-and-upstreams.ts';
import * as m003 from './migrations/003-units-and-responses.ts';
import * as m004 from './migrations/004-files-and-batches.ts';
import * as m005 from './migrations/005-conversations.ts';
import * as m006 from './migrations/006-midjourney-tasks.ts';
import * as m007 from './migrations/007-accounts.ts';
import * as m008 from './migrations/008-request-log-indexes.ts';
import type { Store } from './db.ts';

/** Migrations are listed in code so they ship with the program (no directory scan at run time). */
const MIGRATIONS: Record<string, Migration> = {
  '001-initial': m001,
  '002-limits-and-upstreams': m002,
  '003-units-and-responses': m003,
  '004-files-and-batches': m004,
  '005-conversations': m005,
  '006-midjourney-tasks': m006,
  '007-accounts': m007,
  '008-request-log-indexes': m008,
};

class StaticProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return MIGRATIONS;
  }
}

export async function migrateToLatest(store: Store): Promise<string[]> {
  const migrator = new Migrator({ db: store.db, provider: new StaticProvider() });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
