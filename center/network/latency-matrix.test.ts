import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LatencyMatrix } from './latency-matrix.ts';

const STALE = 30_000;
const EXPIRE = 600_000;
const matrix = () => new LatencyMatrix({ staleAfterMs: STALE, expireAfterMs: EXPIRE });
const only = (m: LatencyMatrix, now: number) => {
  const s = m.snapshot(now);
  assert.equal(s.length, 1, `one link, got ${JSON.stringify(s)}`);
  return s[0]!;
};

test('the first sample is the value; later ones move it by alpha, and the deviation becomes the jitter', () => {
  const m = matrix();
  m.record('edge-a', 'cloud', 10, 1000);
  assert.deepEqual(only(m, 1000), { sites: ['cloud', 'edge-a'], state: 'Up', rttMs: 10, jitterMs: 0, samples: 1, directions: 1, measuredAt: 1000 });
  m.record('edge-a', 'cloud', 20, 2000);
  const l = only(m, 2000);
  assert.ok(Math.abs(l.rttMs! - 13) < 1e-9);
  assert.ok(Math.abs(l.jitterMs - 3) < 1e-9);
  assert.equal(l.samples, 2);
  assert.equal(l.measuredAt, 2000);
});

test('pairs within a site are ignored', () => {
  const m = matrix();
  m.record('cloud', 'cloud', 1, 0);
  assert.deepEqual(m.snapshot(0), []);
  assert.equal(m.size, 0);
});

test('the two directions may differ: the link is their mean, one link per unordered pair', () => {
  const m = matrix();
  m.record('a', 'b', 10, 0);
  m.record('b', 'a', 30, 0);
  m.record('a', 'c', 5, 0);
  const links = m.snapshot(0).sort((x, y) => x.sites.join().localeCompare(y.sites.join()));
  assert.deepEqual(links.map((l) => [l.sites, l.rttMs, l.directions]), [[['a', 'b'], 20, 2], [['a', 'c'], 5, 1]]);
});

test('a round trip to the center stands in for its site only when no peer measurement is fresh', () => {
  const m = matrix();
  m.record('edge', 'cloud', 40, 0, 'center');
  assert.equal(only(m, 0).rttMs, 40);
  m.record('edge', 'cloud', 10, 1000);
  assert.deepEqual([only(m, 1000).rttMs, only(m, 1000).directions], [10, 1]);
  // The peer direction goes quiet while the center keeps answering: the center's figure again.
  m.record('edge', 'cloud', 40, STALE + 1500, 'center');
  assert.deepEqual([only(m, STALE + 1500).state, only(m, STALE + 1500).rttMs], ['Up', 40]);
});

test('Down when the latest reports failed; Up again at the next sample; the value is not dragged by failures', () => {
  const m = matrix();
  m.record('a', 'b', 10, 0);
  m.record('a', 'b', null, 1000);
  assert.deepEqual([only(m, 1000).state, only(m, 1000).rttMs], ['Down', null]);
  m.record('b', 'a', null, 1100);
  assert.equal(only(m, 1100).directions, 2);
  m.record('a', 'b', 12, 2000);
  const l = only(m, 2000);
  assert.equal(l.state, 'Up');
  assert.ok(Math.abs(l.rttMs! - 10.6) < 1e-9, `${l.rttMs}`);
  // One direction failing while the other answers: the link is up (probes get through one way).
  m.record('b', 'a', null, 2100);
  assert.equal(only(m, 2100).state, 'Up');
});

test('silence makes a link Stale with its last value, then it expires', () => {
  const m = matrix();
  m.record('a', 'b', 10, 0);
  m.record('b', 'a', 20, 0);
  assert.equal(only(m, STALE - 1).state, 'Up');
  assert.deepEqual([only(m, STALE).state, only(m, STALE).rttMs, only(m, STALE).measuredAt], ['Stale', 15, 0]);
  // A Down link that falls silent is Stale too, with the value it had before failing.
  m.record('a', 'b', null, 1000);
  assert.deepEqual([only(m, 1000 + STALE).state, only(m, 1000 + STALE).rttMs], ['Stale', 15]);
  assert.equal(only(m, EXPIRE - 1).state, 'Stale');
  assert.deepEqual(m.snapshot(1000 + EXPIRE), []);
  assert.equal(m.size, 0);
});

test('a link never measured, only failed, is Down without a value and Stale without one later', () => {
  const m = matrix();
  m.record('a', 'b', null, 0);
  assert.deepEqual([only(m, 0).state, only(m, 0).rttMs, only(m, 0).samples], ['Down', null, 0]);
  assert.deepEqual([only(m, STALE).state, only(m, STALE).rttMs], ['Stale', null]);
});

const report = fc.record({
  forward: fc.boolean(),
  rtt: fc.option(fc.double({ min: 0, max: 10_000, noNaN: true }), { freq: 4 }),
  dt: fc.integer({ min: 0, max: 2 * STALE }),
});

test('property: the value lies between the smallest and largest sample, the jitter within their spread', () => {
  fc.assert(
    fc.property(fc.array(report, { minLength: 1, maxLength: 60 }), fc.integer({ min: 0, max: EXPIRE - 1 }), (reports, wait) => {
      const m = matrix();
      let t = 0;
      const values: number[] = [];
      for (const r of reports) {
        t += r.dt;
        m.record(r.forward ? 'a' : 'b', r.forward ? 'b' : 'a', r.rtt, t);
        if (r.rtt !== null) values.push(r.rtt);
      }
      const l = only(m, t + wait);
      assert.ok(l.samples <= values.length);
      if (l.rttMs === null) return;
      const lo = Math.min(...values);
      const hi = Math.max(...values);
      assert.ok(l.rttMs >= lo - 1e-9 && l.rttMs <= hi + 1e-9, `${l.rttMs} outside [${lo}, ${hi}]`);
      assert.ok(l.jitterMs >= 0 && l.jitterMs <= hi - lo + 1e-9);
    }),
  );
});

test('property: aging follows the last report only (Up or Down while fresh, Stale after, gone after expiry)', () => {
  fc.assert(
    fc.property(fc.array(report, { minLength: 1, maxLength: 30 }), fc.integer({ min: 0, max: 2 * EXPIRE }), (reports, wait) => {
      const m = matrix();
      let t = 0;
      for (const r of reports) m.record(r.forward ? 'a' : 'b', r.forward ? 'b' : 'a', r.rtt, (t += r.dt));
      const links = m.snapshot(t + wait);
      if (wait >= EXPIRE) return assert.deepEqual(links, []);
      assert.equal(links.length, 1);
      const l = links[0]!;
      if (wait >= STALE) assert.equal(l.state, 'Stale');
      else assert.notEqual(l.state, 'Stale');
      assert.ok(l.measuredAt <= t);
    }),
  );
});
