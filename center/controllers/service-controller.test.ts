import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { parseSelector, serviceSchema, templateHash, type Instance, type Service } from '../../core/index.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import type { Store } from '../store/store.ts';
import { BURST_LABEL, SERVICE_LABEL } from '../../core/index.ts';
import { ServiceController } from './service-controller.ts';

async function setup(t: TestContext): Promise<{ store: Store; ctl: ServiceController }> {
  const store = await openSqliteStore(':memory:');
  t.after(() => store.close());
  await store.create({ apiVersion: 'gedge.io/v1', kind: 'Project', metadata: { name: 'default', labels: {} }, spec: { description: '' } });
  return { store, ctl: new ServiceController(store, pino({ level: 'silent' })) };
}

function service(name: string, replicas: number, command = ['run'], project = 'default'): Service {
  return serviceSchema.parse({
    kind: 'Service',
    metadata: { name, project, labels: { app: name } },
    spec: { replicas, template: { command } },
  });
}

async function instancesOf(store: Store, name: string, project = 'default'): Promise<Instance[]> {
  return (await store.list('Instance', { project, selector: parseSelector(`${SERVICE_LABEL}=${name}`) })).items;
}

async function getService(store: Store, name: string): Promise<Service> {
  const s = await store.get('Service', 'default', name);
  assert.ok(s, `service ${name} exists`);
  return s;
}

async function setReplicas(store: Store, name: string, replicas: number): Promise<void> {
  const s = await getService(store, name);
  await store.update({ ...s, spec: { ...s.spec, replicas } });
}

async function bind(store: Store, i: Instance, node: string, ready = false): Promise<void> {
  await store.update({ ...i, spec: { ...i.spec, node } });
  if (ready) await setReady(store, i);
}

async function setReady(store: Store, i: Instance): Promise<void> {
  await store.updateStatus('Instance', 'default', i.metadata.name, { phase: 'Running', ready: true, restarts: 0, ports: {}, conditions: [] });
}

const names = (is: Instance[]) => is.map((i) => i.metadata.name).sort();

test('scales up to replicas with instances labelled with their service', async (t) => {
  const { store, ctl } = await setup(t);
  const web = service('web', 3);
  await store.create(web);
  await ctl.reconcile('default/web');
  const insts = await instancesOf(store, 'web');
  assert.equal(insts.length, 3);
  assert.equal(new Set(names(insts)).size, 3);
  const hash = templateHash(web.spec.template, web.spec.placement);
  for (const i of insts) {
    assert.equal(i.metadata.labels[SERVICE_LABEL], 'web');
    assert.equal(i.metadata.labels.app, 'web', 'service labels are copied');
    assert.equal(i.metadata.project, 'default');
    assert.equal(i.spec.service, 'web');
    assert.equal(i.spec.node, undefined, 'placement binds, not the service controller');
    assert.equal(i.spec.templateHash, hash);
    assert.deepEqual(i.spec.template, web.spec.template);
    assert.equal(i.status?.phase, 'Pending');
  }
  const s = await getService(store, 'web');
  assert.equal(s.status?.replicas, 3);
  assert.equal(s.status?.ready, 0);

  await setReplicas(store, 'web', 5);
  await ctl.reconcile('default/web');
  const after = await instancesOf(store, 'web');
  assert.equal(after.length, 5);
  assert.ok(names(insts).every((n) => names(after).includes(n)), 'scaling up keeps the existing instances');
});

test('scales down preferring unbound, then not ready instances', async (t) => {
  const { store, ctl } = await setup(t);
  await store.create(service('web', 3));
  await ctl.reconcile('default/web');
  const [a, b, c] = await instancesOf(store, 'web');
  await bind(store, a!, 'n1', true);
  await bind(store, b!, 'n2');

  await setReplicas(store, 'web', 2);
  await ctl.reconcile('default/web');
  assert.deepEqual(names(await instancesOf(store, 'web')), names([a!, b!]), `unbound ${c!.metadata.name} goes first`);

  await setReplicas(store, 'web', 1);
  await ctl.reconcile('default/web');
  assert.deepEqual(names(await instancesOf(store, 'web')), [a!.metadata.name], 'the bound, ready one stays');
  const s = await getService(store, 'web');
  assert.deepEqual([s.status?.replicas, s.status?.ready], [1, 1]);

  await setReplicas(store, 'web', 0);
  await ctl.reconcile('default/web');
  assert.equal((await instancesOf(store, 'web')).length, 0);
});

test('deleting the service garbage-collects its instances, and only its own', async (t) => {
  const { store, ctl } = await setup(t);
  await store.create({ apiVersion: 'gedge.io/v1', kind: 'Project', metadata: { name: 'other', labels: {} }, spec: { description: '' } });
  await store.create(service('web', 2));
  await store.create(service('db', 1));
  await store.create(service('web', 1, ['run'], 'other'));
  for (const key of ['default/web', 'default/db', 'other/web']) await ctl.reconcile(key);
  assert.equal((await instancesOf(store, 'web', 'other')).length, 1);

  await store.delete('Service', 'default', 'web');
  await ctl.reconcile('default/web');
  assert.equal((await instancesOf(store, 'web')).length, 0);
  assert.equal((await instancesOf(store, 'db')).length, 1, 'other services keep theirs');
  assert.equal((await instancesOf(store, 'web', 'other')).length, 1, 'the same name in another project keeps its instances');

  const rev = await store.currentRevision();
  await ctl.reconcile('default/web');
  assert.equal(await store.currentRevision(), rev, 'nothing left to collect');
});

test("instances added upward while sites overflow (burst) are the burst controller's: not counted in replicas, deleted with the service", async (t) => {
  const { store, ctl } = await setup(t);
  await store.create(service('web', 1));
  await ctl.reconcile('default/web');
  const [replica] = await instancesOf(store, 'web');
  await store.create({ ...replica!, metadata: { ...replica!.metadata, name: 'web-burst1', labels: { ...replica!.metadata.labels, [BURST_LABEL]: 'true' } } });
  await ctl.reconcile('default/web');
  assert.deepEqual(names(await instancesOf(store, 'web')), [replica!.metadata.name, 'web-burst1'].sort(), 'neither scaled in nor counted');
  assert.equal((await getService(store, 'web')).status?.replicas, 1);
  await store.delete('Service', 'default', 'web');
  await ctl.reconcile('default/web');
  assert.deepEqual(await instancesOf(store, 'web'), []);
});

test('reconcile is idempotent: a second call writes nothing', async (t) => {
  const { store, ctl } = await setup(t);
  await store.create(service('web', 3));
  await ctl.reconcile('default/web');
  const rev = await store.currentRevision();
  await ctl.reconcile('default/web');
  await ctl.reconcile('default/web');
  assert.equal(await store.currentRevision(), rev);
  assert.deepEqual(await store.changesSince(rev), []);

  // Also after a scale-down with bound instances and a status change.
  const [a] = await instancesOf(store, 'web');
  await bind(store, a!, 'n1', true);
  await setReplicas(store, 'web', 1);
  await ctl.reconcile('default/web');
  const rev2 = await store.currentRevision();
  await ctl.reconcile('default/web');
  assert.equal(await store.currentRevision(), rev2);
});

test('a missing service with no instances is a no-op', async (t) => {
  const { store, ctl } = await setup(t);
  const rev = await store.currentRevision();
  await ctl.reconcile('default/ghost');
  assert.equal(await store.currentRevision(), rev);
});

test('status counts ready instances and flips Available with an event', async (t) => {
  const { store, ctl } = await setup(t);
  await store.create(service('web', 3));
  await ctl.reconcile('default/web');
  const insts = await instancesOf(store, 'web');
  let s = await getService(store, 'web');
  assert.deepEqual([s.status?.replicas, s.status?.ready, s.status?.conditions[0]?.type, s.status?.conditions[0]?.status], [3, 0, 'Available', 'False']);

  await bind(store, insts[0]!, 'n1', true);
  await bind(store, insts[1]!, 'n2', true);
  await ctl.reconcile('default/web');
  s = await getService(store, 'web');
  assert.deepEqual([s.status?.replicas, s.status?.ready, s.status?.conditions[0]?.status], [3, 2, 'False']);

  await bind(store, insts[2]!, 'n3', true);
  await ctl.reconcile('default/web');
  s = await getService(store, 'web');
  assert.deepEqual([s.status?.replicas, s.status?.ready, s.status?.conditions[0]?.status], [3, 3, 'True']);
  const events = (await store.list('Event', { selector: parseSelector('gedge.io/involved-kind=Service,gedge.io/involved-name=web') })).items;
  assert.deepEqual(
    events.map((e) => [e.spec.reason, e.spec.type, e.spec.message]).sort(),
    [
      ['Available', 'Normal', '3/3 replicas ready'],
      ['RolloutComplete', 'Normal', 'revision 1 rolled out: 3/3 ready'],
    ],
  );

  await store.updateStatus('Instance', 'default', insts[2]!.metadata.name, { phase: 'Failed', ready: false, restarts: 1, ports: {}, conditions: [] });
  await ctl.reconcile('default/web');
  s = await getService(store, 'web');
  assert.deepEqual([s.status?.ready, s.status?.conditions[0]?.status], [2, 'False']);
  const reasons = (await store.list('Event')).items.map((e) => e.spec.reason).sort();
  assert.deepEqual(reasons, ['Available', 'RolloutComplete', 'Unavailable'], 'a rollout completes once');
});
