import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { BURST_LABEL, parseSelector, SERVICE_LABEL, serviceSchema, type GedgeEvent, type Instance, type Node } from '../../core/index.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import type { Store } from '../store/store.ts';
import { BurstController } from './burst-controller.ts';

async function setup(t: TestContext) {
  const store = await openSqliteStore(':memory:');
  t.after(() => store.close());
  await store.create({ apiVersion: 'gedge.io/v1', kind: 'Project', metadata: { name: 'default', labels: {} }, spec: { description: '' } });
  const clock = { now: 1_000_000 };
  const ctl = new BurstController(store, pino({ level: 'silent' }), store, () => clock.now);
  await store.create(
    serviceSchema.parse({
      kind: 'Service',
      metadata: { name: 'web', project: 'default', labels: { app: 'web' } },
      spec: {
        replicas: 2,
        template: { command: ['run'], ports: [{ name: 'http' }] },
        placement: { policy: 'pinned', nodes: ['edge-a-1', 'region-1'], antiAffinity: [{ selector: { app: 'web' } }] },
        endpoint: {},
        overflow: { tiers: ['region'], sla: '100ms', hold: '5s', burst: 2 },
      },
    }),
  );
  for (const [name, site, overflowing] of [['edge-a-1', 'edge-a', true], ['edge-b-1', 'edge-b', false]] as const) {
    const node: Node = {
      apiVersion: 'gedge.io/v1',
      kind: 'Node',
      metadata: { name, labels: {} },
      spec: { site, capacity: { cpu: 2, memoryMiB: 1024, diskMiB: 0, accelerators: {} }, unschedulable: false, taints: [] },
      status: { phase: 'Ready', conditions: [], ...(overflowing ? { overflowing: [{ project: 'default', service: 'web' }] } : {}) },
    };
    await store.create(node);
  }
  return { store, ctl, clock };
}

const burst = async (store: Store) => (await store.list('Instance', { project: 'default', selector: parseSelector(`${SERVICE_LABEL}=web,${BURST_LABEL}=true`) })).items;
const events = async (store: Store, reason: string) => ((await store.list('Event')).items as GedgeEvent[]).filter((e) => e.spec.reason === reason);

async function overflowing(store: Store, node: string, yes: boolean, phase: 'Ready' | 'NotReady' = 'Ready') {
  const n = (await store.get('Node', undefined, node))!;
  await store.updateStatus('Node', undefined, node, { ...n.status!, phase, overflowing: yes ? [{ project: 'default', service: 'web' }] : [] });
}

test('while a site overflows, one instance more in the overflow tiers each hold up to burst, placed nearest the overflowing sites, each an event', async (t) => {
  const { store, ctl, clock } = await setup(t);
  assert.deepEqual(await ctl.reconcile('default/web'), { requeueAfterMs: 5000 });
  const [first] = await burst(store);
  assert.ok(first);
  assert.deepEqual(first.spec.placement, { policy: 'latency', tiers: ['region'], clients: { sites: ['edge-a'] } });
  assert.equal(first.spec.service, 'web');
  assert.deepEqual(first.metadata.labels, { [SERVICE_LABEL]: 'web', [BURST_LABEL]: 'true' }, "only the controller's labels: the replicas' affinity terms (app=web) do not match it");
  const up = await events(store, 'BurstUp');
  assert.equal(up.length, 1);
  assert.equal(up[0]!.spec.message, 'edge-a overflowing to region: one more instance there (1 of 2 at most)');

  clock.now += 1000;
  assert.deepEqual(await ctl.reconcile('default/web'), { requeueAfterMs: 4000 }, 'not before hold');
  assert.equal((await burst(store)).length, 1);
  clock.now += 4000;
  assert.equal(await ctl.reconcile('default/web'), undefined, 'the second, the last');
  assert.equal((await burst(store)).length, 2);
  clock.now += 5000;
  await ctl.reconcile('default/web');
  assert.equal((await burst(store)).length, 2, 'never past burst');
  // Lowered while the site still overflows: one goes (the newest).
  const two = (await burst(store)).map((i) => i.metadata.name);
  const svc = (await store.get('Service', 'default', 'web'))!;
  await store.update({ ...svc, spec: { ...svc.spec, overflow: { ...svc.spec.overflow!, burst: 1 } } });
  await ctl.reconcile('default/web');
  const left = (await burst(store)).map((i) => i.metadata.name);
  assert.equal(left.length, 1);
  const gone = two.find((n) => !left.includes(n));
  assert.deepEqual((await events(store, 'BurstDown')).map((e) => e.spec.message), [`burst lowered to 1: ${gone} removed`]);
});

test('once no site overflows for three holds, one goes each three holds; a node not Ready is not heard', async (t) => {
  const { store, ctl, clock } = await setup(t);
  await ctl.reconcile('default/web');
  clock.now += 5000;
  await ctl.reconcile('default/web');
  assert.equal((await burst(store)).length, 2);

  await overflowing(store, 'edge-a-1', false);
  clock.now += 1000;
  assert.deepEqual(await ctl.reconcile('default/web'), { requeueAfterMs: 14_000 });
  clock.now += 14_000;
  assert.deepEqual(await ctl.reconcile('default/web'), { requeueAfterMs: 15_000 });
  assert.equal((await burst(store)).length, 1);
  assert.match((await events(store, 'BurstDown'))[0]!.spec.message, /^no site has overflowed for 15s: web-[0-9a-f]{6} removed \(1 burst instances left\)$/);

  // A NotReady node that still says it overflows is not heard.
  await overflowing(store, 'edge-a-1', true, 'NotReady');
  clock.now += 15_000;
  assert.equal(await ctl.reconcile('default/web'), undefined);
  assert.equal((await burst(store)).length, 0);
});

test('an old template: nothing is replaced while the rollout is under way; then a fresh one comes, and the old goes once it is ready; a burst of 0 removes all', async (t) => {
  const { store, ctl, clock } = await setup(t);
  const s = (await store.get('Service', 'default', 'web'))!;
  await store.update({ ...s, spec: { ...s.spec, overflow: { ...s.spec.overflow!, burst: 1 } } });
  await ctl.reconcile('default/web');
  const [old] = await burst(store);
  const s1 = (await store.get('Service', 'default', 'web'))!;
  await store.update({ ...s1, spec: { ...s1.spec, template: { ...s1.spec.template, command: ['run', '--v2'] } } });
  await store.updateStatus('Service', 'default', 'web', { replicas: 2, readyReplicas: 0, conditions: [], revisions: [], rollout: { revision: 2, phase: 'Progressing', sites: [] } } as never);
  clock.now += 5000;
  assert.deepEqual(await ctl.reconcile('default/web'), { requeueAfterMs: 5000 }, 'the rollout is under way: nothing changes');
  assert.deepEqual((await burst(store)).map((i) => i.metadata.name), [old!.metadata.name]);

  await store.updateStatus('Service', 'default', 'web', { replicas: 2, readyReplicas: 2, conditions: [], revisions: [], rollout: { revision: 2, phase: 'Complete', sites: [] } } as never);
  await ctl.reconcile('default/web');
  const both = await burst(store);
  assert.equal(both.length, 2, 'a fresh one beside the old (make-before-break)');
  const fresh = both.find((i) => i.metadata.name !== old!.metadata.name)!;
  assert.deepEqual(fresh.spec.template.command, ['run', '--v2']);
  await store.updateStatus('Instance', 'default', fresh.metadata.name, { phase: 'Running', ready: true, restarts: 0, ports: {}, conditions: [] });
  await ctl.reconcile('default/web');
  assert.deepEqual((await burst(store)).map((i) => i.metadata.name), [fresh.metadata.name], 'the old one gone once the fresh one is ready');

  const s2 = (await store.get('Service', 'default', 'web'))!;
  await store.update({ ...s2, spec: { ...s2.spec, overflow: { ...s2.spec.overflow!, burst: 0 } } });
  await ctl.reconcile('default/web');
  assert.deepEqual(await burst(store), []);
  const others: Instance[] = (await store.list('Instance', { project: 'default' })).items;
  assert.deepEqual(others, [], 'no other instance was touched (the service controller keeps replicas)');
});
