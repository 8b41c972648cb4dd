import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { FakeClock, harness } from './test-helpers.ts';
import type { TableSpec } from './tables.ts';

/** The smart-city example's rules (examples/smart-city), run through the engine as the agents run them. */

interface RuleDoc {
  kind: string;
  metadata: { name: string };
  spec: { sql: string; tables?: Record<string, TableSpec> };
}
const rules = new Map<string, RuleDoc>();
for (const file of ['signal-timing', 'flows', 'stats', 'city-view']) {
  const text = readFileSync(new URL(`../examples/smart-city/${file}.yaml`, import.meta.url), 'utf8');
  for (const d of parseAllDocuments(text)) {
    const doc = d.toJS() as RuleDoc;
    if (doc.kind === 'Rule') rules.set(doc.metadata.name, doc);
  }
}
const T0 = Date.UTC(2026, 0, 1, 8);

function start(name: string, tables?: Record<string, TableSpec>) {
  const h = harness({ clock: new FakeClock(T0) });
  const r = rules.get(name)!;
  h.apply(name, r.spec.sql, { tables: tables ?? r.spec.tables });
  return h;
}
const loop = (site: string, int: string, approach: string, ts: number, o: { queue?: number; count?: number; speedKmh?: number; occupancy?: number } = {}) =>
  [`traffic/${site}/${int}/${approach}/loop`, { ts, site, intersection: int, approach, count: o.count ?? 1, speedKmh: o.speedKmh ?? 40, occupancy: o.occupancy ?? 0.1, queue: o.queue ?? 0 }] as const;

const camera = (site: string, int: string, ts: number, queue: Record<'n' | 'e' | 's' | 'w', number>) => [`traffic/${site}/${int}/camera`, { ts, site, intersection: int, queue }] as const;

describe('smart-city rules', () => {
  it('signal-timing: the green split follows the queues per axis, clamped, and a command goes only when the light is 2 s or more off', () => {
    const h = start('signal-timing');
    h.send(...camera('edge-a', 'i2', T0 - 5, { n: 6, s: 4, e: 0, w: 2 }));
    const [first] = h.take('signal-timing');
    // NS queue 10, EW 2: 40 s x 11/14 = 31.4 s, rounded to 31 s; EW gets the rest.
    assert.deepEqual(
      { site: first!.site, intersection: first!.intersection, via: first!.via, sensorTs: first!.sensorTs, greenNsMs: first!.greenNsMs, greenEwMs: first!.greenEwMs },
      { site: 'edge-a', intersection: 'i2', via: 'edge', sensorTs: T0 - 5, greenNsMs: 31_000, greenEwMs: 9000 },
    );
    // The light now runs 31/9: about the same queues give no command; a swing to EW does, clamped to 5 s.
    h.send('traffic/edge-a/i2/light', { ts: T0, id: 'edge-a/i2', phase: 'NS', greenNsMs: 31_000, greenEwMs: 9000, latencyMs: 1, via: 'edge' });
    h.send(...camera('edge-a', 'i2', T0, { n: 7, s: 4, e: 1, w: 2 }));
    assert.deepEqual(h.take('signal-timing'), []);
    h.clock.advance(1500);
    h.send(...camera('edge-a', 'i2', T0 + 1500, { n: 0, s: 0, e: 30, w: 25 }));
    const swing = h.take('signal-timing');
    assert.equal(swing.length, 1);
    assert.deepEqual([swing[0]!.greenNsMs, swing[0]!.greenEwMs, swing[0]!.sensorTs], [5000, 35_000, T0 + 1500]);
  });

  it('signal-timing: i1 is left to the cloud; the same statement with plan.via cloud decides it there and only it', () => {
    const edge = start('signal-timing');
    const tables = { ...rules.get('signal-timing')!.spec.tables!, plan: { rows: [{ id: 'plan', via: 'cloud', greenMs: 40_000, minGreenMs: 5000 }] } };
    const cloud = start('signal-timing', tables);
    for (const h of [edge, cloud]) for (const int of ['i1', 'i2']) h.send(...camera('edge-b', int, T0, { n: 9, s: 9, e: 0, w: 0 }));
    assert.deepEqual(edge.take('signal-timing').map((r) => [r.intersection, r.via]), [['i2', 'edge']]);
    assert.deepEqual(cloud.take('signal-timing').map((r) => [r.intersection, r.via]), [['i1', 'cloud']]);
  });

  it('flows: one aggregate per intersection per second, vehicles summed', () => {
    const h = start('flows');
    for (let k = 0; k < 10; k++) for (const a of ['n', 'e', 's', 'w']) h.send(...loop('edge-a', 'i3', a, T0 + k * 100, { count: 1, queue: a === 'n' ? 4 : 2 }));
    h.clock.advance(1000);
    const rows = h.take('flows');
    assert.equal(rows.length, 1);
    assert.deepEqual({ ...rows[0], speedKmh: undefined }, { site: 'edge-a', intersection: 'i3', windowEnd: T0 + 1000, vehicles: 40, speedKmh: undefined, queueNs: 3, queueEw: 2, queueMax: 4, readings: 40 });
  });

  it('incidents: traffic much slower than its occupancy explains is flagged; congestion alone is not', () => {
    const h = start('incidents');
    for (let k = 0; k < 50; k++) {
      h.send(...loop('edge-c', 'i2', 'n', T0 + k * 100, { speedKmh: 8, occupancy: 0.3 })); // a blocked lane
      h.send(...loop('edge-c', 'i2', 's', T0 + k * 100, { speedKmh: 11, occupancy: 0.98 })); // a plain jam
      h.send(...loop('edge-c', 'i2', 'e', T0 + k * 100, { speedKmh: 45, occupancy: 0.05 })); // free flow
    }
    h.clock.advance(5000);
    assert.deepEqual(h.take('incidents').map((r) => [r.intersection, r.approach, r.speedKmh]), [['i2', 'n', 8]]);
  });

  it('control-latency and traffic-volume: per site and path every 5 s', () => {
    const lat = start('control-latency');
    const vol = start('traffic-volume');
    for (let k = 1; k <= 100; k++) {
      const light = ['traffic/edge-a/i2/light', { ts: T0, id: 'edge-a/i2', latencyMs: k / 10, via: 'edge' }] as const;
      lat.send(...light);
      vol.send(...light);
    }
    lat.send('traffic/edge-a/i1/light', { ts: T0, id: 'edge-a/i1', latencyMs: null, via: null }); // a phase change
    vol.send('flows/edge-a/i2', { vehicles: 3 });
    lat.clock.advance(5000);
    vol.clock.advance(5000);
    const [row] = lat.take('control-latency');
    assert.deepEqual({ site: row!.site, via: row!.via, commands: row!.commands, max: row!.max }, { site: 'edge-a', via: 'edge', commands: 100, max: 10 });
    assert.ok(Math.abs((row!.p50 as number) - 5.05) < 0.01 && (row!.p99 as number) > 9.8);
    const v = Object.fromEntries(vol.take('traffic-volume').map((r) => [r.stream, r]));
    assert.equal(v.traffic!.messages, 100);
    assert.equal(v.flows!.bytes, JSON.stringify({ vehicles: 3 }).length);
  });

  it('city-view: the aggregates of a site over 5 s', () => {
    const h = start('city-view');
    for (let k = 0; k < 5; k++) for (const int of ['i1', 'i2']) h.send(`flows/edge-d/${int}`, { site: 'edge-d', intersection: int, windowEnd: T0 + k * 1000, vehicles: 10, queueNs: 2, queueEw: 4, queueMax: 6 });
    h.clock.advance(5000);
    assert.deepEqual(h.take('city-view'), [{ site: 'edge-d', windowEnd: T0 + 4000, vehicles: 100, queueAvg: 3, queueMax: 6, reports: 10 }]);
  });
});
