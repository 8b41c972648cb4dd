import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalState } from '../local-state.ts';
import { startAttempt } from './session-machine.ts';
import { SessionStore, type SessionKey } from './session-store.ts';

const key = (service: string, client: string): SessionKey => ({ project: 'p', service, client });

test("sessions unused past the Service's idle timeout end; copies in doubt, sessions in use and other Services' stay; doubts are found again after a restart", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gedge-sessions-'));
  const state = await LocalState.open(dir);
  try {
    let now = 1_000_000;
    const store = new SessionStore(state, 'n1', () => now);
    const [old, fresh, busy, doubt, other, similar] = [key('s', 'old'), key('s', 'fresh'), key('s', 'busy'), key('s', 'doubt'), key('s2', 'x'), key('sa', 'y')];
    for (const k of [old, busy, other, similar]) store.create(k);
    store.write(old, { set: { n: 1 } }, 1024);
    assert.ok(store.keep(doubt, 'n2', startAttempt({ state: 'owned', epoch: 5, version: 3, data: { a: 1 }, attempts: 0 }).offer));
    now += 60_000;
    store.create(fresh);

    // busy is in use: its lock is held while the sweep runs.
    let release!: () => void;
    const holding = store.exclusive(busy, () => new Promise<void>((r) => (release = r)));
    await new Promise((r) => setImmediate(r));
    assert.equal(store.expire('p', 's', now - 30_000), 1, 'only old: unused for a minute, past the 30 s allowed');
    assert.equal(store.record(old), undefined);
    assert.equal(store.record(fresh)?.state, 'owned');
    assert.equal(store.record(busy)?.state, 'owned', 'in use: kept');
    assert.equal(store.record(doubt)?.state, 'prepared', 'a copy in doubt is settled, never expired');
    assert.equal(store.record(other)?.state, 'owned', "another Service's");
    assert.equal(store.record(similar)?.state, 'owned', 'a Service whose name starts the same');
    release();
    await holding;
    assert.equal(store.expire('p', 's', now - 30_000), 1, 'busy, once free');

    // Restarted: the copy in doubt is known again (read alone, not every session).
    const again = new SessionStore(state, 'n1', () => now);
    assert.deepEqual(again.inDoubt(), [doubt]);
    // A session ended and started again is numbered past its former self.
    store.end(fresh);
    assert.ok(store.create(fresh).epoch >= now);
  } finally {
    await state.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
