import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './tables.ts';

export type Dialect = 'sqlite' | 'postgres';

export interface Store {
  db: Kysely<Database>;
  dialect: Dialect;
  /** The SQLite handle, for the few statements worth preparing once (the usage writer). */
  sqlite?: SQLite.Database;
  close(): Promise<void>;
}

// PostgreSQL returns BIGINT as text; every bigint here is a millisecond time or a token count well below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));
// NUMERIC / DOUBLE come back as numbers too.
pg.types.setTypeParser(1700, (v) => Number(v));

const statements = new WeakMap<SQLite.Database, Map<string, SQLite.Statement>>();

/** One prepared statement per SQL text and connection: Kysely compiles and prepares every query anew. */
export function prepared(db: SQLite.Database, text: string): SQLite.Statement {
  let byText = statements.get(db);
  if (!byText) statements.set(db, (byText = new Map()));
  let stmt = byText.get(text);
  if (!stmt) byText.set(text, (stmt = db.prepare(text)));
  return stmt;
}

/**
 * Runs `fn` (prepared statements on the SQLite connection) as one transaction. With no
 * transaction open on the connection it runs at once and synchronously, so nothing else can
 * interleave; while a Kysely transaction holds the connection (open across awaits), it waits
 * for it inside a Kysely transaction of its own; given a store inside a Kysely transaction
 * (`{ ...store, db: trx }`), it runs as part of that one.
 */
export function sqliteTransaction<T>(store: Store, sqlite: SQLite.Database, fn: () => T): Promise<T> {
  // A store whose db is a Kysely transaction already holds the connection: its statements join it.
  if (store.db.isTransaction) return Promise.resolve().then(fn);
  if (!sqlite.inTransaction) {
    try {
      return Promise.resolve(sqlite.transaction(fn)());
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }
  return store.db.transaction().execute(async () => fn());
}

/** `sqlite:PATH` (relative to cwd, or absolute; `sqlite::memory:` for tests) or `postgres://...`. */
export function openStore(url: string, cwd = process.cwd()): Store {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length);
    const path = file === ':memory:' ? file : resolve(cwd, file);
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const sqlite = new SQLite(path);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
    return { db, dialect: 'sqlite', sqlite, close: () => db.destroy() };
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 5000 });
    // An idle connection dropped by the server (or the network) must not crash the process: the next query reconnects.
    pool.on('error', () => undefined);
    pool.on('connect', (client) => client.on('error', () => undefined));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, dialect: 'postgres', close: () => db.destroy() };
  }
  throw new Error(`unsupported database URL (want sqlite:PATH or postgres://...): ${url.replace(/\/\/[^@]*@/, '//***@')}`);
}
