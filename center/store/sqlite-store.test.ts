import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSqliteStore } from './sqlite-store.ts';
import { storeContract } from './store-contract.ts';

storeContract('sqlite', () => openSqliteStore(':memory:'));

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
