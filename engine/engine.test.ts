import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileQuery } from './compile.ts';
import { Engine, MAX_HOPS, type Origin } from './engine.ts';
import { SqlError } from './language/errors.ts';
import { FakeClock, harness, MemoryCheckpoints } from './test-helpers.ts';
import type { Value } from './values.ts';
import { MAX_GROUPS } from './windows.ts';

const T0 = Date.UTC(2026, 0, 1); // a whole second (and a multiple of 2 s): windows are aligned to the epoch

describe('ingest', () => {
  it('a payload that is not JSON is dropped with a sample, never thrown, and the next message works', () => {
    const h = harness({ clock: new FakeClock(T0) });
    h.apply('r', `SELECT x FROM "t/#"`);
    h.apply('w', `SELECT count(*) AS n FROM "t/#" GROUP BY TUMBLING(1s)`);
    assert.doesNotThrow(() => h.send('t/1', '{"x": 1'));
    for (const name of ['r', 'w']) {
      const m = h.metrics(name);
      assert.equal(m.in, 1);
      assert.equal(m.dropped, 1);
      assert.deepEqual({ ...m.lastDropped, at: undefined }, { at: undefined, reason: 'payload is not JSON', topic: 't/1', sample: '{"x": 1' });
    }
    h.send('t/1', { x: 2 });
    assert.deepEqual(h.take('r'), [{ x: 2 }]);
    h.clock.advance(1000);
    assert.deepEqual(h.take('w'), [{ n: 1 }], 'the malformed message is in no window');
    h.send('t/2', 'x'.repeat(1000));
    assert.equal(h.metrics('r').lastDropped!.sample, 'x'.repeat(256), 'the sample is the first 256 bytes');
    assert.equal(h.metrics('r').dropped, 2);
  });

  it('a JSON text that is not an object is a payload like any other', () => {
    const h = harness();
    h.apply('r', `SELECT payload() AS p, x FROM "t"`);
    h.send('t', '"just text"');
    h.send('t', '42');
    h.send('t', 'null');
    assert.deepEqual(h.take('r'), [{ p: 'just text', x: null }, { p: 42, x: null }, { p: null, x: null }]);
    assert.equal(h.metrics('r').dropped, 0);
  });

  it('a rule sees only its own project and the topics its FROM matches; `in` counts only those', () => {
    const h = harness();
    h.apply('r', `SELECT topic() AS t FROM "traffic/+/loop"`);
    h.engine.ingest('q', 'traffic/1/loop', Buffer.from('{}'), null); // another project
    h.send('traffic/1/loop/extra', {});
    h.send('traffic/loop', {});
    h.send('other', 'not even JSON');
    assert.deepEqual(h.take('r'), []);
    assert.equal(h.metrics('r').in, 0);
    assert.equal(h.metrics('r').dropped, 0);
    h.send('traffic/2/loop', {});
    assert.deepEqual(h.take('r'), [{ t: 'traffic/2/loop' }]);
    assert.equal(h.metrics('r').in, 1);
  });

  it('rules of one project run in name order on each message', () => {
    const order: string[] = [];
    const engine = new Engine({ clock: new FakeClock(T0), emit: (rule) => order.push(rule) });
    for (const name of ['c', 'a', 'b']) engine.apply({ project: 'p', name, sql: `SELECT 1 AS one FROM "#"` });
    engine.apply({ project: 'q', name: 'a', sql: `SELECT 1 AS one FROM "#"` });
    engine.ingest('p', 't', Buffer.from('{}'), null);
    assert.deepEqual(order, ['p/a', 'p/b', 'p/c']);
  });
});

describe('update in place', () => {
  it('keeps the window state when only the projection or HAVING changes', () => {
    const h = harness({ clock: new FakeClock(T0) });
    const before = `SELECT count(*) AS n FROM "t" GROUP BY TUMBLING(1s)`;
    const after = `SELECT count(*) AS total, window_start() - ${T0} AS ws FROM "t" GROUP BY TUMBLING(1s) HAVING count(*) > 1`;
    assert.equal(compileQuery(before).stateSignature, compileQuery(after).stateSignature);
    h.apply('w', before);
    for (let i = 0; i < 3; i++) h.send('t', {});
    h.clock.advance(300);
    h.apply('w', after);
    assert.deepEqual(h.take('w'), [], 'nothing is emitted by the update');
    h.send('t', {});
    h.send('t', {});
    h.clock.advance(700);
    assert.deepEqual(h.take('w'), [{ total: 5, ws: 0 }]);
    assert.equal(h.metrics('w').in, 5, 'metrics carry over too');
  });

  it('a change of window shape closes the old windows and emits them first; the new window counts only later messages', () => {
    const h = harness({ clock: new FakeClock(T0) });
    h.apply('w', `SELECT k, count(*) AS n FROM "t" GROUP BY k, TUMBLING(1s)`);
    h.send('t', { k: 'a' });
    h.send('t', { k: 'a' });
    h.send('t', { k: 'b' });
    h.clock.advance(300);
    h.apply('w', `SELECT k, count(*) AS c FROM "t" GROUP BY k, TUMBLING(2s)`);
    assert.deepEqual(h.take('w'), [{ k: 'a', n: 2 }, { k: 'b', n: 1 }], 'the old version’s rows, at the update');
    h.send('t', { k: 'a' });
    h.clock.advance(700); // the old 1 s window would have ended here
    assert.deepEqual(h.take('w'), []);
    h.send('t', { k: 'a' });
    h.clock.advance(1000);
    assert.deepEqual(h.take('w'), [{ k: 'a', c: 2 }]);
    assert.equal(h.metrics('w').groups, 0);
  });

  it('a change of aggregates, grouping or topic is a change of shape too', () => {
    const base = `SELECT k, count(*) AS n FROM "t" GROUP BY k, TUMBLING(1s)`;
    for (const next of [
      `SELECT k, count(*) AS n, sum(x) AS s FROM "t" GROUP BY k, TUMBLING(1s)`,
      `SELECT k, count(*) AS n FROM "t" GROUP BY k, lane, TUMBLING(1s)`,
      `SELECT k, count(*) AS n FROM "t/#" GROUP BY k, TUMBLING(1s)`,
    ]) {
      const h = harness({ clock: new FakeClock(T0) });
      h.apply('w', base);
      h.send('t', { k: 'a' });
      h.apply('w', next);
      assert.equal(h.take('w').length, 1, next);
      h.send('t', { k: 'a' });
      h.clock.advance(1000);
      assert.equal(h.take('w')[0]!.n, 1, next);
    }
  });

  it('SQL that does not compile throws SqlError and leaves the running version and its state alone', () => {
    const h = harness({ clock: new FakeClock(T0) });
    h.apply('w', `SELECT count(*) AS n FROM "t" GROUP BY TUMBLING(1s)`);
    h.send('t', {});
    assert.throws(() => h.apply('w', `SELECT count(*) AS n FROM "t" GROUP BY TUMBLING(1s) HAVING nope(n)`), SqlError);
    assert.throws(() => h.apply('x', `SELECT avg(v) FROM "t"`), SqlError);
    assert.equal(h.engine.has('p', 'x'), false);
    h.send('t', {});
    h.clock.advance(1000);
    assert.deepEqual(h.take('w'), [{ n: 2 }]);
  });
});

describe('updates and restarts lose and repeat nothing (property)', () => {
  // State-compatible versions of one rule: each message must be counted once, in the window of its arrival.
  const versions = [
    `SELECT k, count(*) AS n, window_start() AS ws FROM "t" GROUP BY k, TUMBLING(1s)`,
    `select window_start() ws, count(*) n, k from 't' where true group by tumbling(1000ms), k having count(*) > 0`,
    `SELECT k AS k, count(*) AS n, window_start() AS ws, now() AS at FROM "t" GROUP BY k, TUMBLING(1s) HAVING n >= 1`,
  ];
  type Op = { op: 'send'; key: number } | { op: 'advance'; ms: number } | { op: 'update' } | { op: 'restart'; downMs: number };
  const ops = fc.oneof(
    { arbitrary: fc.record({ op: fc.constant('send' as const), key: fc.integer({ min: 0, max: 3 }) }), weight: 5 },
    { arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 1500 }) }), weight: 3 },
    { arbitrary: fc.record({ op: fc.constant('update' as const) }), weight: 1 },
    { arbitrary: fc.record({ op: fc.constant('restart' as const), downMs: fc.constantFrom(0, 0, 700, 2500) }), weight: 1 },
  );

  it('the versions share one state signature', () => {
    assert.equal(new Set(versions.map((v) => compileQuery(v).stateSignature)).size, 1);
  });

  it('every message is counted exactly once, in its window, and no (window, key) is emitted twice', () => {
    fc.assert(
      fc.property(fc.array(ops, { maxLength: 60 }), (list: Op[]) => {
        const clock = new FakeClock(T0 + 123);
        const checkpoints = new MemoryCheckpoints();
        let version = 0;
        let h = harness({ clock, checkpoints });
        h.apply('w', versions[version]!);
        const expected = new Map<string, number>();
        const rows: Record<string, Value>[] = [];
        for (const o of list) {
          if (o.op === 'send') {
            h.send('t', { k: `k${o.key}` });
            const id = `${Math.floor(clock.now() / 1000) * 1000}/k${o.key}`;
            expected.set(id, (expected.get(id) ?? 0) + 1);
          } else if (o.op === 'advance') clock.advance(o.ms);
          else if (o.op === 'update') h.apply('w', versions[(version = (version + 1) % versions.length)]!);
          else {
            rows.push(...h.take('w'));
            h.engine.stop();
            clock.advance(o.downMs); // nothing runs while the agent is down
            h = harness({ clock, checkpoints });
            h.apply('w', versions[version]!);
          }
          rows.push(...h.take('w'));
        }
        clock.advance(2000);
        rows.push(...h.take('w'));
        const got = new Map<string, number>();
        for (const r of rows) {
          const id = `${r.ws as number}/${r.k as string}`;
          assert.ok(!got.has(id), `${id} emitted twice`);
          got.set(id, r.n as number);
        }
        assert.deepEqual([...got].sort(), [...expected].sort());
        assert.equal(rows.reduce((s, r) => s + (r.n as number), 0), list.filter((o) => o.op === 'send').length);
      }),
      { numRuns: 150, seed: 20260101 },
    );
  });
});

describe('checkpoints', () => {
  const sql = `SELECT count(*) AS n FROM "t" GROUP BY TUMBLING(1s)`;

  /**
   * Applies `sql` on an engine that "crashes" right after its first emit: the
   * checkpoint as it was at that moment, in a new store.
   */
  function crashAtFirstEmit(clock: FakeClock, checkpoints: MemoryCheckpoints, run: (engine: Engine) => void): MemoryCheckpoints {
    const after = new MemoryCheckpoints();
    let crashed = false;
    const engine = new Engine({
      clock,
      checkpoints,
      emit: () => {
        if (crashed) return;
        crashed = true;
        for (const [k, v] of checkpoints.saved) after.saved.set(k, v);
      },
    });
    run(engine);
    assert.ok(crashed, 'something was emitted');
    return after;
  }

  it('a window that closes when a checkpoint is restored is saved as closed before its rows go out', () => {
    const checkpoints = new MemoryCheckpoints();
    const clock = new FakeClock(T0);
    const first = harness({ clock, checkpoints });
    first.apply('w', sql);
    first.send('t', {});
    first.engine.stop();
    clock.advance(5000);
    const left = crashAtFirstEmit(clock, checkpoints, (engine) => engine.apply({ project: 'p', name: 'w', sql }));
    const third = harness({ clock, checkpoints: left });
    third.apply('w', sql);
    assert.deepEqual(third.take('w'), [], 'the window is not emitted a second time');
  });

  it('a window that closes when an update takes the state over is saved as closed before its rows go out', () => {
    const checkpoints = new MemoryCheckpoints();
    const clock = new FakeClock(T0);
    const left = crashAtFirstEmit(clock, checkpoints, (engine) => {
      engine.apply({ project: 'p', name: 'w', sql });
      engine.ingest('p', 't', Buffer.from('{}'), null);
      clock.t += 5000; // the timer is late (a busy event loop)
      engine.apply({ project: 'p', name: 'w', sql: sql.replace('AS n', 'AS total') });
    });
    const next = harness({ clock, checkpoints: left });
    next.apply('w', sql);
    assert.deepEqual(next.take('w'), [], 'the window is not emitted a second time');
  });

  it('checkpoint() saves only the rules whose windows changed since their last save', () => {
    const saves: string[] = [];
    const checkpoints = new MemoryCheckpoints();
    const save = checkpoints.save.bind(checkpoints);
    checkpoints.save = (rule, state) => {
      saves.push(rule);
      save(rule, state);
    };
    const h = harness({ clock: new FakeClock(T0), checkpoints });
    h.apply('a', sql);
    h.apply('b', sql.replace('"t"', '"u"'));
    h.apply('f', `SELECT * FROM "t"`); // no window: nothing to save
    saves.length = 0;
    h.send('t', {});
    h.engine.checkpoint();
    assert.deepEqual(saves, ['p/a']);
    h.engine.checkpoint();
    assert.deepEqual(saves, ['p/a'], 'nothing changed since');
  });
});

describe('loop protection', () => {
  /** An engine whose emits are recorded with their hops, and optionally published on (as an action would). */
  function recording(publish?: (engine: Engine, rule: string, rows: Record<string, Value>[], hops: number) => void) {
    const emitted: { rule: string; rows: Record<string, Value>[]; hops: number }[] = [];
    const engine: Engine = new Engine({
      clock: new FakeClock(T0),
      emit: (rule, rows, hops) => {
        emitted.push({ rule, rows, hops });
        publish?.(engine, rule, rows, hops);
      },
    });
    const m = (name: string) => engine.metrics().find((r) => r.name === name)!.metrics;
    return { engine, emitted, m };
  }

  it('a message a rule published is not fed back to that rule, but is to the others', () => {
    const { engine, emitted, m } = recording();
    engine.apply({ project: 'p', name: 'a', sql: `SELECT x FROM "t"` });
    engine.apply({ project: 'p', name: 'b', sql: `SELECT x FROM "t"` });
    const origin: Origin = { rule: 'p/a', hops: 1 };
    engine.ingest('p', 't', Buffer.from('{"x":1}'), null, origin);
    assert.deepEqual(emitted, [{ rule: 'p/b', rows: [{ x: 1 }], hops: 2 }]);
    assert.equal(m('a').in, 0);
    assert.equal(m('b').in, 1);
    engine.ingest('p', 't', Buffer.from('{"x":2}'), null);
    assert.deepEqual(emitted.slice(1).map((e) => [e.rule, e.hops]), [['p/a', 1], ['p/b', 1]], 'a message from a device starts at hop 1');
  });

  it(`a message that went through ${MAX_HOPS} rules is dropped and counted as a rule loop`, () => {
    const { engine, emitted, m } = recording();
    engine.apply({ project: 'p', name: 'b', sql: `SELECT x FROM "t"` });
    engine.ingest('p', 't', Buffer.from('{"x":1}'), null, { rule: 'p/a', hops: MAX_HOPS - 1 });
    assert.deepEqual(emitted.map((e) => e.hops), [MAX_HOPS]);
    engine.ingest('p', 't', Buffer.from('{"x":1}'), null, { rule: 'p/a', hops: MAX_HOPS });
    assert.equal(emitted.length, 1);
    assert.equal(m('b').in, 2);
    assert.equal(m('b').dropped, 1);
    assert.match(m('b').lastDropped!.reason, /rule loop/);
  });

  it('two rules publishing to each other stop after MAX_HOPS', () => {
    const { engine, emitted, m } = recording((e, rule, rows, hops) => {
      const to = rule === 'p/a' ? 'y' : 'x';
      for (const row of rows) e.ingest('p', to, Buffer.from(JSON.stringify(row)), null, { rule, hops });
    });
    engine.apply({ project: 'p', name: 'a', sql: `SELECT x + 1 AS x FROM "x"` });
    engine.apply({ project: 'p', name: 'b', sql: `SELECT x + 1 AS x FROM "y"` });
    engine.ingest('p', 'x', Buffer.from('{"x":0}'), null);
    assert.deepEqual(emitted.map((e) => [e.rule, e.hops, e.rows[0]!.x]), Array.from({ length: MAX_HOPS }, (_, i) => [i % 2 ? 'p/b' : 'p/a', i + 1, i + 1]));
    assert.equal(m('a').dropped, 1);
    assert.match(m('a').lastDropped!.reason, new RegExp(`went through ${MAX_HOPS} rules`));
  });
});

describe('remove', () => {
  const sql = `SELECT count(*) AS n FROM "t" GROUP BY TUMBLING(1s)`;

  it('drops the rule’s state: applied again, it starts from nothing', () => {
    const checkpoints = new MemoryCheckpoints();
    const h = harness({ clock: new FakeClock(T0), checkpoints });
    h.apply('w', sql);
    h.send('t', {});
    h.send('t', {});
    h.clock.advance(300);
    h.engine.remove('p', 'w');
    assert.equal(h.engine.has('p', 'w'), false);
    assert.equal(checkpoints.saved.has('p/w'), false, 'the checkpoint goes with it');
    h.send('t', {}); // nobody listens
    h.clock.advance(100);
    assert.deepEqual(h.take('w'), [], 'a removed rule emits nothing');
    h.apply('w', sql);
    h.send('t', {});
    h.clock.advance(600);
    assert.deepEqual(h.take('w'), [{ n: 1 }]);
    assert.equal(h.metrics('w').in, 1, 'metrics start again too');
  });

  it('with keepState pauses the rule: applied again, it resumes its open windows', () => {
    const checkpoints = new MemoryCheckpoints();
    const h = harness({ clock: new FakeClock(T0), checkpoints });
    h.apply('w', sql);
    h.send('t', {});
    h.send('t', {});
    h.clock.advance(300);
    h.engine.remove('p', 'w', { keepState: true });
    h.send('t', {}); // not seen by a paused rule
    h.clock.advance(100);
    assert.deepEqual(h.take('w'), []);
    h.apply('w', sql);
    h.send('t', {});
    h.clock.advance(600);
    assert.deepEqual(h.take('w'), [{ n: 3 }]);
  });

  it('a paused rule whose window ended meanwhile emits it when applied again', () => {
    const checkpoints = new MemoryCheckpoints();
    const h = harness({ clock: new FakeClock(T0), checkpoints });
    h.apply('w', sql);
    h.send('t', {});
    h.engine.remove('p', 'w', { keepState: true });
    h.clock.advance(5000);
    assert.deepEqual(h.take('w'), []);
    h.apply('w', sql);
    assert.deepEqual(h.take('w'), [{ n: 1 }]);
  });

  it('removing a rule that does not exist is a no-op', () => {
    const h = harness();
    assert.doesNotThrow(() => h.engine.remove('p', 'nope'));
  });
});

describe('metrics', () => {
  it('the latency histogram counts every message a rule took in; groups are the open groups', () => {
    const h = harness({ clock: new FakeClock(T0) });
    h.apply('w', `SELECT k, count(*) AS n FROM "t" WHERE k != 'skip' GROUP BY k, TUMBLING(1s)`);
    const empty = h.metrics('w');
    assert.deepEqual([empty.latencyMs.count, empty.latencyMs.p50, empty.latencyMs.p99, empty.groups], [0, null, null, 0]);
    for (const k of ['a', 'b', 'a', 'skip']) h.send('t', { k });
    h.send('t', 'oops');
    h.send('elsewhere', { k: 'c' });
    const m = h.metrics('w');
    assert.equal(m.in, 5);
    assert.equal(m.latencyMs.count, 5, 'processed, filtered and dropped messages alike');
    assert.equal(m.latencyMs.buckets.reduce((a, b) => a + b, 0), 5);
    assert.ok(m.latencyMs.p50 !== null && m.latencyMs.p99 !== null);
    assert.ok(m.latencyMs.p50 <= m.latencyMs.p99 && m.latencyMs.p99 <= m.latencyMs.max);
    assert.deepEqual([m.groups, m.filtered, m.dropped, m.out], [2, 1, 1, 0]);
    h.clock.advance(1000);
    assert.deepEqual([h.metrics('w').groups, h.metrics('w').out], [0, 2]);
  });

  it(`more than ${MAX_GROUPS} groups in open windows: the message of one more group is dropped, known groups go on`, () => {
    const h = harness({ clock: new FakeClock(T0) });
    h.apply('w', `SELECT count(*) AS n FROM "t" GROUP BY k, TUMBLING(1s)`);
    for (let i = 0; i < MAX_GROUPS; i++) h.engine.ingest('p', 't', Buffer.from(`{"k":${i}}`), null);
    h.send('t', { k: -1 });
    const m = h.metrics('w');
    assert.deepEqual([m.groups, m.dropped], [MAX_GROUPS, 1]);
    assert.match(m.lastDropped!.reason, /more than 100000 groups/);
    h.send('t', { k: 0 });
    assert.equal(h.metrics('w').dropped, 1);
    h.clock.advance(1000);
    const rows = h.take('w');
    assert.equal(rows.length, MAX_GROUPS);
    assert.equal(rows.reduce((s, r) => s + (r.n as number), 0), MAX_GROUPS + 1);
    h.send('t', { k: -1 });
    assert.equal(h.metrics('w').groups, 1, 'the next window has room again');
  });
});
