import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Instance, Node, Resource } from '../../core/index.ts';
import { startPlatform, waitFor } from '../../testkit/index.ts';

function pinned(name: string, node: string, labels: Record<string, string> = {}): Resource {
  return {
    apiVersion: 'gedge.io/v1',
    kind: 'Instance',
    metadata: { name, labels },
    spec: { node, template: { command: ['/bin/sleep', '600'], stopGracePeriod: '1s' } },
  } as unknown as Resource;
}

test('after a partition the agent receives only the changes made meanwhile and ends at the latest revision', async () => {
  const p = await startPlatform({
    heartbeatMs: 300,
    notReadyAfterMs: 1500,
    evictAfterMs: 120_000,
    agents: [
      { name: 'edge-a-1', site: 'edge-a', viaLink: true },
      { name: 'edge-b-1', site: 'edge-b' },
    ],
  });
  try {
    const api = p.center.api;
    const agent = p.agents.get('edge-a-1')!.process;
    await agent.waitForLine((l) => l.event === 'resynced');
    p.links.get('edge-a-1')!.cut('reset');
    await agent.waitForLine((l) => l.event === 'disconnected');
    const mark = agent.lines.length;

    // 50 changes for this node: 10 creations, then 4 label updates of each.
    for (let i = 0; i < 10; i++) await api.create(pinned(`job-${i}`, 'edge-a-1'));
    for (let round = 1; round <= 4; round++) {
      for (let i = 0; i < 10; i++) await api.apply(JSON.stringify(pinned(`job-${i}`, 'edge-a-1', { round: String(round) })));
    }
    // And changes that do not concern it, which it must not receive.
    for (let i = 0; i < 10; i++) await api.create(pinned(`other-${i}`, 'edge-b-1'));
    const latest = (await api.list('Instance')).revision;

    p.links.get('edge-a-1')!.restore();
    const resynced = await agent.waitForLine((l) => l.event === 'resynced', 20_000, mark);
    assert.equal(resynced.mode, 'delta');
    assert.equal(resynced.changes, 50, 'exactly the 50 changes made during the partition');
    assert.ok((resynced.revision as number) >= latest, `ends at the latest revision (${resynced.revision} >= ${latest})`);

    const mine = await waitFor(async () => {
      const all = (await p.instances()).filter((i) => i.spec.node === 'edge-a-1');
      return all.length === 10 && all.every((i) => i.status?.phase === 'Running') ? all : undefined;
    }, 20_000, 'the 10 jobs Running on edge-a-1');
    assert.ok(mine.every((i: Instance) => i.metadata.labels.round === '4'));
    await waitFor(async () => ((await api.get<Node>('Node', 'edge-a-1')).status?.syncedRevision ?? 0) >= latest, 30_000, 'the center records the acknowledged revision');
  } finally {
    await p.close();
  }
});
