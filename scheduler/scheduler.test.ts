import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Device } from '../core/index.ts';
import { Scheduler } from './scheduler.ts';
import { instance, link, node, site, stateOf } from './test-helpers.ts';

test('the summary of an unschedulable instance adds up, most common reason first', () => {
  const objs = [site('edge-a'), site('cloud', 'cloud'), link('edge-a', 'cloud', 42)];
  for (let i = 0; i < 5; i++) objs.push(node(`edge-${i}`, { site: 'edge-a', capacity: { cpu: 1, memoryMiB: 1024 } }) as never);
  for (let i = 0; i < 7; i++) objs.push(node(`cloud-${i}`, { site: 'cloud', capacity: { cpu: 64, memoryMiB: 65536 } }) as never);
  const d = new Scheduler(stateOf(objs)).place(instance('web-1', { want: { cpu: 2 }, placement: { clients: { sites: ['edge-a'] }, maxLatency: '10ms' } }));
  assert.equal(d.node, null);
  assert.equal(d.explanation.summary, '0/12 nodes: 7 latency 42ms > SLA 10ms, 5 insufficient cpu');
  assert.equal(d.explanation.candidates.length, 12, 'a small cluster lists every node');
  assert.equal(d.explanation.omitted, 0);
});

test('latency policy: the closest site within the SLA; edge preferred over cloud when the round trips are close', () => {
  const objs = [site('edge-a'), site('edge-b'), site('region', 'region'), site('cloud', 'cloud'), link('edge-a', 'edge-b', 3), link('edge-a', 'region', 8), link('edge-a', 'cloud', 25)];
  const nodes = [node('a-1', { site: 'edge-a' }), node('b-1', { site: 'edge-b' }), node('r-1', { site: 'region' }), node('c-1', { site: 'cloud' })];
  const placement = { clients: { sites: ['edge-a'] }, maxLatency: '30ms' };
  const s = new Scheduler(stateOf([...objs, ...nodes]));
  assert.equal(s.place(instance('i', { placement })).node, 'a-1');
  // Tiered fallback: edge-a gone, then the next edge, then region, then cloud.
  const without = (...gone: string[]) => new Scheduler(stateOf([...objs, ...nodes.filter((n) => !gone.includes(n.metadata.name))])).place(instance('i', { placement })).node;
  assert.equal(without('a-1'), 'b-1');
  assert.equal(without('a-1', 'b-1'), 'r-1');
  assert.equal(without('a-1', 'b-1', 'r-1'), 'c-1');
  assert.equal(new Scheduler(stateOf([...objs, nodes[3]!])).place(instance('i', { placement: { ...placement, maxLatency: '20ms' } })).node, null);
});

test('clients at a point reach the nearest located site; the fiber round trip to it is added', () => {
  const seoul = { lat: 37.5665, lon: 126.978 };
  const busan = { lat: 35.1796, lon: 129.0756 };
  const objs = [site('seoul', 'edge', seoul), site('busan', 'edge', busan), link('seoul', 'busan', 9), node('s-1', { site: 'seoul' }), node('b-1', { site: 'busan' })];
  const s = new Scheduler(stateOf(objs));
  const nearBusan = s.place(instance('i', { placement: { clients: { location: { lat: 35.2, lon: 129.0 } }, maxLatency: '5ms' } }));
  assert.equal(nearBusan.node, 'b-1');
  const b = nearBusan.explanation.candidates.find((c) => c.node === 'b-1')!;
  assert.ok(b.latencyMs! > 0 && b.latencyMs! < 0.2, `a few km of fiber: ${b.latencyMs}`);
  assert.equal(nearBusan.explanation.candidates.find((c) => c.node === 's-1')!.verdict, 'latency 9.1ms > SLA 5ms', '9 ms of link plus the access fiber');
});

test("clients by device labels: the sites of the project's matching devices, worst case over all of them, kept current as devices come and go", () => {
  const dev = (name: string, siteName: string, labels: Record<string, string>, project = 'default'): Device => ({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name, project, labels }, spec: { site: siteName, description: '', grants: { publish: [], subscribe: [] }, twin: { desired: {} } } });
  const objs = [site('edge-a'), site('edge-b'), site('edge-c'), link('edge-a', 'edge-b', 4), link('edge-a', 'edge-c', 4), link('edge-b', 'edge-c', 30), node('a-1', { site: 'edge-a' }), node('b-1', { site: 'edge-b' }), node('c-1', { site: 'edge-c' })];
  const state = stateOf([...objs, dev('cam-1', 'edge-b', { kind: 'camera' }), dev('cam-x', 'edge-c', { kind: 'camera' }, 'other')]);
  const s = new Scheduler(state, { explainAllUpTo: 0 });
  const pod = instance('ai', { placement: { clients: { devices: { kind: 'camera' } }, maxLatency: '10ms' } });
  assert.equal(s.place(pod).node, 'b-1', 'next to the only camera of its project');
  state.apply(dev('cam-2', 'edge-c', { kind: 'camera' }));
  assert.equal(s.place(pod).node, 'a-1', 'cameras at edge-b and edge-c: edge-a is within 10 ms of both');
  state.apply(dev('cam-2', 'edge-c', { kind: 'camera' }), true);
  state.apply(dev('cam-1', 'edge-b', { kind: 'microphone' }));
  assert.match(s.place(pod).explanation.summary, /^0\/3 nodes: 3 latency unknown$/, 'no camera left: nothing to promise an SLA to');
});

test('binpack fills the fullest node that still fits; spread goes to the emptiest', () => {
  const objs = [site('site-a'), node('empty'), node('half'), node('full'), instance('x', { service: 'x', node: 'half', want: { cpu: 2, memoryMiB: 2048 } }), instance('y', { service: 'y', node: 'full', want: { cpu: 4, memoryMiB: 4096 } })];
  const s = new Scheduler(stateOf(objs));
  assert.equal(s.place(instance('i', { want: { cpu: 1, memoryMiB: 512 }, placement: { policy: 'binpack' } })).node, 'half', 'the full node does not fit');
  assert.equal(s.place(instance('i', { want: { cpu: 1, memoryMiB: 512 }, placement: { policy: 'spread' } })).node, 'empty');
});

test('spread puts replicas of a service on different nodes, then different sites', () => {
  const state = stateOf([site('a'), site('b'), node('a-1', { site: 'a' }), node('a-2', { site: 'a' }), node('b-1', { site: 'b' })]);
  const s = new Scheduler(state);
  const chosen: string[] = [];
  for (let i = 0; i < 3; i++) {
    const inst = instance(`web-${i}`);
    const d = s.place(inst);
    chosen.push(d.node!);
    state.assume(inst, d.node!);
  }
  assert.deepEqual(chosen.slice(0, 2).sort(), ['a-1', 'b-1'], 'the first two in different sites');
  assert.equal(new Set(chosen).size, 3);
});

test('weights override the policy: cost makes the cheap tier win', () => {
  const state = stateOf([site('edge'), site('cloud', 'cloud'), node('e-1', { site: 'edge' }), node('c-1', { site: 'cloud' })]);
  const s = new Scheduler(state);
  assert.equal(s.place(instance('i', { placement: { weights: { cost: 10, spread: 0, leastAllocated: 0 } } })).node, 'c-1');
  assert.equal(s.place(instance('i', { placement: { weights: { tier: 10, spread: 0, leastAllocated: 0 } } })).node, 'e-1');
});

test('an unknown priority class leaves the instance pending with the reason', () => {
  const d = new Scheduler(stateOf([node('n')])).place(instance('i', { placement: { priorityClass: 'gold' } }));
  assert.equal(d.node, null);
  assert.equal(d.explanation.summary, 'priority class "gold" not found');
});

test('a large cluster explains with the best few and one example per rejection', () => {
  const objs: Parameters<typeof stateOf>[0] = [site('site-a')];
  for (let i = 0; i < 50; i++) objs.push(node(`n-${String(i).padStart(2, '0')}`, { ready: i % 2 === 0 }));
  const d = new Scheduler(stateOf(objs)).place(instance('i'));
  assert.equal(d.explanation.summary, '25/50 nodes fit');
  assert.equal(d.explanation.candidates.filter((c) => c.verdict === 'fit').length, 5);
  assert.deepEqual(d.explanation.candidates.filter((c) => c.verdict !== 'fit').map((c) => c.verdict), ['not Ready']);
  assert.equal(d.explanation.omitted, 44);
  assert.equal(d.explanation.candidates[0]!.node, d.node);
  assert.ok(d.explanation.candidates[0]!.scores!.spread !== undefined);
});

test('services of one replica that request nothing still spread over the nodes by load (a request of nothing counts as 0.1 core and 200 MiB when scoring)', () => {
  const state = stateOf([site('a'), node('n-1', { site: 'a' }), node('n-2', { site: 'a' }), node('n-3', { site: 'a' })]);
  const s = new Scheduler(state);
  const perNode = new Map<string, number>();
  for (let i = 0; i < 30; i++) {
    const inst = instance(`svc-${i}-0`, { service: `svc-${i}`, want: {} });
    const d = s.place(inst);
    perNode.set(d.node!, (perNode.get(d.node!) ?? 0) + 1);
    state.assume(inst, d.node!);
  }
  assert.deepEqual([...perNode.values()], [10, 10, 10], JSON.stringify([...perNode]));
  // Only when scoring: the filters fit what is asked, and requests of nothing take no room.
  assert.notEqual(s.place(instance('big', { service: 'big', want: { cpu: 4, memoryMiB: 4096 } })).node, null, 'a whole node is still free for 4 cores');
});

test('assume accounts a binding at once, so back-to-back placements never double-book', () => {
  const state = stateOf([node('only', { capacity: { cpu: 1, memoryMiB: 1024 } })]);
  const s = new Scheduler(state);
  const a = instance('a', { want: { cpu: 1 } });
  state.assume(a, s.place(a).node!);
  assert.equal(s.place(instance('b', { want: { cpu: 1 } })).explanation.summary, '0/1 nodes: 1 insufficient cpu');
  state.apply(a, true);
  assert.equal(s.place(instance('b', { want: { cpu: 1 } })).node, 'only', 'deletion frees the room');
});
