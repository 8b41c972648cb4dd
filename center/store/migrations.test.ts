import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import type { Service } from '../../core/index.ts';
import { changesAfter } from './change-feed.ts';
import { openSqliteStore } from './sqlite-store.ts';
import { openPostgresStore } from './postgres-store.ts';

/**
 * The store's tables change through recorded migrations (schema.ts): a
 * database from the releases before them is adopted as it is, a migrated one
 * runs nothing twice, and one a newer gedge migrated is refused untouched.
 */

const dir = mkdtempSync(join(tmpdir(), 'gedge-migrations-'));
const url = process.env.GEDGE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
const schemas: string[] = [];
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await client.end();
});

/** A SQLite file holding the dump of a store written before migrations were recorded, Link kind and all (fixtures/). */
function previousRelease(): string {
  const file = join(dir, `${randomBytes(4).toString('hex')}.db`);
  const db = new SqliteDatabase(file);
  db.exec(readFileSync(new URL('./fixtures/store-before-migrations.sql', import.meta.url), 'utf8'));
  db.close();
  return file;
}

const recorded = (file: string): string[] => {
  const db = new SqliteDatabase(file, { readonly: true });
  try {
    return (db.prepare('SELECT name FROM kysely_migration ORDER BY name').all() as { name: string }[]).map((r) => r.name);
  } finally {
    db.close();
  }
};

test("sqlite: the previous release's database is adopted with everything in it, and the migration recorded", async () => {
  const file = previousRelease();
  const s = await openSqliteStore(file);
  try {
    assert.deepEqual(recorded(file), ['0001-initial', '0002-sitelink']);
    const web = await s.get('Service', 'p1', 'web');
    assert.equal((web as Service | undefined)?.spec.replicas, 2);
    assert.deepEqual((await s.list('Project')).items.map((p) => p.metadata.name), ['p1']);
    assert.equal(await s.currentRevision(), 4);
    // 0002: the kind Link is SiteLink now, in the objects and in their history.
    const link = await s.get('SiteLink', undefined, 'cloud--edge-a');
    assert.equal(link?.kind, 'SiteLink');
    assert.equal(link?.status?.rttMs, 50.2);
    const history: string[] = [];
    for await (const c of changesAfter(s, 0)) history.push(`${c.revision} ${c.object.kind}`);
    assert.deepEqual(history, ['1 Project', '2 Site', '3 Service', '4 SiteLink']);
    assert.equal((await s.tokens.get('tok1'))?.description, 'fixture admin');
    assert.deepEqual((await s.uplink.messages('p1', 'flows', { after: 0, limit: 10 })).map((m) => m.payload.toString()), ['{"n":1}', '{"n":2}']);
    const next = await s.create({ apiVersion: 'gedge.io/v1', kind: 'Project', metadata: { name: 'p2', labels: {} }, spec: {} } as never);
    assert.equal(next.metadata.revision, 5, 'revisions go on from the old ones');
  } finally {
    await s.close();
  }
  // Opened again: nothing runs twice.
  await (await openSqliteStore(file)).close();
  assert.deepEqual(recorded(file), ['0001-initial', '0002-sitelink']);
});

test('sqlite: a store a newer gedge migrated is refused, naming the migration, and left as it was', async () => {
  const file = previousRelease();
  await (await openSqliteStore(file)).close();
  const db = new SqliteDatabase(file);
  db.prepare("INSERT INTO kysely_migration (name, timestamp) VALUES ('9999-from-the-future', '2027-01-01T00:00:00.000Z')").run();
  db.close();
  await assert.rejects(openSqliteStore(file), /migrated by a newer gedge \(migration 9999-from-the-future; this version knows 0001-initial, 0002-sitelink\)/);
  assert.deepEqual(recorded(file), ['0001-initial', '0002-sitelink', '9999-from-the-future']);
});

test('postgres: a schema from before recorded migrations is adopted; two centers opening it at once migrate it once', async () => {
  const schema = `gedge_test_${randomBytes(4).toString('hex')}`;
  schemas.push(schema);
  const first = await openPostgresStore(url, schema);
  await first.create({ apiVersion: 'gedge.io/v1', kind: 'Project', metadata: { name: 'p1', labels: {} }, spec: {} } as never);
  await first.close();
  // What the releases before migrations left: the same tables, no record of any migration.
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP TABLE ${schema}.kysely_migration, ${schema}.kysely_migration_lock`);
    const [a, b] = await Promise.all([openPostgresStore(url, schema), openPostgresStore(url, schema)]);
    assert.deepEqual((await a.list('Project')).items.map((p) => p.metadata.name), ['p1']);
    await Promise.all([a.close(), b.close()]);
    const { rows } = await client.query(`SELECT name FROM ${schema}.kysely_migration`);
    assert.deepEqual(rows.map((r: { name: string }) => r.name), ['0001-initial', '0002-sitelink']);
  } finally {
    await client.end();
  }
});
