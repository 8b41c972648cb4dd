import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { loopOrder, metres, nearestSite, positionAt, type Waypoint } from './route.ts';

const CITY: Waypoint[] = [
  { name: 'edge-a', lat: 37.4979, lon: 127.0276 },
  { name: 'edge-b', lat: 37.5045, lon: 127.049 },
  { name: 'edge-c', lat: 37.511, lon: 127.0217 },
  { name: 'edge-d', lat: 37.527, lon: 127.04 },
];

test('the loop goes round the sites by bearing, so it never crosses itself', () => {
  assert.deepEqual(loopOrder(CITY).map((w) => w.name), ['edge-a', 'edge-b', 'edge-d', 'edge-c']);
});

test('a vehicle is at a waypoint every legMs and half-way between at the middle of a leg', () => {
  const loop = loopOrder(CITY);
  assert.deepEqual(positionAt(loop, 10_000, 0, 0), { lat: loop[0]!.lat, lon: loop[0]!.lon });
  const mid = positionAt(loop, 10_000, 0, 5_000);
  assert.ok(Math.abs(mid.lat - (loop[0]!.lat + loop[1]!.lat) / 2) < 1e-9);
  const round = positionAt(loop, 10_000, 0, 40_000);
  assert.ok(Math.abs(round.lat - loop[0]!.lat) < 1e-9, 'back at the start after a round');
  // An offset of a quarter on four waypoints starts at the second.
  const second = positionAt(loop, 10_000, 0.25, 0);
  assert.ok(Math.abs(second.lon - loop[1]!.lon) < 1e-9);
});

test('driving a leg, the nearest site changes once, from the leg start to its end', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 3 }), (k) => {
      const loop = loopOrder(CITY);
      const seen: string[] = [];
      for (let t = 0; t <= 10_000; t += 100) {
        const s = nearestSite(positionAt(loop, 10_000, k / 4, t), CITY);
        if (seen.at(-1) !== s) seen.push(s);
      }
      assert.deepEqual(seen, [loop[k]!.name, loop[(k + 1) % 4]!.name]);
    }),
  );
});

test('distances are in metres', () => {
  const d = metres(CITY[0]!, CITY[1]!);
  assert.ok(d > 1900 && d < 2100, `edge-a to edge-b: ${d} m`);
});
