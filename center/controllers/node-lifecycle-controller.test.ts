import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { parseSelector, type GedgeEvent, type Instance, type Node, type NodePhase } from '../../core/index.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import type { Store } from '../store/store.ts';
import { NodeLifecycleController } from './node-lifecycle-controller.ts';

const NOT_READY_AFTER = 10_000;
const EVICT_AFTER = 60_000;
const T0 = Date.parse('2030-01-01T00:00:00.000Z');

interface Harness {
  store: Store;
  ctl: NodeLifecycleController;
  clock: { now: number };
  seen: Map<string, number>;
}

async function setup(t: TestContext, startedAt = T0): Promise<Harness> {
  const store = await openSqliteStore(':memory:');
  t.after(() => store.close());
  const clock = { now: startedAt };
  const seen = new Map<string, number>();
  const ctl = new NodeLifecycleController(store, {
    notReadyAfterMs: NOT_READY_AFTER,
    evictAfterMs: EVICT_AFTER,
    seenAt: (n) => seen.get(n),
    startedAt,
    tickMs: 1000,
    now: () => clock.now,
  });
  return { store, ctl, clock, seen };
}

async function createNode(store: Store, name: string, phase: NodePhase = 'Pending', since?: number): Promise<void> {
  const node: Node = {
    apiVersion: 'gedge.io/v1',
    kind: 'Node',
    metadata: { name, labels: {} },
    spec: { site: 'edge-a', capacity: { cpu: 2, memoryMiB: 1024, diskMiB: 0, accelerators: {} }, unschedulable: false, taints: [] },
    status: { phase, conditions: [], ...(since !== undefined ? { since: new Date(since).toISOString() } : {}) },
  };
  await store.create(node);
}

async function createInstance(store: Store, name: string, node: string | undefined): Promise<void> {
  const inst: Instance = {
    apiVersion: 'gedge.io/v1',
    kind: 'Instance',
    metadata: { name, project: 'default', labels: {} },
    spec: {
      ...(node ? { node } : {}),
      template: { runtime: 'process', command: ['run'], env: {}, ports: [], volumes: [], resources: { cpu: 0, memoryMiB: 0, diskMiB: 0, accelerators: {} }, restartPolicy: 'Always', stopGracePeriod: '5s' },
      placement: {},
      templateHash: '',
    },
  };
  await store.create(inst);
}

async function nodeOf(store: Store, name: string): Promise<Node> {
  const n = await store.get('Node', undefined, name);
  assert.ok(n, `node ${name} exists`);
  return n;
}

async function eventsOf(store: Store, node: string): Promise<GedgeEvent[]> {
  const sel = parseSelector(`gedge.io/involved-kind=Node,gedge.io/involved-name=${node}`);
  return (await store.list('Event', { selector: sel })).items.sort((a, b) => (a.metadata.revision ?? 0) - (b.metadata.revision ?? 0));
}

const reasons = (es: GedgeEvent[]) => es.map((e) => e.spec.reason);

test('Pending -> Ready when the agent is seen', async (t) => {
  const h = await setup(t);
  await createNode(h.store, 'n1');
  await h.ctl.reconcile('n1');
  assert.equal((await nodeOf(h.store, 'n1')).status?.phase, 'Pending', 'not seen yet: stays Pending');
  assert.deepEqual(await eventsOf(h.store, 'n1'), []);

  h.clock.now = T0 + 1000;
  h.seen.set('n1', h.clock.now);
  await h.ctl.reconcile('n1');
  const n = await nodeOf(h.store, 'n1');
  assert.equal(n.status?.phase, 'Ready');
  assert.equal(n.status?.since, new Date(T0 + 1000).toISOString());
  const evs = await eventsOf(h.store, 'n1');
  assert.deepEqual(
    evs.map((e) => [e.spec.reason, e.spec.type, e.spec.message, e.spec.involved.kind, e.spec.involved.name]),
    [['NodeReady', 'Normal', 'agent connected', 'Node', 'n1']],
  );

  const rev = await h.store.currentRevision();
  await h.ctl.reconcile('n1');
  assert.equal(await h.store.currentRevision(), rev, 'reconciling a healthy Ready node writes nothing');
});

test('Ready -> NotReady after notReadyAfterMs of silence, with a NodeNotReady event', async (t) => {
  const h = await setup(t);
  await createNode(h.store, 'n1');
  h.seen.set('n1', T0);
  await h.ctl.reconcile('n1');
  assert.equal((await nodeOf(h.store, 'n1')).status?.phase, 'Ready');

  h.clock.now = T0 + NOT_READY_AFTER - 1;
  await h.ctl.reconcile('n1');
  assert.equal((await nodeOf(h.store, 'n1')).status?.phase, 'Ready', 'one ms before the limit');

  h.clock.now = T0 + NOT_READY_AFTER;
  await h.ctl.reconcile('n1');
  const n = await nodeOf(h.store, 'n1');
  assert.equal(n.status?.phase, 'NotReady');
  assert.equal(n.status?.since, new Date(T0 + NOT_READY_AFTER).toISOString());
  const evs = await eventsOf(h.store, 'n1');
  assert.deepEqual(reasons(evs), ['NodeReady', 'NodeNotReady']);
  const ev = evs[1]!;
  assert.equal(ev.kind, 'Event');
  assert.equal(ev.spec.type, 'Warning');
  assert.deepEqual(ev.spec.involved, { kind: 'Node', name: 'n1' });
  assert.match(ev.spec.message, /no heartbeat for 10 s/);
});

test('instances bound to a node NotReady for evictAfterMs are deleted, with an InstancesEvicted event', async (t) => {
  const h = await setup(t);
  await createNode(h.store, 'n1');
  await createNode(h.store, 'n2');
  h.seen.set('n1', T0);
  h.seen.set('n2', T0);
  await h.ctl.reconcile('n1');
  await h.ctl.reconcile('n2');
  await createInstance(h.store, 'web-1', 'n1');
  await createInstance(h.store, 'web-2', 'n1');
  await createInstance(h.store, 'web-3', 'n2');
  await createInstance(h.store, 'web-4', undefined);

  const lostAt = T0 + NOT_READY_AFTER;
  h.clock.now = lostAt;
  h.seen.set('n2', lostAt);
  await h.ctl.reconcile('n1');
  await h.ctl.reconcile('n2');
  assert.equal((await nodeOf(h.store, 'n1')).status?.phase, 'NotReady');
  assert.equal((await nodeOf(h.store, 'n2')).status?.phase, 'Ready');

  const instances = async () => (await h.store.list('Instance')).items.map((i) => i.metadata.name).sort();
  h.clock.now = lostAt + EVICT_AFTER - 1;
  await h.ctl.reconcile('n1');
  assert.deepEqual(await instances(), ['web-1', 'web-2', 'web-3', 'web-4'], 'not yet');

  h.clock.now = lostAt + EVICT_AFTER;
  await h.ctl.reconcile('n1');
  assert.deepEqual(await instances(), ['web-3', 'web-4'], 'only the lost node loses its instances');
  const evs = await eventsOf(h.store, 'n1');
  assert.deepEqual(reasons(evs), ['NodeReady', 'NodeNotReady', 'InstancesEvicted']);
  const ev = evs[2]!;
  assert.equal(ev.spec.type, 'Warning');
  assert.match(ev.spec.message, /^2 instance\(s\) rescheduled after 60 s NotReady: /);
  assert.match(ev.spec.message, /web-1/);
  assert.match(ev.spec.message, /web-2/);

  // Evicting again finds nothing and says nothing.
  h.clock.now += 5000;
  const rev = await h.store.currentRevision();
  await h.ctl.reconcile('n1');
  assert.equal(await h.store.currentRevision(), rev);
});

test('NotReady -> Ready when the agent is back, with an event naming the offline duration', async (t) => {
  const h = await setup(t);
  await createNode(h.store, 'n1');
  h.seen.set('n1', T0);
  await h.ctl.reconcile('n1');
  h.clock.now = T0 + NOT_READY_AFTER;
  await h.ctl.reconcile('n1');
  assert.equal((await nodeOf(h.store, 'n1')).status?.phase, 'NotReady');

  h.clock.now = T0 + NOT_READY_AFTER + 42_000;
  h.seen.set('n1', h.clock.now);
  await h.ctl.reconcile('n1');
  const n = await nodeOf(h.store, 'n1');
  assert.equal(n.status?.phase, 'Ready');
  assert.equal(n.status?.since, new Date(h.clock.now).toISOString());
  const last = (await eventsOf(h.store, 'n1')).at(-1)!;
  assert.equal(last.spec.reason, 'NodeReady');
  assert.equal(last.spec.type, 'Normal');
  assert.equal(last.spec.message, 'agent back after 42 s offline');
});

test('a node never seen since the center started gets the full grace from startedAt', async (t) => {
  const startedAt = T0 + 3_600_000;
  const h = await setup(t, startedAt);
  // Ready in the store from before the restart, last heartbeat long ago.
  await createNode(h.store, 'n1', 'Ready', T0);
  await createNode(h.store, 'fresh', 'Pending');

  h.clock.now = startedAt + NOT_READY_AFTER - 1;
  const rev = await h.store.currentRevision();
  await h.ctl.reconcile('n1');
  await h.ctl.reconcile('fresh');
  assert.equal(await h.store.currentRevision(), rev, 'nothing changes within the grace');
  assert.equal((await nodeOf(h.store, 'n1')).status?.phase, 'Ready');

  h.clock.now = startedAt + NOT_READY_AFTER;
  await h.ctl.reconcile('n1');
  await h.ctl.reconcile('fresh');
  const n = await nodeOf(h.store, 'n1');
  assert.equal(n.status?.phase, 'NotReady');
  assert.equal(n.status?.since, new Date(startedAt + NOT_READY_AFTER).toISOString());
  assert.deepEqual(reasons(await eventsOf(h.store, 'n1')), ['NodeNotReady']);
  assert.equal((await nodeOf(h.store, 'fresh')).status?.phase, 'Pending', 'a node that never connected stays Pending');
  assert.deepEqual(await eventsOf(h.store, 'fresh'), []);
});

test(
  'a node NotReady from before a center restart keeps its instances until it has had the grace to reconnect',

  async (t) => {
    const startedAt = T0 + 3_600_000;
    const h = await setup(t, startedAt);
    await createNode(h.store, 'n1', 'NotReady', T0);
    await createInstance(h.store, 'web-1', 'n1');
    h.clock.now = startedAt + 1;
    await h.ctl.reconcile('n1');
    assert.equal((await h.store.list('Instance')).items.length, 1, 'evicted 1 ms after the center started');
  },
);

test('a deleted node is a no-op', async (t) => {
  const h = await setup(t);
  const rev = await h.store.currentRevision();
  await h.ctl.reconcile('gone');
  assert.equal(await h.store.currentRevision(), rev);
});
