import { mkdirSync } from 'node:fs';
import { restrictFile } from '../../core/index.ts';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { migrate, type Database } from './schema.ts';
import { KyselyStore } from './kysely-store.ts';

/** The embedded default: one SQLite file in WAL mode (or ':memory:'). */
export async function openSqliteStore(file: string, sync: 'full' | 'normal' = 'full'): Promise<KyselyStore> {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const sqlite = new SqliteDatabase(file);
  // Token hashes, device credential hashes, route sink passwords: the owner's alone (the WAL and its index take the file's mode).
  if (file !== ':memory:') restrictFile(file);
  sqlite.pragma('journal_mode = WAL');
  // FULL (the default): every commit's WAL is fsynced before it returns, so what the center acknowledges (an apply,
  // an uplink batch the edge then deletes) survives a power loss too; NORMAL may lose the last commits [sqlite.org/pragma.html#pragma_synchronous].
  sqlite.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  await migrate(db, 'sqlite');
  const levels = ['OFF', 'NORMAL', 'FULL', 'EXTRA'];
  return new KyselyStore(db, () => db.destroy(), async () => `sqlite synchronous=${levels[Number(sqlite.pragma('synchronous', { simple: true }))] ?? 'unknown'}`);
}
