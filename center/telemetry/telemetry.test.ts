import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Telemetry } from './telemetry.ts';

const T0 = 1_699_999_800_000; // a multiple of 10 s and of 5 min

function clock(start = T0) {
  let now = start;
  return { now: () => now, set: (t: number) => (now = t) };
}

test('samples within one 10 s bucket are averaged; empty buckets are null', () => {
  const c = clock();
  const tm = new Telemetry(undefined, c.now);
  tm.recordNode('n1', { cpu: 1, memoryMiB: 100 }, T0 + 1000);
  tm.recordNode('n1', { cpu: 3, memoryMiB: 300, netRxBps: 50 }, T0 + 9000);
  tm.recordNode('n1', { cpu: 2 }, T0 + 30_000);
  c.set(T0 + 35_000);
  const s = tm.node('n1', '15m')!;
  assert.equal(s.resolutionS, 10);
  assert.equal(s.t.length, 91);
  assert.equal(s.t.at(-1), (T0 + 30_000) / 1000);
  const i0 = s.t.indexOf(T0 / 1000);
  assert.deepEqual([s.series.cpu![i0], s.series.memoryMiB![i0], s.series.netRxBps![i0], s.series.netTxBps![i0]], [2, 200, 50, null]);
  assert.equal(s.series.cpu![i0 + 1], null, 'nothing reported in the second bucket');
  assert.equal(s.series.cpu![i0 + 3], 2);
  assert.equal(s.series.memoryMiB![i0 + 3], null, 'a field left out stays a gap');
});

test('one hour at 10 s resolution; beyond it the 5 min downsample is the mean of every sample in it', () => {
  const c = clock();
  const tm = new Telemetry(undefined, c.now);
  // Two hours of samples every 2 s: cpu rises by one each minute.
  for (let t = 0; t < 2 * 3600_000; t += 2000) tm.recordNode('n1', { cpu: Math.floor(t / 60_000) }, T0 + t);
  c.set(T0 + 2 * 3600_000 - 1);
  const hour = tm.node('n1', '1h')!;
  assert.equal(hour.resolutionS, 10);
  assert.equal(hour.t.length, 360);
  assert.ok(hour.series.cpu!.every((v) => v !== null), 'a full hour of fine points');
  assert.equal(hour.series.cpu!.at(-1), 119);

  const day = tm.node('n1', '24h')!;
  assert.equal(day.resolutionS, 300);
  assert.equal(day.t.length, 288);
  const held = day.series.cpu!.filter((v) => v !== null);
  assert.equal(held.length, 24, 'two hours of 5 min points, the rest of the day empty');
  assert.equal(held[0], 2, 'minutes 0..4 average to 2');
  assert.equal(held.at(-1), 117);
});

test('old fine buckets are overwritten, not returned as new ones', () => {
  const c = clock();
  const tm = new Telemetry(undefined, c.now);
  tm.recordNode('n1', { cpu: 5 }, T0);
  c.set(T0 + 3600_000 + 5000); // the same ring slot, one hour later
  tm.recordNode('n1', { cpu: 7 }, T0 + 3600_000);
  const s = tm.node('n1', '1h')!;
  assert.deepEqual(s.series.cpu!.filter((v) => v !== null), [7]);
});

test('instances are kept per project; forgetting drops the history', () => {
  const c = clock();
  const tm = new Telemetry(undefined, c.now);
  tm.recordInstance('a', 'web-1', { cpu: 0.5, memoryMiB: 40 }, T0);
  tm.recordInstance('b', 'web-1', { cpu: 1.5, memoryMiB: 80 }, T0);
  c.set(T0 + 1000);
  assert.deepEqual(Object.keys(tm.instance('a', 'web-1', '15m')!.series), ['cpu', 'memoryMiB']);
  assert.equal(tm.instance('b', 'web-1', '15m')!.series.cpu!.at(-1), 1.5);
  tm.forgetInstance('a', 'web-1');
  assert.equal(tm.instance('a', 'web-1', '15m'), undefined);
  assert.deepEqual(tm.size, { nodes: 0, instances: 1 });
  tm.recordNode('n1', { cpu: Number.NaN }, T0);
  assert.equal(tm.node('n1', '15m')!.series.cpu!.at(-1), null, 'non-finite samples are ignored');
});
