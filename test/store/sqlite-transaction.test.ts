/**
 * sqliteTransaction (batch claims and results on SQLite): prepared statements as one
 * transaction, at once when the connection is free, queued behind a Kysely transaction
 * that holds it across awaits, never inside it.
 */
import { sql } from 'kysely';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openStore, prepared, sqliteTransaction, type Store } from '../../src/store/db.ts';

let store: Store;

beforeEach(async () => {
  store = openStore('sqlite::memory:');
  await sql`CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)`.execute(store.db);
});

afterEach(async () => {
  await store.close();
});

const rows = (): Array<{ k: string; v: number }> => store.sqlite!.prepare('SELECT k, v FROM t ORDER BY k').all() as Array<{ k: string; v: number }>;
const insert = (k: string, v: number): void => void prepared(store.sqlite!, 'INSERT INTO t (k, v) VALUES (?, ?)').run(k, v);

it('runs at once on a free connection, and rolls back everything when it throws', async () => {
  const done = sqliteTransaction(store, store.sqlite!, () => {
    insert('a', 1);
    insert('b', 2);
    return 'ok';
  });
  // Synchronous: the rows are there before the promise is even awaited.
  expect(rows()).toEqual([{ k: 'a', v: 1 }, { k: 'b', v: 2 }]);
  expect(await done).toBe('ok');
  await expect(
    sqliteTransaction(store, store.sqlite!, () => {
      insert('c', 3);
      insert('a', 9); // primary key taken: throws
    }),
  ).rejects.toThrow(/UNIQUE/);
  expect(rows()).toEqual([{ k: 'a', v: 1 }, { k: 'b', v: 2 }]);
  expect(store.sqlite!.inTransaction).toBe(false);
});

it('waits for a Kysely transaction that holds the connection, and stays out of it (its rollback keeps ours)', async () => {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const other = store.db
    .transaction()
    .execute(async (trx) => {
      await sql`INSERT INTO t (k, v) VALUES ('other', 1)`.execute(trx);
      await held;
      throw new Error('roll back');
    })
    .catch((err: Error) => err.message);
  await new Promise((r) => setTimeout(r, 10));
  expect(store.sqlite!.inTransaction).toBe(true);

  let ran = false;
  const ours = sqliteTransaction(store, store.sqlite!, () => {
    ran = true;
    insert('ours', 2);
    return rows().length;
  });
  await new Promise((r) => setTimeout(r, 10));
  expect(ran).toBe(false);
  release();
  expect(await other).toBe('roll back');
  // Ran after the other transaction ended: it saw none of its rows.
  expect(await ours).toBe(1);
  expect(rows()).toEqual([{ k: 'ours', v: 2 }]);

  // Queued and failing: rolled back too, and the connection is free again.
  let holdAgain!: () => void;
  const again = new Promise<void>((r) => (holdAgain = r));
  const second = store.db.transaction().execute(async () => {
    await again;
  });
  await new Promise((r) => setTimeout(r, 10));
  const failing = sqliteTransaction(store, store.sqlite!, () => {
    insert('late', 3);
    throw new Error('nope');
  });
  holdAgain();
  await second;
  await expect(failing).rejects.toThrow('nope');
  expect(rows()).toEqual([{ k: 'ours', v: 2 }]);
  expect(store.sqlite!.inTransaction).toBe(false);
});

it('given a store inside a Kysely transaction, runs as part of that transaction', async () => {
  const err = await store.db
    .transaction()
    .execute(async (trx) => {
      const inner = await sqliteTransaction({ ...store, db: trx }, store.sqlite!, () => {
        insert('inner', 1);
        return rows().length;
      });
      expect(inner).toBe(1);
      throw new Error('roll back both');
    })
    .catch((e: Error) => e.message);
  expect(err).toBe('roll back both');
  expect(rows()).toEqual([]);
});
