import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { GEDGE_BIN, GEDGE_NODE_FLAGS } from './launch.ts';

/** The young generation's size in MiB of a node started with `flags`. */
function youngGenerationMiB(flags: readonly string[]): number {
  const script = "process.stdout.write(String(require('v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size))";
  const r = spawnSync(process.execPath, [...flags, '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout) / 1024 ** 2;
}

test('the bin runs with the same node flags as the processes gedge starts itself', () => {
  const shebang = readFileSync(GEDGE_BIN, 'utf8').split('\n')[0];
  assert.equal(shebang, `#!/usr/bin/env -S node ${GEDGE_NODE_FLAGS.join(' ')}`);
});

test('this node takes the flags, and they keep a young generation of at least 16 MiB', () => {
  assert.ok(youngGenerationMiB([]) < 16, 'without them V8 starts (and shrinks back) to less');
  assert.ok(youngGenerationMiB(GEDGE_NODE_FLAGS) >= 16);
});
