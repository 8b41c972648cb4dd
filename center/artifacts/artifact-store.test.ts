import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { tinyClassifier } from '../../testkit/index.ts';
import { ArtifactStore } from './artifact-store.ts';

const digestOf = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

test('the same file uploaded twice at once is stored once; a later upload of it finds it there', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gedge-artifacts-'));
  try {
    const store = new ArtifactStore(dir, { maxBytes: 1 << 20 });
    const file = tinyClassifier({ seed: 3 });
    const [a, b] = await Promise.all([store.put('p', digestOf(file), Readable.from([file])), store.put('p', digestOf(file), Readable.from([file]))]);
    assert.deepEqual([a.info.size, b.info.size], [file.length, file.length]);
    assert.deepEqual(readdirSync(join(dir, 'p')).sort(), ['.incoming', digestOf(file).slice(7), `${digestOf(file).slice(7)}.json`].sort());
    assert.deepEqual(readdirSync(join(dir, 'p', '.incoming')), []);
    const third = await store.put('p', digestOf(file), Readable.from([file]));
    assert.equal(third.created, false);
    assert.deepEqual(third.info, await store.info('p', digestOf(file)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("what a crash left in the uploads' temporary place is removed when the store opens", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gedge-artifacts-'));
  try {
    for (const p of ['a', 'b']) {
      mkdirSync(join(dir, p, '.incoming'), { recursive: true });
      writeFileSync(join(dir, p, '.incoming', 'cut-off'), 'half a model');
    }
    const store = new ArtifactStore(dir, { maxBytes: 1 << 20 });
    assert.equal(await store.sweepIncoming(), 2);
    assert.deepEqual(readdirSync(join(dir, 'a', '.incoming')), []);
    assert.equal(await new ArtifactStore(join(dir, 'none'), { maxBytes: 1 }).sweepIncoming(), 0, 'no store yet: nothing to do');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
