import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { migrate, type Database } from './schema.ts';
import { KyselyStore } from './kysely-store.ts';

// BIGINT revisions fit a JS number for 2^53 writes; parse them as numbers.
pg.types.setTypeParser(20, (v) => Number(v));

/** PostgreSQL store. `schema` isolates one center (or one test) from another. */
export async function openPostgresStore(connectionString: string, schema = 'public'): Promise<KyselyStore> {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`invalid schema name "${schema}"`);
  const pool = new pg.Pool({ connectionString, max: 4, options: `-c search_path=${schema}` });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(db);
  await migrate(db, 'postgres', schema);
  return new KyselyStore(db, () => db.destroy(), async () => `postgresql synchronous_commit=${(await sql<{ synchronous_commit: string }>`SHOW synchronous_commit`.execute(db)).rows[0]?.synchronous_commit ?? 'unknown'}`);
}
