import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { openPostgresStore } from './postgres-store.ts';
import { storeContract } from './store-contract.ts';

// The local PostgreSQL (trust auth, database `test`) is a real peer; CI fails loudly without it.
const url = process.env.GEDGE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
const schemas: string[] = [];

storeContract('postgres', () => {
  const schema = `gedge_test_${randomBytes(4).toString('hex')}`;
  schemas.push(schema);
  return openPostgresStore(url, schema);
});

test('postgres: a database from before user tokens gains the projects column and keeps its tokens', async () => {
  const schema = `gedge_test_${randomBytes(4).toString('hex')}`;
  schemas.push(schema);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.query(`CREATE TABLE ${schema}.tokens (id TEXT PRIMARY KEY, kind TEXT NOT NULL, hash TEXT NOT NULL, description TEXT NOT NULL,
      subject TEXT, created_at TEXT NOT NULL, expires_at TEXT, used_at TEXT)`);
    await client.query(`INSERT INTO ${schema}.tokens VALUES ('a1', 'admin', 'h', 'bootstrap admin', NULL, '2026-01-01T00:00:00Z', NULL, NULL)`);
  } finally {
    await client.end();
  }
  for (let i = 0; i < 2; i++) {
    const s = await openPostgresStore(url, schema);
    try {
      assert.deepEqual((await s.tokens.get('a1'))?.projects, []);
      if (i === 0) await s.tokens.insert({ id: 'u1', kind: 'user', hash: 'h', description: '', subject: null, createdAt: new Date().toISOString(), expiresAt: null, usedAt: null, projects: ['p'] });
      assert.deepEqual((await s.tokens.get('u1'))?.projects, ['p']);
    } finally {
      await s.close();
    }
  }
});

after(async () => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await client.end();
});
