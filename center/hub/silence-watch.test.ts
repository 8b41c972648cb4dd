import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SilenceWatch, silenceBoundMs } from './silence-watch.ts';

const HB = 2000;

test('the bound is three heartbeats, never under five seconds', () => {
  assert.equal(silenceBoundMs(2000), 6000);
  assert.equal(silenceBoundMs(5000), 15_000);
  assert.equal(silenceBoundMs(300), 5000);
  assert.equal(silenceBoundMs(50), 5000);
});

test('an agent heard every heartbeat is never pinged nor closed', () => {
  const w = new SilenceWatch<string>({ heartbeatMs: HB });
  for (let t = 0; t <= 60_000; t += HB) {
    const r = w.look(t, [{ key: 'a', heardAt: t - 100 }]);
    assert.deepEqual(r, { ping: [], close: [] }, `at ${t}`);
  }
});

test('a silent agent is pinged after a heartbeat and closed once silent past the bound for three looks in a row', () => {
  const w = new SilenceWatch<string>({ heartbeatMs: HB });
  const heardAt = 1000;
  const looks = [2000, 4000, 6000, 8000, 10_000].map((t) => ({ t, ...w.look(t, [{ key: 'a', heardAt }]) }));
  assert.deepEqual(looks.map((l) => [l.t, l.ping, l.close.map((c) => c.key)]), [
    [2000, [], []],
    [4000, ['a'], []],
    [6000, ['a'], []],
    // 7 s silent (past the 6 s bound) and the third quiet look.
    [8000, [], ['a']],
    [10_000, [], ['a']],
  ]);
  assert.equal(looks[3]!.close[0]!.silentMs, 7000);
});

test('a pong answering the ping keeps the connection', () => {
  const w = new SilenceWatch<string>({ heartbeatMs: HB });
  w.look(0, [{ key: 'a', heardAt: 0 }]);
  assert.deepEqual(w.look(2000, [{ key: 'a', heardAt: 0 }]).ping, ['a']);
  // Answered within the heartbeat: neither pinged again nor counted quiet, however long this goes on.
  for (let t = 4000; t <= 20_000; t += 2000) assert.deepEqual(w.look(t, [{ key: 'a', heardAt: t - 1990 }]), { ping: [], close: [] }, `at ${t}`);
});

test("a stall of the center is not taken for the agents' silence: what arrived meanwhile is read before the next look", () => {
  const w = new SilenceWatch<string>({ heartbeatMs: HB });
  w.look(0, [{ key: 'a', heardAt: 0 }]);
  w.look(2000, [{ key: 'a', heardAt: 1900 }]);
  // Stuck for 20 s: the look comes late and sees nothing newer, though the agent's frames wait in the socket.
  assert.deepEqual(w.look(22_000, [{ key: 'a', heardAt: 1900 }]).close, []);
  assert.deepEqual(w.look(24_000, [{ key: 'a', heardAt: 22_001 }]), { ping: [], close: [] });
  assert.deepEqual(w.look(30_000, [{ key: 'a', heardAt: 22_001 }]), { ping: ['a'], close: [] }, 'one quiet look after the stall, not two');
});

test('connections that went away are forgotten: a new one under the same key starts afresh', () => {
  const w = new SilenceWatch<string>({ heartbeatMs: HB });
  for (const t of [0, 2000, 4000, 6000]) w.look(t, [{ key: 'a', heardAt: 0 }]);
  w.look(8000, []);
  assert.deepEqual(w.look(10_000, [{ key: 'a', heardAt: 0 }]).close, [], 'one quiet look, not four');
});
