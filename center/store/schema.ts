import type { Generated, Kysely, Migration } from 'kysely';
import { Migrator, sql } from 'kysely';
import { upgradeDurationFields } from './migrate-durations.ts';

/** Tables shared by the SQLite and PostgreSQL stores. JSON columns hold text. */
export interface ObjectsTable {
  kind: string;
  project: string;
  name: string;
  revision: number;
  body: string;
}
export interface ChangesTable {
  revision: Generated<number>;
  kind: string;
  project: string;
  name: string;
  type: string;
  status_only: number;
  body: string;
}
export interface MetaTable {
  key: string;
  value: string;
}
export interface TokensTable {
  id: string;
  kind: string;
  hash: string;
  description: string;
  subject: string | null;
  created_at: string;
  expires_at: string | null;
  used_at: string | null;
  /** JSON array of project names (user tokens); null for other kinds. */
  projects: string | null;
}
/** Per (node, project, route): the highest uplink seq landed in the route's sink, and how many landed (for the Route's uid). */
export interface UplinkProgressTable {
  node: string;
  project: string;
  route: string;
  route_uid: string;
  acked_seq: number;
  delivered: number;
}
/** The table sink's messages; `id` is the paging cursor, (project, route, node, seq) is unique. */
export interface UplinkMessagesTable {
  id: Generated<number>;
  project: string;
  route: string;
  node: string;
  seq: number;
  topic: string;
  device: string | null;
  qos: number;
  at: string;
  received_at: string;
  payload: Buffer;
}
export interface Database {
  objects: ObjectsTable;
  changes: ChangesTable;
  meta: MetaTable;
  tokens: TokensTable;
  uplink_progress: UplinkProgressTable;
  uplink_messages: UplinkMessagesTable;
}

/**
 * Migration 0001: the tables as gedge made them before migrations were
 * recorded. Written to be idempotent (IF NOT EXISTS, columns added when
 * missing), so a database from those releases is adopted as it is and the
 * migration recorded.
 */
async function initialSchema(db: Kysely<Database>, dialect: 'sqlite' | 'postgres'): Promise<void> {
  await db.schema
    .createTable('objects')
    .ifNotExists()
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('revision', 'bigint', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('objects_pk', ['kind', 'project', 'name'])
    .execute();
  // The revision counter is the change log's key: AUTOINCREMENT (SQLite) and
  // an identity column (PostgreSQL) never reuse a value, even after compaction.
  if (dialect === 'sqlite') {
    await sql`CREATE TABLE IF NOT EXISTS changes (
      revision INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, project TEXT NOT NULL,
      name TEXT NOT NULL, type TEXT NOT NULL, status_only INTEGER NOT NULL, body TEXT NOT NULL)`.execute(db);
  } else {
    await sql`CREATE TABLE IF NOT EXISTS changes (
      revision BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, kind TEXT NOT NULL, project TEXT NOT NULL,
      name TEXT NOT NULL, type TEXT NOT NULL, status_only INTEGER NOT NULL, body TEXT NOT NULL)`.execute(db);
  }
  await db.schema
    .createTable('meta')
    .ifNotExists()
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('tokens')
    .ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('subject', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text')
    .addColumn('used_at', 'text')
    .execute();
  await addColumnIfMissing(db, dialect, 'tokens', 'projects', sql`TEXT`);
  // A node's credentials and certificates are looked up by subject at every connect, renewal and revocation.
  await db.schema.createIndex('tokens_subject_kind').ifNotExists().on('tokens').columns(['subject', 'kind']).execute();
  await migrateUplink(db, dialect);
}

/**
 * Columns added after a table first shipped: existing databases get them on
 * start-up (new ones too, right after CREATE TABLE). PostgreSQL says IF NOT
 * EXISTS itself, so two centers starting together cannot both add it.
 */
async function addColumnIfMissing(db: Kysely<Database>, dialect: 'sqlite' | 'postgres', table: string, column: string, type: ReturnType<typeof sql>): Promise<void> {
  if (dialect === 'postgres') return void (await sql`ALTER TABLE ${sql.table(table)} ADD COLUMN IF NOT EXISTS ${sql.ref(column)} ${type}`.execute(db));
  const { rows } = await sql<{ name: string }>`PRAGMA table_info(${sql.table(table)})`.execute(db);
  if (!rows.some((r) => r.name === column)) await sql`ALTER TABLE ${sql.table(table)} ADD COLUMN ${sql.ref(column)} ${type}`.execute(db);
}

async function migrateUplink(db: Kysely<Database>, dialect: 'sqlite' | 'postgres'): Promise<void> {
  const [id, blob] = dialect === 'sqlite' ? [sql`id INTEGER PRIMARY KEY AUTOINCREMENT`, sql`BLOB`] : [sql`id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY`, sql`BYTEA`];
  await sql`CREATE TABLE IF NOT EXISTS uplink_progress (
    node TEXT NOT NULL, project TEXT NOT NULL, route TEXT NOT NULL, route_uid TEXT NOT NULL,
    acked_seq BIGINT NOT NULL, delivered BIGINT NOT NULL, PRIMARY KEY (node, project, route))`.execute(db);
  await sql`CREATE TABLE IF NOT EXISTS uplink_messages (
    ${id}, project TEXT NOT NULL, route TEXT NOT NULL, node TEXT NOT NULL, seq BIGINT NOT NULL,
    topic TEXT NOT NULL, device TEXT, qos INTEGER NOT NULL, at TEXT NOT NULL, received_at TEXT NOT NULL,
    payload ${blob} NOT NULL, UNIQUE (project, route, node, seq))`.execute(db);
  await sql`CREATE INDEX IF NOT EXISTS uplink_messages_by_route ON uplink_messages (project, route, id)`.execute(db);
  await sql`CREATE INDEX IF NOT EXISTS uplink_messages_by_device ON uplink_messages (project, route, device, id)`.execute(db);
}

/**
 * Every change to the store's tables, in order, by name. One that has
 * shipped never changes: a later change is a new migration after it.
 */
function migrations(dialect: 'sqlite' | 'postgres'): Record<string, Migration> {
  return {
    '0001-initial': { up: (db) => initialSchema(db as Kysely<Database>, dialect) },
    // The kind Link became SiteLink (GS-Link takes the word): its objects and their history.
    '0002-sitelink': {
      up: async (db) => {
        for (const table of ['objects', 'changes'] as const) {
          await sql`UPDATE ${sql.table(table)} SET kind = 'SiteLink', body = replace(body, '"kind":"Link"', '"kind":"SiteLink"') WHERE kind = 'Link'`.execute(db);
        }
      },
    },
    // Every duration field became a duration string (core/legacy-fields.ts); template hashes follow.
    '0003-durations': { up: (db) => upgradeDurationFields(db) },
  };
}

/**
 * Brings the store's tables to this version through Kysely's Migrator,
 * which records each migration it ran (table kysely_migration) and holds a
 * lock meanwhile, so two centers starting on one PostgreSQL migrate once.
 * A database that a newer gedge migrated further is refused, not damaged.
 */
export async function migrate(db: Kysely<Database>, dialect: 'sqlite' | 'postgres', schema?: string): Promise<void> {
  const known = migrations(dialect);
  // PostgreSQL: the record lives in the store's own schema (Kysely would otherwise look for it in the default one).
  const { error } = await new Migrator({ db, provider: { getMigrations: async () => known }, ...(schema ? { migrationTableSchema: schema } : {}) }).migrateToLatest();
  if (!error) return;
  const unknown = /previously executed migration (\S+) is missing/.exec((error as Error).message)?.[1];
  if (unknown) throw new Error(`the store was migrated by a newer gedge (migration ${unknown}; this version knows ${Object.keys(known).join(', ')}): run that version, or restore a backup`, { cause: error });
  throw new Error(`cannot migrate the store: ${(error as Error).message}`, { cause: error });
}
