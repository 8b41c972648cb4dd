import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SinkRow } from '../src/components/scenario-model.ts';
import { assistRows, handoverRows, offloadStates, vehicleDots, type NodeEvent, type OffloadNode } from '../src/components/scenario-vehicles-model.ts';

const T0 = Date.UTC(2026, 0, 1);
let id = 0;
function row(topic: string, payload: unknown): SinkRow {
  return { id: ++id, node: 'n', seq: id, topic, qos: 0, at: new Date(T0).toISOString(), receivedAt: new Date(T0).toISOString(), payload: JSON.stringify(payload), encoding: 'utf8' };
}

describe('vehicleDots', () => {
  it('puts each vehicle where its newest report says, at the site that reported it, and skips what is not a report', () => {
    const dots = vehicleDots([
      row('vehicles/edge-a/positions', { site: 'edge-a', at: T0, vehicles: [{ vehicle: 'v1', lat: 37.5, lon: 127, count: 3, node: 'edge-a-1' }, { vehicle: 'v2', lat: 37.6, lon: 127.1, count: 1, node: null }] }),
      row('vehicles/edge-b/positions', { site: 'edge-b', at: T0 + 1000, vehicles: [{ vehicle: 'v1', lat: 37.51, lon: 127.01, count: 4, node: 'edge-b-1' }, { vehicle: 'bad' }] }),
      row('vehicles/edge-a/assist', { site: 'edge-a', windowEnd: T0 }),
      row('vehicles/edge-a/positions', 'not an object'),
    ]);
    assert.deepEqual(dots, [
      { vehicle: 'v1', site: 'edge-b', lat: 37.51, lon: 127.01, count: 4, node: 'edge-b-1', at: T0 + 1000 },
      { vehicle: 'v2', site: 'edge-a', lat: 37.6, lon: 127.1, count: 1, node: null, at: T0 },
    ]);
  });
});

describe('handoverRows', () => {
  it('lists hand-overs newest first, keeping an unknown prediction unknown', () => {
    const rows = handoverRows([
      row('handovers/edge-b/v1', { vehicle: 'v1', from: 'edge-a', to: 'edge-b', interruptionMs: 80, predicted: true, counterOk: true, node: 'edge-b-1', at: T0 }),
      row('handovers/edge-a/v2', { vehicle: 'v2', from: 'edge-b', to: 'edge-a', interruptionMs: 150, predicted: null, counterOk: true, node: 'region-1', at: T0 + 500 }),
      row('handovers/edge-a/v3', { vehicle: 'v3', from: 'edge-b' }),
    ]);
    assert.deepEqual(rows.map((r) => [r.vehicle, r.interruptionMs, r.predicted, r.node]), [['v2', 150, null, 'region-1'], ['v1', 80, true, 'edge-b-1']]);
  });
});

describe('assistRows', () => {
  it('keeps the newest window per site, with the rush hour where one ran', () => {
    const rows = assistRows([
      row('vehicles/edge-a/assist', { site: 'edge-a', windowEnd: T0, requests: 10, errors: 0, p50: 40, p99: 90, surge: null }),
      row('vehicles/edge-a/assist', { site: 'edge-a', windowEnd: T0 + 5000, requests: 12, errors: 1, p50: 60, p99: 240, surge: { requests: 300, errors: 0, atEdge: 100, p99: 230 } }),
      row('vehicles/edge-b/assist', { site: 'edge-b', windowEnd: T0, requests: 9, errors: 0, p50: 30, p99: 70, surge: null }),
    ]);
    assert.deepEqual(rows.map((r) => [r.site, r.p99, r.surge?.atEdge ?? null]), [['edge-a', 240, 100], ['edge-b', 70, null]]);
  });
});

describe('offloadStates', () => {
  const node = (name: string, site: string, overflowing: { project: string; service: string }[] = []): OffloadNode => ({ apiVersion: 'gedge.io/v1', kind: 'Node', metadata: { name, labels: {} }, spec: { site }, status: { overflowing } });
  const event = (name: string, reason: string, at: number, service = 'city/assist'): NodeEvent => ({ apiVersion: 'gedge.io/v1', kind: 'Event', metadata: { name: `${name}-${at}`, labels: {} }, spec: { involved: { kind: 'Node', name }, reason, message: `Service ${service} (http) at x: why`, at: new Date(at).toISOString() } });
  it('says overflowing from the node status, since its newest event that agrees, and edge for the others', () => {
    const states = offloadStates(
      [node('edge-b-1', 'edge-b'), node('edge-a-1', 'edge-a', [{ project: 'city', service: 'assist' }]), node('cloud-1', 'cloud')],
      new Set(['edge-a', 'edge-b']),
      [event('edge-a-1', 'Overflowing', T0), event('edge-a-1', 'OverflowEnded', T0 - 60_000), event('edge-a-1', 'Overflowing', T0 + 1000, 'default/web'), event('edge-b-1', 'Overflowing', T0 - 9000), event('edge-b-1', 'OverflowEnded', T0 - 4000)],
      'city',
    );
    assert.deepEqual(states.map((s) => [s.site, s.state, s.since]), [['edge-a', 'overflowing', T0], ['edge-b', 'edge', T0 - 4000]]);
  });
  it('leaves since unknown when the newest event disagrees with the status (the event is not in yet)', () => {
    const [s] = offloadStates([node('edge-a-1', 'edge-a', [{ project: 'city', service: 'assist' }])], new Set(['edge-a']), [event('edge-a-1', 'OverflowEnded', T0)], 'city');
    assert.deepEqual([s!.state, s!.since], ['overflowing', null]);
  });
});
