import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RETIRING_LABEL, type Instance, type Node, type Service } from '../../core/index.ts';
import { startPlatform, testService, waitFor, pidAlive } from '../../testkit/index.ts';

const running = (i: Instance) => i.status?.phase === 'Running' && i.status.ready;

test('a 3-replica service runs on the edge agents; a killed agent is rescheduled away from and converges without duplicates on restart', async () => {
  const p = await startPlatform({
    heartbeatMs: 300,
    notReadyAfterMs: 1500,
    evictAfterMs: 1500,
    agents: [
      { name: 'cloud-1', site: 'cloud' },
      { name: 'edge-a-1', site: 'edge-a' },
      { name: 'edge-b-1', site: 'edge-b' },
    ],
  });
  try {
    const api = p.center.api;
    await api.apply(JSON.stringify(testService('web', { replicas: 3, http: true, tiers: ['edge'] })));
    const first = await waitFor(async () => {
      const all = await p.instances('app=web');
      return all.length === 3 && all.every(running) ? all : undefined;
    }, 30_000, '3 web instances Running and ready');
    assert.ok(first.every((i) => i.spec.node === 'edge-a-1' || i.spec.node === 'edge-b-1'), 'only edge nodes');
    assert.equal(new Set(first.map((i) => i.spec.node)).size, 2, 'spread over both edges');
    // Each replica is a real process answering on its own port.
    for (const i of first) {
      const body = await (await fetch(`http://127.0.0.1:${i.status!.ports.http}/`)).text();
      assert.equal(body, i.metadata.name);
    }

    const victim = first[0]!.spec.node!;
    const other = victim === 'edge-a-1' ? 'edge-b-1' : 'edge-a-1';
    const orphanPids = first.filter((i) => i.spec.node === victim).map((i) => i.status!.pid!);
    await p.agents.get(victim)!.process.kill9();

    await waitFor(async () => (await api.get<Node>('Node', victim)).status?.phase === 'NotReady', 10_000, `${victim} NotReady`);
    const moved = await waitFor(async () => {
      const all = await p.instances('app=web');
      return all.length === 3 && all.every((i) => i.spec.node === other && running(i)) ? all : undefined;
    }, 30_000, `all web instances Running on ${other}`);
    assert.equal(moved.length, 3);

    // The killed agent's workloads outlived it (the node itself did not die)...
    assert.ok(orphanPids.every(pidAlive), 'workloads survive an agent crash');
    const restarted = await p.startAgent(victim);
    await restarted.process.waitForLine((l) => l.event === 'resynced', 15_000);
    await waitFor(async () => (await api.get<Node>('Node', victim)).status?.phase === 'Ready', 10_000, `${victim} Ready again`);
    // ...and are reaped on restart, since the center moved them away meanwhile.
    await waitFor(() => orphanPids.every((pid) => !pidAlive(pid)), 15_000, 'orphaned workloads stopped');
    // With the node back, the rebalancer may move a replica to it to restore the
    // spread (make-before-break); it settles at 3 ready instances, never more.
    const final = await waitFor(async () => {
      const all = await p.instances('app=web');
      return all.length === 3 && all.every((i) => running(i) && !(RETIRING_LABEL in i.metadata.labels)) ? all : undefined;
    }, 30_000, '3 web instances settled');
    assert.equal(final.length, 3, 'no duplicate instances');
    const finalNames = new Set(final.map((i) => i.metadata.name));
    for (const gone of moved.filter((i) => !finalNames.has(i.metadata.name))) {
      const reasons = (await api.list('Event', { selector: `gedge.io/involved-name=${gone.metadata.name}` })).items.map((e) => (e.spec as { reason: string }).reason);
      assert.ok(reasons.includes('Rebalancing'), `${gone.metadata.name} replaced only by a rebalance (events: ${reasons.join(',')})`);
    }
    // The service's status follows its instances a moment later.
    await waitFor(async () => (await api.get<Service>('Service', 'web')).status?.ready === 3 || undefined, 10_000, 'the service to report 3 ready');
    const events = (await api.list('Event', { selector: `gedge.io/involved-name=${victim}` })).items.map((e) => (e.spec as { reason: string }).reason);
    for (const r of ['NodeNotReady', 'InstancesEvicted', 'NodeReady']) assert.ok(events.includes(r), `event ${r} recorded (got ${events.join(',')})`);
  } finally {
    await p.close();
  }
});
