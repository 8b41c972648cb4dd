import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { serviceSchema, templateHash, type DeviceCommand, type Instance, type Project, type Route, type Rule, type Service, type SiteLink } from '../../core/index.ts';
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
    assert.deepEqual(recorded(file), ['0001-initial', '0002-sitelink', '0003-durations']);
    const web = await s.get('Service', 'p1', 'web');
    assert.equal(web?.spec.replicas, 2);
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
    const next = await s.create({ apiVersion: 'gedge.io/v1', kind: 'Project', metadata: { name: 'p2', labels: {} }, spec: {} } as Project);
    assert.equal(next.metadata.revision, 5, 'revisions go on from the old ones');
  } finally {
    await s.close();
  }
  // Opened again: nothing runs twice.
  await (await openSqliteStore(file)).close();
  assert.deepEqual(recorded(file), ['0001-initial', '0002-sitelink', '0003-durations']);
});

test('sqlite: a store a newer gedge migrated is refused, naming the migration, and left as it was', async () => {
  const file = previousRelease();
  await (await openSqliteStore(file)).close();
  const db = new SqliteDatabase(file);
  db.prepare("INSERT INTO kysely_migration (name, timestamp) VALUES ('9999-from-the-future', '2027-01-01T00:00:00.000Z')").run();
  db.close();
  await assert.rejects(openSqliteStore(file), /migrated by a newer gedge \(migration 9999-from-the-future; this version knows 0001-initial, 0002-sitelink, 0003-durations\)/);
  assert.deepEqual(recorded(file), ['0001-initial', '0002-sitelink', '0003-durations', '9999-from-the-future']);
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
    assert.deepEqual(rows.map((r: { name: string }) => r.name), ['0001-initial', '0002-sitelink', '0003-durations']);
  } finally {
    await client.end();
  }
});

// ---- 0003: durations ------------------------------------------------------------------------------

const meta = (name: string, project = 'p1') => ({ name, project, labels: {}, generation: 1, createdAt: '2026-12-01T00:00:00.000Z', uid: `uid-${name}` });
/** A template and placement as the previous release stored them (defaults filled in, durations as numbers), with a user's env key of an old field's name. */
const oldTemplate = {
  runtime: 'process', command: ['node', 'api.js'], env: { timeoutMs: '7' }, ports: [], volumes: [], resources: { cpu: 0, memoryMiB: 0, diskMiB: 0, accelerators: {} }, restartPolicy: 'Always',
  readiness: { http: { port: 8080, path: '/' }, initialDelayMs: 0, periodMs: 1000, timeoutMs: 1000, failureThreshold: 3 },
  liveness: { tcp: { port: 8080 }, initialDelayMs: 5000, periodMs: 2000, timeoutMs: 500, failureThreshold: 3 },
  stopGraceMs: 5000,
};
const oldPlacement = { clients: { sites: ['edge-a'] }, maxLatencyMs: 10 };
const OLD_HASH = 'a1b2c3d4e5f6';
/** Objects of every kind that had a duration field, as the previous release wrote them. */
const legacyObjects = [
  { kind: 'Service', project: 'p1', name: 'api', body: { apiVersion: 'gedge.io/v1', kind: 'Service', metadata: meta('api'),
    spec: { replicas: 1, maxUnavailable: 1, maxSurge: 1, template: oldTemplate, placement: oldPlacement, rollout: { paused: false, progressDeadlineMs: 120_000, maxRestarts: 3, autoRollback: true } },
    status: { replicas: 1, ready: 1, conditions: [], revision: 1, revisions: [{ revision: 1, hash: OLD_HASH, template: oldTemplate, placement: oldPlacement, createdAt: '2026-12-01T00:00:00.000Z' }] } } },
  { kind: 'Instance', project: 'p1', name: 'api-x1', body: { apiVersion: 'gedge.io/v1', kind: 'Instance', metadata: meta('api-x1'),
    spec: { service: 'api', node: 'edge-a-1', template: oldTemplate, placement: oldPlacement, templateHash: OLD_HASH, revision: 1 } } },
  { kind: 'Rule', project: 'p1', name: 'hook', body: { apiVersion: 'gedge.io/v1', kind: 'Rule', metadata: meta('hook'),
    spec: { sql: 'SELECT a FROM "x"', target: {}, actions: [{ webhook: { url: 'http://127.0.0.1:9/h', method: 'POST', headers: { timeoutMs: 'kept' }, timeoutMs: 2500 } }], tables: {}, retry: { initialMs: 100, maxMs: 30_000, maxQueue: 10_000 }, paused: false } } },
  { kind: 'Route', project: 'p1', name: 'kept', body: { apiVersion: 'gedge.io/v1', kind: 'Route', metadata: meta('kept'), spec: { topic: 'devices/#', sink: { type: 'table', retention: { maxAgeHours: 48 } } } } },
  { kind: 'DeviceCommand', project: 'p1', name: 'blink', body: { apiVersion: 'gedge.io/v1', kind: 'DeviceCommand', metadata: meta('blink'), spec: { device: 'lamp', topic: 'commands', payload: { ttlMs: 1 }, ttlMs: 90_000 } } },
  { kind: 'SiteLink', project: '', name: 'edge-a--edge-b', body: { apiVersion: 'gedge.io/v1', kind: 'SiteLink', metadata: meta('edge-a--edge-b', ''), spec: { sites: ['edge-a', 'edge-b'], declaredRttMs: 25 } } },
];

/** The Service as this release writes it from the same manifest: the migrated one must read the same, key order and all (its hash depends on it). */
const sameServiceToday = serviceSchema.parse({
  apiVersion: 'gedge.io/v1', kind: 'Service', metadata: { name: 'api', labels: {} },
  spec: { template: { command: ['node', 'api.js'], env: { timeoutMs: '7' }, readiness: { http: { port: 8080 } }, liveness: { tcp: { port: 8080 }, initialDelay: '5s', period: '2s', timeout: '500ms' } }, placement: { clients: { sites: ['edge-a'] }, maxLatency: '10ms' } },
});

async function assertMigratedDurations(get: <T>(kind: string, project: string | undefined, name: string) => Promise<T>): Promise<void> {
  const api = await get<Service>('Service', 'p1', 'api');
  assert.equal(JSON.stringify(api.spec), JSON.stringify(sameServiceToday.spec), 'the spec reads as this release writes it');
  const hash = templateHash(api.spec.template, api.spec.placement);
  assert.notEqual(hash, OLD_HASH);
  assert.equal(api.status?.revisions[0]?.hash, hash, 'the revision hash follows its rewritten template');
  const instance = await get<Instance>('Instance', 'p1', 'api-x1');
  assert.equal(instance.spec.templateHash, hash, 'so the running instance is still current: the upgrade restarts nothing');
  assert.deepEqual(instance.spec.template, api.spec.template);
  const rule = await get<Rule>('Rule', 'p1', 'hook');
  assert.deepEqual(rule.spec.actions[0], { webhook: { url: 'http://127.0.0.1:9/h', method: 'POST', headers: { timeoutMs: 'kept' }, timeout: '2s500ms' } }, "a user's header of the same name is left alone");
  assert.deepEqual(rule.spec.retry, { initialBackoff: '100ms', maxBackoff: '30s', maxQueue: 10_000 });
  assert.deepEqual((await get<Route>('Route', 'p1', 'kept')).spec.sink, { type: 'table', retention: { maxAge: '2d' } });
  assert.deepEqual((await get<DeviceCommand>('DeviceCommand', 'p1', 'blink')).spec, { device: 'lamp', topic: 'commands', payload: { ttlMs: 1 }, ttl: '1m30s' });
  assert.deepEqual((await get<SiteLink>('SiteLink', undefined, 'edge-a--edge-b')).spec, { sites: ['edge-a', 'edge-b'], declaredRtt: '25ms' });
}

test('sqlite: 0003 writes every duration field as a duration, in the objects and their history, and keeps running instances current', async () => {
  const file = previousRelease();
  const db = new SqliteDatabase(file);
  legacyObjects.forEach((o, i) => {
    db.prepare('INSERT INTO objects VALUES (?, ?, ?, ?, ?)').run(o.kind, o.project, o.name, 5 + i, JSON.stringify(o.body));
    db.prepare('INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?, ?)').run(5 + i, o.kind, o.project, o.name, 'ADDED', 0, JSON.stringify(o.body));
  });
  db.prepare("UPDATE meta SET value = ? WHERE key = 'revision'").run(String(4 + legacyObjects.length));
  db.close();
  const s = await openSqliteStore(file);
  try {
    await assertMigratedDurations(async (kind, project, name) => (await s.get(kind as never, project, name)) as never);
    const history = new Map<string, unknown>();
    for await (const c of changesAfter(s, 4)) history.set(`${c.object.kind}/${c.object.metadata.name}`, c.object);
    await assertMigratedDurations(async (kind, _project, name) => history.get(`${kind}/${name}`) as never);
    assert.equal(await s.currentRevision(), 4 + legacyObjects.length, 'a rewrite is not a change: agents resuming from their revision get nothing new');
  } finally {
    await s.close();
  }
});

test('postgres: 0003 rewrites inside the migration transaction', async () => {
  const schema = `gedge_test_${randomBytes(4).toString('hex')}`;
  schemas.push(schema);
  await (await openPostgresStore(url, schema)).close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DELETE FROM ${schema}.kysely_migration WHERE name = '0003-durations'`);
    for (const o of legacyObjects) await client.query(`INSERT INTO ${schema}.objects VALUES ($1, $2, $3, 1, $4)`, [o.kind, o.project, o.name, JSON.stringify(o.body)]);
    const s = await openPostgresStore(url, schema);
    try {
      await assertMigratedDurations(async (kind, project, name) => (await s.get(kind as never, project, name)) as never);
    } finally {
      await s.close();
    }
  } finally {
    await client.end();
  }
});
