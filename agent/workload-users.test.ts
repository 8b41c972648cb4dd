import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalState } from './local-state.ts';
import { FIRST_WORKLOAD_UID, WorkloadUsers } from './workload-users.ts';

test('each project gets its own user id, once, even when asked for at the same time, and keeps it across restarts', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to own the homes');
  const dir = mkdtempSync(join(tmpdir(), 'gedge-users-'));
  try {
    const state = await LocalState.open(dir);
    const users = new WorkloadUsers(state, dir);
    const got = await Promise.all(['a', 'b', 'c', 'a', 'b'].map((p) => users.of(p)));
    const uids = got.map((u) => u!.uid);
    assert.deepEqual(new Set(uids.slice(0, 3)).size, 3, `distinct ids: ${uids}`);
    assert.equal(uids[3], uids[0]);
    assert.equal(uids[4], uids[1]);
    assert.ok(uids.every((u) => u >= FIRST_WORKLOAD_UID));
    const home = statSync(got[0]!.home);
    assert.equal(home.uid, uids[0]);
    assert.equal(home.mode & 0o777, 0o700);
    const again = await new WorkloadUsers(state, dir).of('c');
    assert.equal(again!.uid, uids[2], 'kept in local state');
    state.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
