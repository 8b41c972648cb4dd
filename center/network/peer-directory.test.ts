import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { waitFor, type CenterMessage, type Node, type NodePhase, type Peer } from '../../core/index.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import { choosePeers, PeerDirectory } from './peer-directory.ts';

const cand = (node: string, site: string): Peer => ({ node, site, host: '127.0.0.1', port: 1000 + node.length });

test('choosePeers: up to perSite nodes of every other site, none of its own', () => {
  const candidates = [cand('a1', 'a'), cand('a2', 'a'), cand('b1', 'b'), cand('b2', 'b'), cand('b3', 'b'), cand('c1', 'c')];
  const peers = choosePeers('a1', 'a', candidates, 2);
  assert.deepEqual(peers.map((p) => p.site), ['b', 'b', 'c']);
  assert.ok(peers.every((p) => p.site !== 'a'));
});

test('choosePeers: probers spread over a big site, and a new node moves at most one choice of each', () => {
  const site = Array.from({ length: 20 }, (_, i) => cand(`b-${i}`, 'b'));
  const probers = Array.from({ length: 50 }, (_, i) => `a-${i}`);
  const chosen = new Set(probers.flatMap((p) => choosePeers(p, 'a', site, 2).map((c) => c.node)));
  assert.ok(chosen.size >= 15, `only ${chosen.size} of 20 nodes are ever probed`);
  fc.assert(
    fc.property(fc.constantFrom(...probers), fc.integer({ min: 0, max: 1000 }), (prober, n) => {
      const before = choosePeers(prober, 'a', site, 2).map((c) => c.node);
      const after = choosePeers(prober, 'a', [...site, cand(`new-${n}`, 'b')], 2).map((c) => c.node);
      assert.ok(before.filter((x) => !after.includes(x)).length <= 1);
    }),
  );
});

async function setup(t: TestContext) {
  const store = await openSqliteStore(':memory:');
  t.after(() => store.close());
  const dir = new PeerDirectory(store, { key: 'k'.repeat(44), intervalMs: 5000, settleMs: 10 });
  const stop = store.subscribe((c) => dir.onChange(c));
  t.after(() => (stop(), dir.stop()));
  const inbox = new Map<string, CenterMessage[]>();
  const join = (name: string, probe = true) => {
    inbox.set(name, []);
    return dir.join(name, probe ? { host: '127.0.0.1', port: 7000 + name.length } : undefined, (m) => inbox.get(name)!.push(m));
  };
  const peersOf = (name: string) => {
    const last = [...(inbox.get(name) ?? [])].reverse().find((m) => m.t === 'peers');
    return last?.t === 'peers' ? last.peers.map((p) => p.node).sort() : undefined;
  };
  const setPhase = async (name: string, site: string, phase: NodePhase) => {
    const n: Node = { apiVersion: 'gedge.io/v1', kind: 'Node', metadata: { name, labels: {} }, spec: { site, capacity: { cpu: 1, memoryMiB: 1, diskMiB: 0, accelerators: {} }, unschedulable: false, taints: [] } };
    if (!(await store.get('Node', undefined, name))) await store.create(n);
    await store.updateStatus('Node', undefined, name, { phase, conditions: [] });
  };
  return { store, dir, join, inbox, peersOf, setPhase };
}

test('agents get their peers after joining and again when a node becomes Ready or leaves', async (t) => {
  const h = await setup(t);
  await h.setPhase('cloud-1', 'cloud', 'Ready');
  await h.setPhase('a-1', 'edge-a', 'Ready');
  await h.setPhase('b-1', 'edge-b', 'Pending');
  const leaveCloud = h.join('cloud-1');
  h.join('a-1');
  await waitFor(() => String(h.peersOf('a-1')) === 'cloud-1', 2000, 'a-1 told to probe cloud-1');
  const first = h.inbox.get('a-1')!.find((m) => m.t === 'peers');
  assert.equal(first?.t === 'peers' && first.key, 'k'.repeat(44));
  assert.equal(first?.t === 'peers' && first.intervalMs, 5000);

  h.join('b-1');
  await h.setPhase('b-1', 'edge-b', 'Ready');
  await waitFor(() => String(h.peersOf('a-1')) === 'b-1,cloud-1', 2000, 'a-1 told about b-1 once Ready');
  await waitFor(() => String(h.peersOf('b-1')) === 'a-1,cloud-1', 2000, 'b-1 told about both');

  await h.setPhase('b-1', 'edge-b', 'NotReady');
  await waitFor(() => String(h.peersOf('a-1')) === 'cloud-1', 2000, 'b-1 dropped when NotReady');
  leaveCloud();
  await waitFor(() => String(h.peersOf('a-1')) === '', 2000, 'cloud-1 dropped when its agent left');

  // A heartbeat's status write changes nothing: no new message.
  const count = h.inbox.get('a-1')!.length;
  await h.store.updateStatus('Node', undefined, 'cloud-1', { phase: 'Ready', conditions: [], lastHeartbeatAt: new Date().toISOString() });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(h.inbox.get('a-1')!.length, count);
});

test('a replaced session leaving does not remove the newer one; agents without a probe address get no list', async (t) => {
  const h = await setup(t);
  await h.setPhase('cloud-1', 'cloud', 'Ready');
  await h.setPhase('a-1', 'edge-a', 'Ready');
  h.join('a-1');
  const oldLeave = h.join('cloud-1');
  h.join('cloud-1'); // reconnected: a newer session
  oldLeave();
  await waitFor(() => String(h.peersOf('a-1')) === 'cloud-1', 2000, 'cloud-1 still a peer');
  h.join('quiet', false);
  await h.setPhase('quiet', 'edge-q', 'Ready');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(h.inbox.get('quiet')!.length, 0);
  assert.equal(String(h.peersOf('a-1')), 'cloud-1', 'a node that does not answer probes is not a peer');
});
