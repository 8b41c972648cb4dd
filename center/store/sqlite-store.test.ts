import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import SqliteDatabase from 'better-sqlite3';
import { openSqliteStore } from './sqlite-store.ts';
import { storeContract } from './store-contract.ts';

storeContract('sqlite', () => openSqliteStore(':memory:'));

test('sqlite: commits are fsynced before they are acknowledged (synchronous=FULL, read back from the connection) unless NORMAL is asked for', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gedge-store-'));
  try {
    const full = await openSqliteStore(join(dir, 'a.db'));
    assert.equal(await full.durability(), 'sqlite synchronous=FULL');
    await full.close();
    const normal = await openSqliteStore(join(dir, 'b.db'), 'normal');
    assert.equal(await normal.durability(), 'sqlite synchronous=NORMAL');
    await normal.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite: state and revisions survive a reopen of the same file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gedge-store-'));
  try {
    const file = join(dir, 'center.db');
    const a = await openSqliteStore(file);
    await a.create({ apiVersion: 'gedge.io/v1', kind: 'Project', metadata: { name: 'p', labels: {} }, spec: { description: '' } });
    const rev = await a.currentRevision();
    await a.close();
    const b = await openSqliteStore(file);
    assert.equal(await b.currentRevision(), rev);
    assert.equal((await b.get('Project', undefined, 'p'))?.metadata.revision, rev);
    await b.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite: a database from before user tokens gains the projects column and keeps its tokens', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gedge-store-'));
  try {
    const file = join(dir, 'center.db');
    const old = new SqliteDatabase(file);
    old.exec(`CREATE TABLE tokens (id TEXT PRIMARY KEY, kind TEXT NOT NULL, hash TEXT NOT NULL, description TEXT NOT NULL,
      subject TEXT, created_at TEXT NOT NULL, expires_at TEXT, used_at TEXT)`);
    old.prepare(`INSERT INTO tokens VALUES ('a1', 'admin', 'h', 'bootstrap admin', NULL, '2026-01-01T00:00:00Z', NULL, NULL)`).run();
    old.close();
    for (let i = 0; i < 2; i++) {
      // Twice: the migration is idempotent.
      const s = await openSqliteStore(file);
      assert.deepEqual((await s.tokens.get('a1'))?.projects, []);
      if (i === 0) await s.tokens.insert({ id: 'u1', kind: 'user', hash: 'h', description: '', subject: null, createdAt: new Date().toISOString(), expiresAt: null, usedAt: null, projects: ['p'] });
      assert.deepEqual((await s.tokens.get('u1'))?.projects, ['p']);
      await s.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
