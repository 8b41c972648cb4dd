import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node } from '../../core/index.ts';
import { startCenterProcess, startPlatform, waitFor, type CenterHandle } from '../../testkit/index.ts';

test('while a restarting center refuses, its agents redial within a second however long it takes, and are back once it listens', async () => {
  const p = await startPlatform({ heartbeatMs: 300, notReadyAfterMs: 1500, agents: [{ name: 'edge-a-1', site: 'edge-a' }] });
  let again: CenterHandle | undefined;
  try {
    const agent = p.agents.get('edge-a-1')!.process;
    await agent.waitForLine((l) => l.event === 'resynced');
    const mark = agent.lines.length;
    await p.center.process.stop();
    // Six redials: on the backoff alone the fourth would wait 2-4 s and the sixth 8-16 s.
    const redials = () => agent.lines.slice(mark).filter((l) => l.event === 'reconnecting');
    await waitFor(() => redials().length >= 6, 60_000, 'six redials of the stopped center');
    const [first, ...refused] = redials();
    assert.ok((first!.inMs as number) <= 1000, JSON.stringify(first));
    for (const r of refused) assert.ok(r.refused === true && (r.inMs as number) <= 1000, JSON.stringify(r));

    again = await startCenterProcess({ dataDir: p.center.dataDir, port: p.center.port, adminToken: p.center.adminToken, heartbeatMs: 300, notReadyAfterMs: 1500 });
    await waitFor(() => agent.lines.slice(mark).some((l) => l.event === 'connected'), 30_000, 'the agent connected to the restarted center');
    const api = again.api;
    await waitFor(async () => (await api.get<Node>('Node', 'edge-a-1')).status?.phase === 'Ready', 30_000, 'the node Ready at the restarted center');
  } finally {
    await again?.process.stop();
    await p.close();
  }
});
