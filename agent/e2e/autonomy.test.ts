import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GedgeEvent, Node } from '../../core/index.ts';
import { startPlatform, testService, waitFor, pidAlive } from '../../testkit/index.ts';

const serves = async (port: number, name: string) => {
  try {
    return (await (await fetch(`http://127.0.0.1:${port}/`)).text()) === name;
  } catch {
    return false;
  }
};

test('an agent restarted during a partition brings its workloads back from local state; on heal status converges, nothing is duplicated and events record the offline period', async () => {
  const p = await startPlatform({
    heartbeatMs: 300,
    notReadyAfterMs: 1500,
    evictAfterMs: 120_000,
    agents: [{ name: 'edge-a-1', site: 'edge-a', viaLink: true }],
  });
  try {
    const api = p.center.api;
    await api.apply(JSON.stringify(testService('cam', { replicas: 2, http: true })));
    const before = await waitFor(async () => {
      const all = await p.instances('app=cam');
      return all.length === 2 && all.every((i) => i.status?.ready) ? all : undefined;
    }, 30_000, '2 cam instances ready');

    const link = p.links.get('edge-a-1')!;
    link.cut('blackhole');
    await waitFor(async () => (await api.get<Node>('Node', 'edge-a-1')).status?.phase === 'NotReady', 10_000, 'node NotReady during the partition');

    // The agent notices the dead link by its pings; then crash it while the center is unreachable, and start it again.
    await p.agents.get('edge-a-1')!.process.waitForLine((l) => l.event === 'disconnected', 10_000);
    await p.agents.get('edge-a-1')!.process.kill9();
    const agent = await p.startAgent('edge-a-1');
    const restored = agent.process.events('restored')[0]!;
    assert.equal(restored.instances, 2, 'both instances restored from local state');
    for (const i of before) {
      await waitFor(() => !pidAlive(i.status!.pid!), 10_000, 'the crashed run reaped');
      // Same port as before (persisted), served by a new process: the workload is back without the center.
      await waitFor(() => serves(i.status!.ports.http!, i.metadata.name), 15_000, `${i.metadata.name} serving again offline`);
    }
    assert.equal(agent.process.events('connected').length, 0, 'still partitioned');

    link.restore();
    await waitFor(async () => (await api.get<Node>('Node', 'edge-a-1')).status?.phase === 'Ready', 15_000, 'node Ready after heal');
    const after = await waitFor(async () => {
      const all = await p.instances('app=cam');
      return all.every((i) => i.status?.ready && i.status.pid !== before.find((b) => b.metadata.name === i.metadata.name)?.status?.pid) ? all : undefined;
    }, 15_000, 'status converged to the new processes');
    assert.deepEqual(after.map((i) => i.metadata.name).sort(), before.map((i) => i.metadata.name).sort(), 'same instances, none duplicated');
    assert.ok(after.every((i) => i.spec.node === 'edge-a-1'));

    const events = await waitFor(async () => {
      const evs = (await api.list<GedgeEvent>('Event')).items.map((e) => e.spec).sort((a, b) => a.at.localeCompare(b.at));
      const reasons = new Set(evs.map((e) => e.reason));
      // Both instances' RestoredFromLocalState: the agent's outbox sends its events one by one, so one may land a poll after the other.
      const restoredBoth = evs.filter((e) => e.reason === 'RestoredFromLocalState').length >= 2;
      return restoredBoth && ['NodeNotReady', 'NodeReady', 'Disconnected'].every((r) => reasons.has(r)) ? evs : undefined;
    }, 15_000, 'offline period events, RestoredFromLocalState for both instances');
    const ready = events.filter((e) => e.reason === 'NodeReady').at(-1)!;
    assert.match(ready.message, /after \d+ s offline/);
    const restoredEvents = events.filter((e) => e.reason === 'RestoredFromLocalState');
    assert.equal(restoredEvents.length, 2);
    assert.ok(restoredEvents.every((e) => /before contacting the center/.test(e.message) && e.source === 'agent/edge-a-1'));
    // Recorded by the crashed agent run when the link went dark, kept in its durable outbox across the crash.
    const disconnected = events.find((e) => e.reason === 'Disconnected')!;
    assert.equal(disconnected.source, 'agent/edge-a-1');
    assert.ok(disconnected.at < ready.at);
  } finally {
    await p.close();
  }
});
