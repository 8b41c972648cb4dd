import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Instance, Node, NodePhase, Placement as PlacementSpec, Resources, Site, Tier } from '../../core/index.ts';
import { ResourceFitPlacement } from './resource-fit.ts';
import type { Candidate } from './placement.ts';

const res = (r: Partial<Resources> = {}): Resources => ({ cpu: 0, memoryMiB: 0, diskMiB: 0, accelerators: {}, ...r });

interface NodeOpts {
  phase?: NodePhase | undefined;
  unschedulable?: boolean;
  site?: string;
  tier?: Tier | undefined;
  labels?: Record<string, string>;
  capacity?: Partial<Resources>;
  allocated?: Partial<Resources>;
  sameService?: number;
  instances?: number;
}

function candidate(name: string, o: NodeOpts = {}): Candidate {
  const site = o.site ?? 'site-a';
  const node: Node = {
    apiVersion: 'gedge.io/v1',
    kind: 'Node',
    metadata: { name, labels: o.labels ?? {} },
    spec: { site, capacity: res(o.capacity ?? { cpu: 4, memoryMiB: 4096 }), unschedulable: o.unschedulable ?? false },
    ...('phase' in o && o.phase === undefined ? {} : { status: { phase: o.phase ?? 'Ready', conditions: [] } }),
  };
  const siteObj: Site | undefined =
    'tier' in o && o.tier === undefined
      ? undefined
      : { apiVersion: 'gedge.io/v1', kind: 'Site', metadata: { name: site, labels: {} }, spec: { tier: o.tier ?? 'edge', description: '' } };
  return { node, site: siteObj, allocated: res(o.allocated), sameService: o.sameService ?? 0, instances: o.instances ?? o.sameService ?? 0 };
}

function instance(want: Partial<Resources> = {}, placement: PlacementSpec = {}): Instance {
  return {
    apiVersion: 'gedge.io/v1',
    kind: 'Instance',
    metadata: { name: 'web-abc', project: 'default', labels: {} },
    spec: {
      service: 'web',
      template: {
        runtime: 'process',
        command: ['run'],
        env: {},
        ports: [],
        resources: res(want),
        restartPolicy: 'Always',
        stopGraceMs: 5000,
      },
      placement,
      templateHash: 'h',
    },
  };
}

const fit = new ResourceFitPlacement();

test('no candidates: no node, reason "no nodes"', () => {
  assert.deepEqual(fit.place(instance(), []), { node: null, reasons: ['no nodes'] });
});

test('nodes that are not Ready are filtered out, with the reason counted', () => {
  const d = fit.place(instance(), [candidate('a', { phase: 'NotReady' }), candidate('b', { phase: 'Pending' }), candidate('c', { phase: undefined })]);
  assert.deepEqual(d, { node: null, reasons: ['3 node(s) not Ready'] });
  assert.equal(fit.place(instance(), [candidate('a', { phase: 'NotReady' }), candidate('b')]).node, 'b');
});

test('cordoned nodes get nothing new', () => {
  assert.deepEqual(fit.place(instance(), [candidate('a', { unschedulable: true })]), { node: null, reasons: ['1 node(s) cordoned'] });
  assert.equal(fit.place(instance(), [candidate('a', { unschedulable: true }), candidate('b')]).node, 'b');
});

test('tiers: only nodes whose site has an allowed tier; a node without a known site does not qualify', () => {
  const cs = [candidate('cloud-1', { site: 'c', tier: 'cloud' }), candidate('edge-1', { site: 'e', tier: 'edge' }), candidate('orphan', { site: 'gone', tier: undefined })];
  assert.equal(fit.place(instance({}, { tiers: ['edge'] }), cs).node, 'edge-1');
  assert.equal(fit.place(instance({}, { tiers: ['cloud', 'region'] }), cs).node, 'cloud-1');
  assert.deepEqual(fit.place(instance({}, { tiers: ['region'] }), cs), { node: null, reasons: ['3 node(s) tier not allowed'] });
  assert.equal(fit.place(instance(), [candidate('orphan', { tier: undefined })]).node, 'orphan', 'no tier constraint: the site is not needed');
});

test('sites: only nodes in an allowed site', () => {
  const cs = [candidate('a1', { site: 'site-a' }), candidate('b1', { site: 'site-b' })];
  assert.equal(fit.place(instance({}, { sites: ['site-b'] }), cs).node, 'b1');
  assert.deepEqual(fit.place(instance({}, { sites: ['site-c'] }), cs), { node: null, reasons: ['2 node(s) site not allowed'] });
});

test('nodeSelector: every selected label must be present with that value', () => {
  const cs = [candidate('gpu', { labels: { accel: 'gpu', zone: 'z1' } }), candidate('plain', { labels: { zone: 'z1' } })];
  assert.equal(fit.place(instance({}, { nodeSelector: { accel: 'gpu' } }), cs).node, 'gpu');
  assert.equal(fit.place(instance({}, { nodeSelector: { accel: 'gpu', zone: 'z1' } }), cs).node, 'gpu');
  assert.deepEqual(fit.place(instance({}, { nodeSelector: { accel: 'gpu', zone: 'z2' } }), cs), { node: null, reasons: ['2 node(s) labels do not match'] });
});

test('cpu, memory, disk and accelerator shortfalls reject the node and name the resource', () => {
  const node = (name: string, allocated: Partial<Resources>) =>
    candidate(name, { capacity: { cpu: 2, memoryMiB: 1024, diskMiB: 1000, accelerators: { gpu: 1 } }, allocated });
  const want = { cpu: 1, memoryMiB: 512, diskMiB: 100, accelerators: { gpu: 1 } };
  assert.equal(fit.place(instance(want), [node('ok', { cpu: 1, memoryMiB: 512, diskMiB: 900 })]).node, 'ok', 'exactly full still fits');
  assert.deepEqual(fit.place(instance(want), [node('n', { cpu: 1.5 })]).reasons, ['1 node(s) insufficient cpu']);
  assert.deepEqual(fit.place(instance(want), [node('n', { memoryMiB: 600 })]).reasons, ['1 node(s) insufficient memory']);
  assert.deepEqual(fit.place(instance(want), [node('n', { diskMiB: 901 })]).reasons, ['1 node(s) insufficient disk']);
  assert.deepEqual(fit.place(instance(want), [node('n', { accelerators: { gpu: 1 } })]).reasons, ['1 node(s) insufficient gpu']);
  assert.deepEqual(fit.place(instance({ accelerators: { tpu: 1 } }), [node('n', {})]).reasons, ['1 node(s) insufficient tpu'], 'an accelerator the node lacks');
});

test('a capacity of 0 means unreported: no limit on that resource', () => {
  const unreported = candidate('u', { capacity: { cpu: 0, memoryMiB: 0, diskMiB: 0 }, allocated: { cpu: 100, memoryMiB: 1e6, diskMiB: 1e6 } });
  const d = fit.place(instance({ cpu: 8, memoryMiB: 65536, diskMiB: 1e5 }), [unreported]);
  assert.equal(d.node, 'u');
  const cpuOnly = candidate('c', { capacity: { cpu: 0, memoryMiB: 100 } });
  assert.deepEqual(fit.place(instance({ cpu: 64, memoryMiB: 200 }), [cpuOnly]).reasons, ['1 node(s) insufficient memory'], 'a reported resource still limits');
});

test('rejections of several kinds are all reported, counted per reason', () => {
  const cs = [
    candidate('a', { phase: 'NotReady' }),
    candidate('b', { phase: 'NotReady' }),
    candidate('c', { unschedulable: true }),
    candidate('d', { capacity: { cpu: 1 } }),
  ];
  const d = fit.place(instance({ cpu: 2 }), cs);
  assert.equal(d.node, null);
  assert.deepEqual([...d.reasons].sort(), ['1 node(s) cordoned', '1 node(s) insufficient cpu', '2 node(s) not Ready']);
});

test('scoring spreads replicas of the same service before anything else', () => {
  const busyButEmptyOfService = candidate('busy', { capacity: { cpu: 4, memoryMiB: 4096 }, allocated: { cpu: 3, memoryMiB: 3000 }, sameService: 0 });
  const idleWithReplica = candidate('idle', { capacity: { cpu: 4, memoryMiB: 4096 }, sameService: 1 });
  const d = fit.place(instance({ cpu: 0.5 }), [idleWithReplica, busyButEmptyOfService]);
  assert.equal(d.node, 'busy');
  assert.equal(d.reasons[0], '2/2 nodes fit');
  assert.match(d.reasons[1]!, /^chose busy: 0 replica\(s\) of this service there/);
});

test('then the least allocated node wins', () => {
  const cs = [
    candidate('half', { capacity: { cpu: 4, memoryMiB: 4096 }, allocated: { cpu: 2, memoryMiB: 2048 } }),
    candidate('quarter', { capacity: { cpu: 4, memoryMiB: 4096 }, allocated: { cpu: 1, memoryMiB: 1024 } }),
    candidate('big', { capacity: { cpu: 64, memoryMiB: 65536 }, allocated: { cpu: 8, memoryMiB: 8192 } }),
  ];
  const d = fit.place(instance({ cpu: 1, memoryMiB: 1024 }), cs);
  assert.equal(d.node, 'big');
  assert.match(d.reasons[1]!, /86% free after placement$/);
});

test('ties break by name, whatever the candidate order', () => {
  const names = ['n-c', 'n-a', 'n-b'];
  for (const order of [names, [...names].reverse(), ['n-b', 'n-c', 'n-a']]) {
    assert.equal(fit.place(instance({ cpu: 1 }), order.map((n) => candidate(n))).node, 'n-a');
  }
});

// ---- property -----------------------------------------------------------------

const resArb = (accelerators: fc.Arbitrary<Record<string, number>>) =>
  fc.record({
    cpu: fc.constantFrom(0, 1, 4, 8),
    memoryMiB: fc.constantFrom(0, 1024, 4096),
    diskMiB: fc.constantFrom(0, 1000),
    accelerators,
  });
const accelArb = (max: number, maxKeys: number) => fc.dictionary(fc.constantFrom('gpu', 'npu'), fc.integer({ min: 0, max }), { maxKeys });

const candidateArb = fc.record({
  phase: fc.oneof({ arbitrary: fc.constant<NodePhase>('Ready'), weight: 4 }, fc.constantFrom<NodePhase | undefined>('NotReady', 'Pending', undefined)),
  unschedulable: fc.integer({ min: 0, max: 9 }).map((x) => x === 0),
  site: fc.constantFrom('s1', 's2', 's3'),
  tier: fc.constantFrom<Tier | undefined>('cloud', 'region', 'edge', undefined),
  labels: fc.dictionary(fc.constantFrom('zone', 'accel', 'disk'), fc.constantFrom('a', 'b'), { maxKeys: 3 }),
  capacity: resArb(accelArb(4, 2)),
  allocated: resArb(accelArb(2, 2)).map((r) => ({ ...r, cpu: r.cpu / 4, memoryMiB: r.memoryMiB / 4, diskMiB: r.diskMiB / 4 })),
  sameService: fc.integer({ min: 0, max: 3 }),
});

const wantArb = fc.record({
  cpu: fc.constantFrom(0, 0.25, 1, 2),
  memoryMiB: fc.constantFrom(0, 128, 512),
  diskMiB: fc.constantFrom(0, 50, 500),
  accelerators: fc.option(accelArb(1, 1), { freq: 3, nil: {} }),
});

/** Each constraint is present about a third of the time, so that both outcomes are common. */
const sometimes = <T>(a: fc.Arbitrary<T>) => fc.oneof({ arbitrary: fc.constant(undefined), weight: 2 }, { arbitrary: a, weight: 1 });
const placementArb = fc
  .record({
    tiers: sometimes(fc.subarray<Tier>(['cloud', 'region', 'edge'], { minLength: 1 })),
    sites: sometimes(fc.subarray(['s1', 's2', 's3'], { minLength: 1 })),
    nodeSelector: sometimes(fc.dictionary(fc.constantFrom('zone', 'accel'), fc.constantFrom('a', 'b'), { maxKeys: 2 })),
  })
  .map((p): PlacementSpec => Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)));

/** An independent statement of the filters, to check the placement against. */
function passes(c: Candidate, inst: Instance): boolean {
  const p = inst.spec.placement;
  const want = inst.spec.template.resources;
  const cap = c.node.spec.capacity;
  const used = c.allocated;
  const within = (capN: number, usedN: number, wantN: number) => capN === 0 || usedN + wantN <= capN;
  return (
    c.node.status?.phase === 'Ready' &&
    !c.node.spec.unschedulable &&
    (!p.tiers || (c.site !== undefined && p.tiers.includes(c.site.spec.tier))) &&
    (!p.sites || p.sites.includes(c.node.spec.site)) &&
    Object.entries(p.nodeSelector ?? {}).every(([k, v]) => c.node.metadata.labels[k] === v) &&
    within(cap.cpu, used.cpu, want.cpu) &&
    within(cap.memoryMiB, used.memoryMiB, want.memoryMiB) &&
    within(cap.diskMiB, used.diskMiB, want.diskMiB) &&
    Object.entries(want.accelerators).every(([k, n]) => (cap.accelerators[k] ?? 0) - (used.accelerators[k] ?? 0) >= n)
  );
}

test('property: the chosen node passes every filter, and a node is chosen whenever one fits', () => {
  fc.assert(
    fc.property(fc.array(candidateArb, { maxLength: 8, size: 'max' }), wantArb, placementArb, (opts, want, placement) => {
      const cs = opts.map((o, i) => candidate(`node-${i}`, o));
      const inst = instance(want, placement);
      const d = fit.place(inst, cs);
      const fitting = cs.filter((c) => passes(c, inst));
      if (d.node === null) {
        assert.equal(fitting.length, 0, 'nothing chosen although a node fits');
        assert.ok(d.reasons.length > 0);
        return;
      }
      const chosen = cs.find((c) => c.node.metadata.name === d.node);
      assert.ok(chosen, 'the chosen node is a candidate');
      assert.ok(passes(chosen, inst), `chosen ${d.node} fails a filter`);
      assert.equal(chosen.sameService, Math.min(...fitting.map((c) => c.sameService)), 'spreads first');
      assert.equal(d.reasons[0], `${fitting.length}/${cs.length} nodes fit`);
      // Deterministic: the candidate order does not matter.
      assert.equal(fit.place(inst, [...cs].reverse()).node, d.node);
    }),
    { numRuns: 1000 },
  );
});

test('workloads without requests spread by instance count before the name tie-break', () => {
  const a = candidate('a', { capacity: { cpu: 0, memoryMiB: 0 }, instances: 3 });
  const b = candidate('b', { capacity: { cpu: 0, memoryMiB: 0 }, instances: 1 });
  const c = candidate('c', { capacity: { cpu: 0, memoryMiB: 0 }, instances: 2 });
  const d = new ResourceFitPlacement().place(instance(), [a, b, c]);
  assert.equal(d.node, 'b');
});
