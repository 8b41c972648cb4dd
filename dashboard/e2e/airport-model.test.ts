import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Obj } from '../src/api.ts';
import type { EvaluationStatus } from '../../core/model-schema.ts';
import type { SinkRow } from '../src/components/scenario-model.ts';
import { cctvInstances, cctvRows, evaluationView, fmtRunMs, percent2, summarizeTerminals, totalUplink, uplinkOf, type CctvInstance } from '../src/components/airport-model.ts';

const T0 = Date.UTC(2026, 0, 1);
let id = 0;
function row(topic: string, payload: unknown, encoding: 'utf8' | 'base64' = 'utf8'): SinkRow {
  const text = JSON.stringify(payload);
  return { id: ++id, node: 'n', seq: id, topic, qos: 0, at: new Date(T0).toISOString(), receivedAt: new Date(T0).toISOString(), payload: encoding === 'base64' ? btoa(text) : text, encoding };
}
const stats = (site: string, i: number, o: Partial<Record<'frames' | 'correct' | 'local' | 'cloud' | 'fallback' | 'p50' | 'p99', number>> = {}) =>
  row(`stats/${site}/cctv`, { site, windowEnd: T0 + i * 5000, frames: 50, correct: 45, local: 40, cloud: 10, fallback: 0, p50: 2, p99: 8, ...o });

describe('cctvRows', () => {
  it('reads stats/<site>/cctv rows, skips other topics and bad payloads, and keeps the later row of a window written twice', () => {
    const rows = cctvRows([
      stats('terminal-1', 1),
      row('stats/terminal-1/latency', { site: 'terminal-1', windowEnd: T0 }),
      row('stats/terminal-2/cctv', 'not an object'),
      { ...stats('terminal-2', 1), payload: '{broken' },
      stats('terminal-1', 1, { frames: 60 }),
      row('stats/terminal-2/cctv', { windowEnd: (T0 + 5000) / 1000, frames: 10 }, 'base64'),
    ]);
    assert.equal(rows.length, 2);
    assert.equal(rows[0]!.frames, 60, 'the later row of the same window');
    assert.deepEqual(rows[1], { site: 'terminal-2', windowEnd: T0 + 5000, frames: 10, correct: 0, local: 0, cloud: 0, fallback: 0, p50: null, p99: null });
  });
});

describe('summarizeTerminals', () => {
  it('sums the newest six windows of each site: frames a second, local share, accuracy, median p50, max p99', () => {
    const rows = cctvRows([
      // An old window with huge latency: not among the newest six, so left out.
      stats('terminal-2', 0, { p99: 999, frames: 1000 }),
      ...[1, 2, 3, 4, 5, 6].map((i) => stats('terminal-2', i, { p50: i, p99: 10 * i, fallback: i === 6 ? 3 : 0 })),
      stats('terminal-10', 1, { frames: 0, correct: 0, local: 0, cloud: 0 }),
      stats('terminal-1', 3),
      stats('terminal-1', 4, { frames: 100, correct: 99, local: 100, cloud: 0 }),
    ]);
    const s = summarizeTerminals(rows);
    assert.deepEqual(
      s.map((x) => x.site),
      ['terminal-1', 'terminal-2', 'terminal-10'],
    );
    const [t1, t2, t10] = s as [(typeof s)[0], (typeof s)[0], (typeof s)[0]];
    assert.equal(t2.windows, 6);
    assert.equal(t2.frames, 300);
    assert.equal(t2.fps, 10, '300 frames over 30 s');
    assert.equal(t2.localShare, 240 / 300);
    assert.equal(t2.accuracy, 270 / 300);
    assert.equal(t2.p50, 3.5, 'median of 1..6');
    assert.equal(t2.p99, 60, 'the old 999 is not in the newest six');
    assert.equal(t2.fallback, 3);
    assert.equal(t2.from, T0 + 5000 - 5000);
    assert.equal(t2.to, T0 + 30_000);
    assert.equal(t1.windows, 2);
    assert.equal(t1.fps, 150 / 10);
    assert.equal(t1.accuracy, 144 / 150);
    assert.equal(t1.cloud, 10);
    assert.equal(t10.localShare, null, 'no frames: no share');
    assert.equal(t10.accuracy, null);
    assert.equal(t10.fps, 0);
  });
  it('leaves latency out of windows that have none', () => {
    const rows = cctvRows([row('stats/terminal-1/cctv', { site: 'terminal-1', windowEnd: T0, frames: 0 }), stats('terminal-1', 1, { p50: 4, p99: 9 })]);
    const [t1] = summarizeTerminals(rows);
    assert.equal(t1!.p50, 4);
    assert.equal(t1!.p99, 9);
  });
});

describe('uplink', () => {
  it('compares the bytes sent with 784 raw bytes a frame', () => {
    const u = uplinkOf({ rows: 1000, local: 800, offloaded: 200, fallbacks: 0, bytesUp: 200 * 98 });
    assert.equal(u.bytesPerFrame, 19.6);
    assert.equal(u.bytesPerOffload, 98);
    assert.equal(u.saving, (1000 * 784) / (200 * 98));
  });
  it('calls a saving infinite when frames were classified and nothing sent, and unknown without frames', () => {
    assert.equal(uplinkOf({ rows: 5, local: 5, offloaded: 0, fallbacks: 0, bytesUp: 0 }).saving, Infinity);
    assert.equal(uplinkOf({ rows: 5, local: 5, offloaded: 0, fallbacks: 0, bytesUp: 0 }).bytesPerOffload, null);
    const none = uplinkOf({ rows: 0, local: 0, offloaded: 0, fallbacks: 0, bytesUp: 0 });
    assert.equal(none.saving, null);
    assert.equal(none.bytesPerFrame, null);
  });
  it('sums the instances that report split figures, in site order', () => {
    const inst = (name: string, node: string, split?: { rows: number; offloaded: number; bytesUp: number }, project = 'airport', service = 'cctv'): Obj => ({
      apiVersion: 'gedge.io/v1',
      kind: 'Instance',
      metadata: { name, project, labels: { 'gedge.io/service': service } },
      spec: { node, template: {} },
      status: split ? { inference: { split: { local: split.rows - split.offloaded, fallbacks: 0, threshold: 0.3, ...split } } } : {},
    });
    const sites = new Map([
      ['edge-2', 'terminal-2'],
      ['edge-1', 'terminal-1'],
    ]);
    const list = cctvInstances(
      [inst('b', 'edge-2', { rows: 100, offloaded: 10, bytesUp: 1000 }), inst('a', 'edge-1', { rows: 300, offloaded: 30, bytesUp: 3000 }), inst('c', 'edge-1'), inst('x', 'edge-1', undefined, 'city'), inst('y', 'edge-1', undefined, 'airport', 'other')],
      sites,
    );
    assert.deepEqual(
      list.map((i) => i.metadata.name),
      ['a', 'c', 'b'],
    );
    const t = totalUplink(list as CctvInstance[])!;
    assert.equal(t.rows, 400);
    assert.equal(t.bytesUp, 4000);
    assert.equal(t.bytesPerOffload, 100);
    assert.equal(totalUplink([]), null);
  });
});

describe('evaluationView', () => {
  const e: EvaluationStatus = { phase: 'Shadowing', baseline: { model: 'cctv-head', version: 1 }, rows: 1000, accuracy: 0.9712, baselineAccuracy: 0.9735, p50Ms: 1, baselineP50Ms: 0.8, p99Ms: 3, baselineP99Ms: 2, shadow: { requests: 3, agreed: 3, wanted: 5 }, message: '' };
  it('states accuracy in points against the baseline, the slowdown and shadowing progress', () => {
    const v = evaluationView(e);
    assert.equal(v.baseline, 'cctv-head v1');
    assert.ok(Math.abs(v.accuracyDelta! - -0.23) < 1e-9);
    assert.equal(v.slowdown, 1.25, "the medians, as the gate judges");
    assert.equal(v.shadowProgress, 0.6);
    assert.equal(v.agreement, 1);
    assert.equal(percent2(e.accuracy), '97.12%');
    assert.equal(percent2(null), '–');
    assert.deepEqual([fmtRunMs(0.029), fmtRunMs(2.345), fmtRunMs(62.9), fmtRunMs(null)], ['0.029 ms', '2.3 ms', '63 ms', '–']);
  });
  it('leaves out what was not measured', () => {
    const v = evaluationView({ ...e, phase: 'Evaluating', accuracy: null, baselineP50Ms: 0, shadow: undefined });
    assert.equal(v.accuracyDelta, null);
    assert.equal(v.slowdown, null);
    assert.equal(v.shadowProgress, null);
    assert.equal(v.agreement, null);
  });
});
