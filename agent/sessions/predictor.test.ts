import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FIXES_KEPT, nextSite, Trajectories } from './predictor.ts';

// Three intersections on an east-west road, about 550 m apart.
const sites = [
  { site: 'west', location: { lat: 37.5, lon: 127.0 } },
  { site: 'mid', location: { lat: 37.5, lon: 127.00625 } },
  { site: 'east', location: { lat: 37.5, lon: 127.0125 } },
];
/** A vehicle at `lon`, driving east at `speed` degrees of longitude per second, seen every second. */
const drive = (from: number, speed: number, n = 3) => Array.from({ length: n }, (_, i) => ({ lat: 37.5, lon: from + speed * i, at: 1_000_000 + i * 1000 }));

test('a client heading east is predicted at the next site east once it is within the lookahead, not before', () => {
  // 15 m/s is about 0.00017 degrees of longitude a second here; the west/mid border is at 127.003125.
  assert.equal(nextSite(drive(127.002, 0.00017), sites, 10_000), 'mid', 'crosses into mid within 10 s');
  assert.equal(nextSite(drive(127.002, 0.00017), sites, 2_000), undefined, 'not within 2 s');
  assert.equal(nextSite(drive(127.004, 0.00017), sites, 10_000), undefined, 'in mid, east is beyond 10 s');
  assert.equal(nextSite(drive(127.008, 0.00017), sites, 10_000), 'east');
  assert.equal(nextSite(drive(127.008, -0.00017), sites, 10_000), undefined, 'heading west from mid: mid stays nearest for 10 s');
  assert.equal(nextSite(drive(127.004, -0.00017), sites, 10_000), 'west');
});

test('too little to go on predicts nothing: one fix, a client standing still, fixes out of order, one site', () => {
  assert.equal(nextSite(drive(127.0, 0.00017, 1), sites, 10_000), undefined);
  assert.equal(nextSite(drive(127.0, 0, 3), sites, 10_000), undefined);
  assert.equal(nextSite([...drive(127.0, 0.00017)].reverse(), sites, 10_000), undefined);
  assert.equal(nextSite(drive(127.0, 0.00017), sites.slice(0, 1), 10_000), undefined);
});

test('a trajectory keeps the newest fixes of the last minute, in order', () => {
  const t = new Trajectories();
  for (const f of drive(127.0, 0.0001, 8)) t.add('car', f);
  const kept = t.add('car', { lat: 37.5, lon: 127.0, at: 1_000_000 });
  assert.equal(kept.length, FIXES_KEPT, 'an older fix is not taken');
  assert.deepEqual(kept.map((f) => f.at), [1_003_000, 1_004_000, 1_005_000, 1_006_000, 1_007_000]);
  assert.equal(t.add('car', { lat: 37.5, lon: 127.0, at: 1_007_000 + 61_000 }).length, 1, 'fixes older than a minute go');
});
