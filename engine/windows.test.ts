import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, harness, MemoryCheckpoints } from './test-helpers.ts';

const T0 = Date.UTC(2026, 0, 1); // a whole second: windows are aligned to the epoch

describe('tumbling windows (processing time)', () => {
  it('emits one row per group when the window ends, and the next window starts empty', () => {
    const h = harness({ clock: new FakeClock(T0) });
    h.apply('w', `SELECT deviceId, avg(speed) AS v, count(*) AS n, window_start() AS ws, window_end() AS we FROM "traffic/+/loop" GROUP BY deviceId, TUMBLING(1s)`);
    h.clock.advance(100);
    h.send('traffic/1/loop', { deviceId: 'a', speed: 10 });
    h.send('traffic/2/loop', { deviceId: 'a', speed: 20 });
    h.clock.advance(500);
    h.send('traffic/1/loop', { deviceId: 'b', speed: 30 });
    assert.deepEqual(h.take('w'), [], 'nothing before the window ends');
    h.clock.advance(400); // T0 + 1000
    assert.deepEqual(h.take('w'), [
      { deviceId: 'a', v: 15, n: 2, ws: T0, we: T0 + 1000 },
      { deviceId: 'b', v: 30, n: 1, ws: T0, we: T0 + 1000 },
    ]);
    h.send('traffic/1/loop', { deviceId: 'a', speed: 50 });
    h.clock.advance(1000);
    assert.deepEqual(h.take('w'), [{ deviceId: 'a', v: 50, n: 1, ws: T0 + 1000, we: T0 + 2000 }]);
    h.clock.advance(5000);
    assert.deepEqual(h.take('w'), [], 'an empty window emits nothing');
  });

  it('HAVING filters groups and may use output names; every aggregate is right', () => {
    const h = harness({ clock: new FakeClock(T0) });
    h.apply('w', `SELECT deviceId, avg(speed) AS v, sum(speed) AS s, min(speed) AS lo, max(speed) AS hi, stddev(speed) AS sd,
      percentile(speed, 0.5) AS med, count(speed) AS n, collect(lane) AS lanes
      FROM "t" GROUP BY deviceId, TUMBLING(1s) HAVING v < 20`);
    for (const [d, s, lane] of [['a', 2, 1], ['a', 4, 2], ['a', 4, null], ['a', 4, 1], ['a', 5, 2], ['a', 5, 1], ['a', 7, 2], ['a', 9, 1], ['b', 40, 1]] as const) {
      h.send('t', { deviceId: d, speed: s, lane });
    }
    h.send('t', { deviceId: 'a', speed: 'fast' }); // numeric aggregates skip a wrong type, as a NULL; count(x) counts it
    h.clock.advance(1000);
    const [row, ...rest] = h.take('w');
    assert.equal(rest.length, 0, 'b (avg 40) is left out by HAVING');
    assert.deepEqual({ ...row, sd: Math.round((row!.sd as number) * 1e6) / 1e6 }, { deviceId: 'a', v: 5, s: 40, lo: 2, hi: 9, sd: 2.13809, med: 4.5, n: 9, lanes: [1, 2, 1, 2, 1, 2, 1] });
    assert.equal(h.metrics('w').filtered, 1);
  });
});

describe('hopping windows', () => {
  it('puts a row in every window that covers it', () => {
    const h = harness({ clock: new FakeClock(T0) });
    h.apply('w', `SELECT count(*) AS n, window_start() AS ws FROM "t" GROUP BY HOPPING(2s, 1s)`);
    h.clock.advance(500);
    h.send('t', {}); // in [T0-1s, T0+1s) and [T0, T0+2s)
    h.clock.advance(1000); // T0 + 1.5 s
    h.send('t', {}); // in [T0, T0+2s) and [T0+1s, T0+3s)
    assert.deepEqual(h.take('w'), [{ n: 1, ws: T0 - 1000 }]);
    h.clock.advance(500); // T0 + 2 s
    assert.deepEqual(h.take('w'), [{ n: 2, ws: T0 }]);
    h.clock.advance(1000);
    assert.deepEqual(h.take('w'), [{ n: 1, ws: T0 + 1000 }]);
  });
});

describe('sliding windows', () => {
  it('every row fires its group over the rows of the last size ms', () => {
    const h = harness({ clock: new FakeClock(T0) });
    h.apply('w', `SELECT k, sum(x) AS s, count(*) AS n FROM "t" GROUP BY k, SLIDING(1s)`);
    h.send('t', { k: 'a', x: 1 });
    h.clock.advance(400);
    h.send('t', { k: 'a', x: 2 });
    h.send('t', { k: 'b', x: 100 });
    h.clock.advance(700); // the first row slid out
    h.send('t', { k: 'a', x: 3 });
    assert.deepEqual(h.take('w'), [
      { k: 'a', s: 1, n: 1 },
      { k: 'a', s: 3, n: 2 },
      { k: 'b', s: 100, n: 1 },
      { k: 'a', s: 5, n: 2 },
    ]);
    h.clock.advance(5000);
    assert.equal(h.metrics('w').groups, 0, 'rows that can be in no window are let go');
  });
});

describe('session windows', () => {
  it('a session grows while rows come closer than the gap, and closes gap after its last row', () => {
    const h = harness({ clock: new FakeClock(T0) });
    h.apply('w', `SELECT k, count(*) AS n, window_start() - ${T0} AS s, window_end() - ${T0} AS e FROM "t" GROUP BY k, SESSION(500ms)`);
    for (const dt of [0, 200, 200]) {
      h.clock.advance(dt);
      h.send('t', { k: 'a' });
    }
    h.clock.advance(499);
    assert.deepEqual(h.take('w'), []);
    h.clock.advance(1);
    assert.deepEqual(h.take('w'), [{ k: 'a', n: 3, s: 0, e: 900 }]);
  });

  it('a maximum length splits a session that never pauses', () => {
    const h = harness({ clock: new FakeClock(T0) });
    h.apply('w', `SELECT count(*) AS n FROM "t" GROUP BY SESSION(500ms, 1s)`);
    for (let i = 0; i < 6; i++) {
      h.send('t', {});
      h.clock.advance(300);
    }
    assert.deepEqual(h.take('w'), [{ n: 4 }], 'closed at 1 s after its start');
    h.clock.advance(1000);
    assert.deepEqual(h.take('w'), [{ n: 2 }]);
  });
});

describe('event time', () => {
  const sql = (lateness = '') => `SELECT count(*) AS n, sum(x) AS s, window_start() - ${T0} AS ws FROM "t" TIMESTAMP BY ts WATERMARK 500ms ${lateness} GROUP BY TUMBLING(1s)`;

  it('windows close on the watermark (max event time − delay), not on the clock; late rows are dropped and counted', () => {
    const h = harness({ clock: new FakeClock(T0 + 60_000) }); // the clock is far from the event times
    h.apply('w', sql());
    h.send('t', { ts: T0 + 100, x: 1 });
    h.send('t', { ts: new Date(T0 + 900).toISOString(), x: 2 }); // RFC 3339 works too
    h.send('t', { ts: T0 + 1400, x: 4 }); // watermark T0 + 900: [T0, T0+1s) stays open
    assert.deepEqual(h.take('w'), []);
    h.send('t', { ts: T0 + 700, x: 8 }); // out of order, but not late
    h.send('t', { ts: T0 + 1500, x: 16 }); // watermark T0 + 1000
    assert.deepEqual(h.take('w'), [{ n: 3, s: 11, ws: 0 }]);
    h.send('t', { ts: T0 + 300, x: 32 }); // behind the watermark: late
    const m = h.metrics('w');
    assert.equal(m.late, 1);
    assert.match(m.lastDropped!.reason, /^late: event time/);
    h.send('t', { x: 1 }); // no event time at all
    assert.equal(h.metrics('w').dropped, 1);
    assert.match(h.metrics('w').lastDropped!.reason, /TIMESTAMP BY gives no time/);
  });

  it('allowed lateness updates a closed window and fires it again', () => {
    const h = harness({ clock: new FakeClock(T0 + 60_000) });
    h.apply('w', sql('LATENESS 1s'));
    h.send('t', { ts: T0 + 100, x: 1 });
    h.send('t', { ts: T0 + 1600, x: 2 }); // closes [T0, T0+1s)
    assert.deepEqual(h.take('w'), [{ n: 1, s: 1, ws: 0 }]);
    h.send('t', { ts: T0 + 200, x: 4 }); // late, within lateness
    assert.deepEqual(h.take('w'), [{ n: 2, s: 5, ws: 0 }]);
    h.send('t', { ts: T0 + 2600, x: 8 }); // watermark T0 + 2100: past lateness, [T0, T0+1s) is gone
    h.send('t', { ts: T0 + 300, x: 16 });
    assert.equal(h.metrics('w').late, 1);
    assert.deepEqual(h.take('w'), [{ n: 1, s: 2, ws: 1000 }]);
  });

  it('an idle stream lets its watermark move with the clock, so its last window closes', () => {
    const h = harness({ clock: new FakeClock(T0 + 60_000) });
    h.apply('w', sql());
    h.send('t', { ts: T0 + 100, x: 1 });
    h.clock.advance(900);
    assert.deepEqual(h.take('w'), []);
    h.clock.advance(2000);
    assert.deepEqual(h.take('w'), [{ n: 1, s: 1, ws: 0 }]);
  });
});

describe('restart in the middle of a window', () => {
  it('resumes the open window from the checkpoint: no row counted twice, no window emitted twice', () => {
    const checkpoints = new MemoryCheckpoints();
    const clock = new FakeClock(T0);
    const sql = `SELECT k, count(*) AS n, sum(x) AS s FROM "t" GROUP BY k, TUMBLING(1s)`;
    const first = harness({ clock, checkpoints });
    first.apply('w', sql);
    first.send('t', { k: 'a', x: 1 });
    clock.advance(1000);
    assert.deepEqual(first.take('w'), [{ k: 'a', n: 1, s: 1 }]);
    first.send('t', { k: 'a', x: 2 });
    first.send('t', { k: 'b', x: 4 });
    clock.advance(300);
    first.engine.stop(); // an agent stop saves the open window

    const second = harness({ clock, checkpoints });
    second.apply('w', sql);
    second.send('t', { k: 'a', x: 8 });
    clock.advance(700);
    assert.deepEqual(second.take('w'), [{ k: 'a', n: 2, s: 10 }, { k: 'b', n: 1, s: 4 }]);
  });

  it('a window that ended while the rule was down is emitted at restart', () => {
    const checkpoints = new MemoryCheckpoints();
    const clock = new FakeClock(T0);
    const sql = `SELECT count(*) AS n FROM "t" GROUP BY TUMBLING(1s)`;
    const first = harness({ clock, checkpoints });
    first.apply('w', sql);
    first.send('t', {});
    first.engine.stop();
    clock.t += 5000;
    const second = harness({ clock, checkpoints });
    second.apply('w', sql);
    assert.deepEqual(second.take('w'), [{ n: 1 }]);
  });

  it('a checkpoint of a rule whose windows changed shape is not used', () => {
    const checkpoints = new MemoryCheckpoints();
    const clock = new FakeClock(T0);
    const first = harness({ clock, checkpoints });
    first.apply('w', `SELECT count(*) AS n FROM "t" GROUP BY TUMBLING(1s)`);
    first.send('t', {});
    first.engine.stop();
    const second = harness({ clock, checkpoints });
    second.apply('w', `SELECT count(*) AS n FROM "t" GROUP BY TUMBLING(2s)`);
    second.send('t', {});
    clock.advance(2000);
    assert.deepEqual(second.take('w'), [{ n: 1 }]);
  });
});
