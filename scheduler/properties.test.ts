import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Node, Placement, Resources, Tier } from '../core/index.ts';
import { SCORING_DEFAULT } from './cluster-state.ts';
import { Scheduler } from './scheduler.ts';
import { instance, link, node, site, stateOf } from './test-helpers.ts';

// Random small clusters: a few sites of each tier, nodes with random state and
// load, links with random (or missing) round trips, and random instances to place.
type Of<A> = A extends fc.Arbitrary<infer T> ? T : never;
const SITES = ['s0', 's1', 's2', 's3'];
const tierOf = (s: string): Tier => (['cloud', 'region', 'edge', 'edge'] as const)[SITES.indexOf(s)]!;

const nodeArb = fc.record({
  site: fc.constantFrom(...SITES),
  ready: fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, { arbitrary: fc.constant(false), weight: 1 }),
  unschedulable: fc.integer({ min: 0, max: 9 }).map((x) => x === 0),
  zone: fc.constantFrom('a', 'b', undefined),
  tainted: fc.integer({ min: 0, max: 5 }).map((x) => x === 0),
  cpu: fc.constantFrom(0, 2, 4, 8),
  memoryMiB: fc.constantFrom(0, 1024, 4096),
  gpu: fc.constantFrom(0, 0, 1),
  usedCpu: fc.constantFrom(0, 1, 2, 3),
  usedMem: fc.constantFrom(0, 512, 1024),
});
const clusterArb = fc.record({
  nodes: fc.array(nodeArb, { maxLength: 9 }),
  rtts: fc.array(fc.option(fc.double({ min: 0.1, max: 60, noNaN: true }), { nil: undefined }), { minLength: 6, maxLength: 6 }),
});
const sometimes = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 2 });
const podArb = fc.record({
  want: fc.record({ cpu: fc.constantFrom(0, 0.5, 1, 2), memoryMiB: fc.constantFrom(0, 256, 1024), gpu: fc.constantFrom(0, 0, 1) }),
  tiers: sometimes(fc.subarray<Tier>(['cloud', 'region', 'edge'], { minLength: 1 })),
  zone: sometimes(fc.constantFrom('a', 'b')),
  clients: fc.constantFrom(...SITES),
  sla: sometimes(fc.constantFrom(2, 10, 30)),
  tolerate: fc.boolean(),
});

type Built = ReturnType<typeof build>;
function build(c: Of<typeof clusterArb>) {
  const pairs: [string, string][] = [];
  for (let i = 0; i < SITES.length; i++) for (let j = i + 1; j < SITES.length; j++) pairs.push([SITES[i]!, SITES[j]!]);
  const links = pairs.flatMap(([a, b], k) => (c.rtts[k] === undefined ? [] : [link(a, b, c.rtts[k]!)]));
  const nodes: Node[] = c.nodes.map((n, i) =>
    node(`node-${i}`, {
      site: n.site,
      ready: n.ready,
      unschedulable: n.unschedulable,
      labels: n.zone ? { zone: n.zone } : {},
      taints: n.tainted ? [{ key: 'dedicated', value: 'x', effect: 'NoSchedule' }] : [],
      capacity: { cpu: n.cpu, memoryMiB: n.memoryMiB, accelerators: n.gpu ? { gpu: n.gpu } : {} },
    }),
  );
  const bound = c.nodes.map((n, i) => instance(`load-${i}`, { service: 'load', node: `node-${i}`, want: { cpu: n.usedCpu, memoryMiB: n.usedMem } }));
  const rtt = (a: string, b: string) => (a === b ? 0 : c.rtts[pairs.findIndex(([x, y]) => (x === a && y === b) || (x === b && y === a))]);
  return { objects: [...SITES.map((s) => site(s, tierOf(s))), ...links, ...nodes, ...bound], nodes, used: c.nodes, rtt };
}

function placementOf(p: Of<typeof podArb>, policy?: Placement['policy']): Placement {
  return {
    ...(policy ? { policy } : {}),
    ...(p.tiers ? { tiers: p.tiers } : {}),
    ...(p.zone ? { nodeSelector: { zone: p.zone } } : {}),
    clients: { sites: [p.clients] },
    ...(p.sla !== undefined ? { maxLatency: `${p.sla}ms` } : {}),
    ...(p.tolerate ? { tolerations: [{ key: 'dedicated', operator: 'Exists' as const, value: '' }] } : {}),
  };
}

const wantOf = (p: Of<typeof podArb>): Partial<Resources> => ({ cpu: p.want.cpu, memoryMiB: p.want.memoryMiB, accelerators: p.want.gpu ? { gpu: 1 } : {} });

/** An independent statement of every filter. */
function fits(b: Built, i: number, p: Of<typeof podArb>): boolean {
  const n = b.used[i]!;
  const within = (cap: number, used: number, want: number) => cap === 0 || used + want <= cap;
  const lat = b.rtt(p.clients, n.site);
  return (
    n.ready &&
    !n.unschedulable &&
    (!p.tiers || p.tiers.includes(tierOf(n.site))) &&
    (!p.zone || n.zone === p.zone) &&
    (!n.tainted || p.tolerate) &&
    within(n.cpu, n.usedCpu, p.want.cpu) &&
    within(n.memoryMiB, n.usedMem, p.want.memoryMiB) &&
    (!p.want.gpu || n.gpu >= 1) &&
    (p.sla === undefined || (lat !== undefined && lat <= p.sla))
  );
}

/** The latency policy's objective, written out: 10 x latency + 4 x tier + 2 x spread + 1 x least-allocated, normalised. */
function latencyObjective(b: Built, i: number, p: Of<typeof podArb>): number {
  const n = b.used[i]!;
  const lat = b.rtt(p.clients, n.site);
  const latency = lat === undefined ? 0 : 100 * Math.max(0, 1 - lat / (p.sla ?? 200));
  const tier = { edge: 100, region: 50, cloud: 0 }[tierOf(n.site)];
  const free = (cap: number, used: number, want: number) => (cap > 0 ? Math.max(0, 1 - (used + want) / cap) : 1);
  // Requests of nothing count as SCORING_DEFAULT in the load scores.
  const cpu = (v: number) => v || SCORING_DEFAULT.cpu;
  const mem = (v: number) => v || SCORING_DEFAULT.memoryMiB;
  const least = 50 * (free(n.cpu, cpu(n.usedCpu), cpu(p.want.cpu)) + free(n.memoryMiB, mem(n.usedMem), mem(p.want.memoryMiB)));
  const spread = 100; // the pod's service has no replicas yet
  return (10 * latency + 4 * tier + 2 * spread + 1 * least) / 17;
}

test('property: the chosen node passes every filter (Ready, resources, SLA...), and one is chosen whenever any fits', () => {
  fc.assert(
    fc.property(clusterArb, podArb, fc.constantFrom<Placement['policy']>('latency', 'spread', 'binpack', undefined), (c, p, policy) => {
      const b = build(c);
      const d = new Scheduler(stateOf(b.objects)).place(instance('pod', { service: 'pod', want: wantOf(p), placement: placementOf(p, policy) }));
      const fitting = b.nodes.map((_, i) => i).filter((i) => fits(b, i, p));
      if (d.node === null) return assert.equal(fitting.length, 0, `nothing chosen although ${fitting.map((i) => `node-${i}`)} fit`);
      assert.ok(fitting.includes(Number(d.node.slice(5))), `${d.node} fails a filter`);
      assert.equal(d.explanation.summary, `${fitting.length}/${b.nodes.length} nodes fit`);
    }),
    { numRuns: 1500 },
  );
});

test('property: the latency policy picks the brute-force optimum (never an SLA violation when a compliant node exists)', () => {
  fc.assert(
    fc.property(clusterArb, podArb, (c, p) => {
      const b = build(c);
      const d = new Scheduler(stateOf(b.objects)).place(instance('pod', { service: 'pod', want: wantOf(p), placement: placementOf(p, 'latency') }));
      let best: { i: number; v: number } | undefined;
      for (let i = 0; i < b.nodes.length; i++) {
        if (!fits(b, i, p)) continue;
        const v = latencyObjective(b, i, p);
        if (!best || v > best.v + 1e-9 || (Math.abs(v - best.v) <= 1e-9 && `node-${i}` < `node-${best.i}`)) best = { i, v };
      }
      assert.equal(d.node, best ? `node-${best.i}` : null);
    }),
    { numRuns: 1500 },
  );
});

test('property: pruning by site bounds (large-cluster mode) never changes the decision', () => {
  fc.assert(
    fc.property(clusterArb, podArb, fc.constantFrom<Placement['policy']>('latency', 'spread', 'binpack', undefined), (c, p, policy) => {
      const b = build(c);
      const pod = instance('pod', { service: 'pod', want: wantOf(p), placement: placementOf(p, policy) });
      const pruned = new Scheduler(stateOf(b.objects), { explainAllUpTo: 0 }).place(pod);
      assert.equal(pruned.node, new Scheduler(stateOf(b.objects)).place(pod).node);
    }),
    { numRuns: 1500 },
  );
});

test('property: a scheduler that placed while the cluster changed (cached site plans) decides like a fresh one', () => {
  fc.assert(
    fc.property(clusterArb, clusterArb, podArb, (before, after, p) => {
      const pod = instance('pod', { service: 'pod', want: wantOf(p), placement: placementOf(p) });
      const first = build(before);
      const scheduler = new Scheduler(stateOf(first.objects), { explainAllUpTo: 0 });
      scheduler.place(pod);
      // The cluster moves on: links change or vanish, nodes come, go and change
      // site; the load is replaced (an instance's requests never change in place).
      const next = build(after);
      const kept = new Set(next.objects.map((o) => `${o.kind}/${o.metadata.name}`));
      for (const o of first.objects) if (o.kind === 'Instance' || !kept.has(`${o.kind}/${o.metadata.name}`)) scheduler.state.apply(o, true);
      for (const o of next.objects) {
        scheduler.state.apply(o);
        scheduler.place(pod);
      }
      assert.equal(scheduler.place(pod).node, new Scheduler(stateOf(next.objects), { explainAllUpTo: 0 }).place(pod).node);
    }),
    { numRuns: 500 },
  );
});

test('property: the decision does not depend on the order objects arrived in', () => {
  fc.assert(
    fc.property(clusterArb, podArb, fc.integer(), (c, p, seed) => {
      const b = build(c);
      const shuffled = [...b.objects].sort((x, y) => ((hash(x.metadata.name) ^ seed) & 0xff) - ((hash(y.metadata.name) ^ seed) & 0xff));
      const pod = instance('pod', { service: 'pod', want: wantOf(p), placement: placementOf(p) });
      assert.equal(new Scheduler(stateOf(shuffled)).place(pod).node, new Scheduler(stateOf(b.objects)).place(pod).node);
    }),
    { numRuns: 500 },
  );
});

function hash(s: string): number {
  let h = 7;
  for (const ch of s) h = (h * 31 + ch.charCodeAt(0)) | 0;
  return h;
}

