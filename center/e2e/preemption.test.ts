import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GedgeEvent, Service } from '../../core/index.ts';
import { startPlatform, testService, waitFor, type Platform } from '../../testkit/index.ts';

/** A service asking for most of a 1-core edge node. */
function hungry(name: string, placement: Record<string, unknown>): Service {
  const s = testService(name) as Service;
  return { ...s, spec: { ...s.spec, placement, template: { ...s.spec.template, resources: { ...s.spec.template.resources, cpu: 0.8 } } } };
}

const runningOn = async (p: Platform, app: string) =>
  (await p.instances(`app=${app}`)).filter((i) => i.spec.node && i.status?.phase === 'Running').map((i) => `${i.metadata.name}@${i.spec.node}`);

test('preemption with real agents: a critical service pinned to a full edge evicts the low-priority one there, which is rescheduled to the other edge', async () => {
  const p = await startPlatform({
    agents: [
      { name: 'edge-a-1', site: 'edge-a', cpu: 1 },
      { name: 'edge-b-1', site: 'edge-b', cpu: 1 },
    ],
  });
  try {
    const api = p.center.api;
    await api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'PriorityClass', metadata: { name: 'critical' }, spec: { value: 1000 } }));
    // The batch job prefers edge-a (its clients are there) and fills it.
    await api.apply(JSON.stringify(hungry('batch', { clients: { sites: ['edge-a'] }, sites: ['edge-a', 'edge-b'] })));
    const [before] = await waitFor(async () => ((await runningOn(p, 'batch')).length === 1 ? runningOn(p, 'batch') : undefined), 20_000, 'batch Running');
    assert.match(before!, /@edge-a-1$/);

    // The critical service may only run on edge-a: batch is the minimal victim.
    await api.apply(JSON.stringify(hungry('critical', { sites: ['edge-a'], priorityClass: 'critical' })));
    const [crit] = await waitFor(async () => ((await runningOn(p, 'critical')).length === 1 ? runningOn(p, 'critical') : undefined), 30_000, 'critical Running');
    assert.match(crit!, /@edge-a-1$/);
    const [after] = await waitFor(async () => {
      const r = await runningOn(p, 'batch');
      return r.length === 1 && r[0]!.endsWith('@edge-b-1') ? r : undefined;
    }, 30_000, 'batch rescheduled to edge-b');
    assert.notEqual(after!.split('@')[0], before!.split('@')[0], 'a replacement, not the evicted instance');

    const victimName = before!.split('@')[0]!;
    const victimEvents = (await api.list<GedgeEvent>('Event', { selector: `gedge.io/involved-kind=Instance,gedge.io/involved-name=${victimName}` })).items;
    const preempted = victimEvents.find((e) => e.spec.reason === 'Preempted');
    assert.ok(preempted, victimEvents.map((e) => e.spec.reason).join(','));
    assert.match(preempted.spec.message, /^evicted from edge-a-1 to make room for critical-\w+ \(priority 1000\)/);
    const critEvents = (await api.list<GedgeEvent>('Event', { selector: `gedge.io/involved-kind=Instance,gedge.io/involved-name=${crit!.split('@')[0]}` })).items;
    assert.ok(critEvents.some((e) => e.spec.reason === 'Preempting' && e.spec.message.includes(victimName)), critEvents.map((e) => `${e.spec.reason}: ${e.spec.message}`).join('\n'));
  } finally {
    await p.close();
  }
});
