import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConflictError, instanceStatusSchema, schedulingExplanationSchema, type Device, type DeviceCommand, type Instance, type Node, type Rule, type RuleNodeStatus } from '../../core/index.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import { MERGE_TRIES, NodeReports, retryOnConflict } from './node-reports.ts';

const status = (n: number): RuleNodeStatus => ({ phase: 'Running', reportedAt: '2026-12-06T00:00:00.000Z', in: n, out: 0, filtered: 0, dropped: 0, late: 0, sinkErrors: 0, pending: 0, groups: 0, latencyMs: { count: 0, sum: 0, max: 0, p50: null, p99: null, buckets: [] } });

test("nodes reporting one rule at once each keep their part: a merge that lost to another node's merges again", async (t) => {
  const store = await openSqliteStore(':memory:');
  t.after(() => store.close());
  await store.create({ apiVersion: 'gedge.io/v1', kind: 'Rule', metadata: { name: 'r', project: 'default', labels: {} }, spec: { sql: 'SELECT a FROM "x"', target: {}, actions: [{ log: { level: 'info' } }], tables: {}, retry: { initialBackoff: '100ms', maxBackoff: '30s', maxQueue: 10 }, paused: false } } as Rule);
  const reports = new NodeReports(store);
  await Promise.all(['n1', 'n2', 'n3', 'n4'].map((node, i) => reports.rule(node, 'default', 'r', status(i + 1))));
  const rule = (await store.get('Rule', 'default', 'r'))!;
  assert.deepEqual(Object.fromEntries(Object.entries(rule.status!.nodes).map(([n, s]) => [n, s.in])), { n1: 1, n2: 2, n3: 3, n4: 4 });
  await reports.rule('n2', 'default', 'r', null);
  assert.deepEqual(Object.keys((await store.get('Rule', 'default', 'r'))!.status!.nodes).sort(), ['n1', 'n3', 'n4'], 'a node that no longer runs it drops out');
});

test("a device's reported twin moves forward only, and only the node it is connected to says it left: an edge reconnecting with older news rolls back neither", async (t) => {
  const store = await openSqliteStore(':memory:');
  t.after(() => store.close());
  await store.create({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: 'lamp', project: 'default', labels: {} }, spec: { site: 'edge-a', grants: { publish: [], subscribe: [] }, twin: { desired: {} } } } as unknown as Device);
  const reports = new NodeReports(store);
  await reports.device('edge-a-1', 'edge-a', 'default', 'lamp', { connected: true, reported: { on: true }, reportedVersion: 5 });
  await reports.device('edge-a-2', 'edge-a', 'default', 'lamp', { connected: false, reported: { on: false }, reportedVersion: 3 });
  const s = (await store.get('Device', 'default', 'lamp'))!.status!;
  // That it is not at edge-a-2 says nothing of where it is: still connected to edge-a-1.
  assert.deepEqual([s.reported, s.reportedVersion, s.connected, s.node], [{ on: true }, 5, true, 'edge-a-1']);
  await reports.device('edge-a-1', 'edge-a', 'default', 'lamp', { connected: false });
  const gone = (await store.get('Device', 'default', 'lamp'))!.status!;
  assert.deepEqual([gone.connected, gone.node], [false, 'edge-a-1'], 'the node it was connected to says it left');
  await reports.device('edge-a-2', 'edge-a', 'default', 'lamp', { connected: true });
  await reports.device('edge-b-1', 'edge-b', 'default', 'lamp', { connected: true });
  assert.equal((await store.get('Device', 'default', 'lamp'))!.status!.node, 'edge-a-2', 'an edge of another site says nothing of it');
});

test('a merge that keeps losing is tried a bounded number of times, then the conflict is thrown', async () => {
  let tries = 0;
  await assert.rejects(
    retryOnConflict(async () => {
      tries++;
      throw new ConflictError('written meanwhile');
    }),
    ConflictError,
  );
  assert.equal(tries, MERGE_TRIES);
  let once = 0;
  await retryOnConflict(async () => {
    if (once++ === 0) throw new ConflictError('written meanwhile');
  });
  assert.equal(once, 2);
  await assert.rejects(retryOnConflict(async () => Promise.reject(new Error('disk full'))), /disk full/, 'anything else is not retried');
});

test("an instance's status from its node keeps the scheduler's explanation; from another node, or for a deleted instance, it is dropped", async (t) => {
  const store = await openSqliteStore(':memory:');
  t.after(() => store.close());
  const template = { command: ['/bin/true'], env: {}, ports: [], resources: { cpu: 0, memoryMiB: 0, diskMiB: 0, accelerators: {} }, restartPolicy: 'Always', stopGracePeriod: '1s', runtime: 'process' };
  await store.create({ apiVersion: 'gedge.io/v1', kind: 'Instance', metadata: { name: 'web-1', project: 'default', labels: {} }, spec: { node: 'n1', template, placement: {}, templateHash: '' } } as unknown as Instance);
  const scheduling = schedulingExplanationSchema.parse({ at: '2026-12-06T00:00:00.000Z', policy: 'spread', node: 'n1', summary: '1/1 nodes fit', candidates: [] });
  await store.updateStatus('Instance', 'default', 'web-1', instanceStatusSchema.parse({ scheduling }));
  const reports = new NodeReports(store);
  await reports.instance('n1', 'default', 'web-1', instanceStatusSchema.parse({ phase: 'Running', ready: true }));
  const s = (await store.get('Instance', 'default', 'web-1'))!.status!;
  assert.deepEqual([s.phase, s.scheduling], ['Running', scheduling]);
  await reports.instance('n2', 'default', 'web-1', instanceStatusSchema.parse({ phase: 'Failed', restarts: 9 }));
  assert.equal((await store.get('Instance', 'default', 'web-1'))!.status!.phase, 'Running', 'n2 does not run it');
  await reports.instance('n1', 'default', 'gone', instanceStatusSchema.parse({ phase: 'Running' }));
  assert.equal(await store.get('Instance', 'default', 'gone'), undefined, 'nothing is made up');
});

test('a device command moves only while Pending, and only on the word of a node serving its device', async (t) => {
  const store = await openSqliteStore(':memory:');
  t.after(() => store.close());
  await store.create({ apiVersion: 'gedge.io/v1', kind: 'DeviceCommand', metadata: { name: 'blink', project: 'default', labels: {} }, spec: { device: 'lamp', topic: 'commands', payload: 'on', ttl: '1m' } } as unknown as DeviceCommand);
  const reports = new NodeReports(store);
  const serves = (device: string) => device === 'lamp';
  assert.equal(await reports.command('edge-b-1', 'default', 'blink', { phase: 'Delivered' }, () => false), 'refused');
  assert.equal((await store.get('DeviceCommand', 'default', 'blink'))!.status?.phase ?? 'Pending', 'Pending');
  assert.equal(await reports.command('edge-a-1', 'default', 'blink', { phase: 'Delivered', deliveredAt: '2026-12-06T00:00:01.000Z' }, serves), 'applied');
  assert.equal(await reports.command('edge-a-1', 'default', 'blink', { phase: 'Expired' }, serves), 'ignored', 'Delivered stays Delivered');
  const s = (await store.get('DeviceCommand', 'default', 'blink'))!.status!;
  assert.deepEqual([s.phase, s.node], ['Delivered', 'edge-a-1']);
  assert.equal(await reports.command('edge-a-1', 'default', 'collected', { phase: 'Delivered' }, serves), 'ignored');
});

test("a node's status: a changed capacity updates the spec, the MqttEncrypted condition follows its broker's listeners, a node deleted meanwhile is left alone", async (t) => {
  const store = await openSqliteStore(':memory:');
  t.after(() => store.close());
  const capacity = { cpu: 2, memoryMiB: 1024, diskMiB: 0, accelerators: {} };
  await store.create({ apiVersion: 'gedge.io/v1', kind: 'Node', metadata: { name: 'n1', labels: {} }, spec: { site: 'edge-a', capacity, unschedulable: false, taints: [] } } as unknown as Node);
  const reports = new NodeReports(store);
  const more = { ...capacity, cpu: 4 };
  assert.equal(await reports.nodeStatus('n1', { capacity: more, mqtt: { host: '127.0.0.1', tcp: 1883 } as never, syncedRevision: 7 }), 'written');
  let n = (await store.get('Node', undefined, 'n1'))!;
  assert.equal(n.spec.capacity.cpu, 4);
  assert.equal(n.status!.syncedRevision, 7);
  const plain = n.status!.conditions.find((c) => c.type === 'MqttEncrypted')!;
  assert.deepEqual([plain.status, plain.reason], ['False', 'PlainListener']);
  assert.equal(await reports.nodeStatus('n1', { mqtt: { host: '127.0.0.1', tls: 8883 } as never, syncedRevision: 0 }), 'written');
  n = (await store.get('Node', undefined, 'n1'))!;
  assert.deepEqual([n.status!.conditions.find((c) => c.type === 'MqttEncrypted')!.reason, n.status!.syncedRevision], ['TlsOnly', 7], 'no acknowledgement yet on this connection keeps the last one');
  assert.equal(await reports.nodeStatus('n1', { mqtt: undefined, syncedRevision: 0 }), 'written');
  assert.equal((await store.get('Node', undefined, 'n1'))!.status!.conditions.some((c) => c.type === 'MqttEncrypted'), false, 'no broker, no condition');
  assert.equal(await reports.nodeStatus('gone', { mqtt: undefined, syncedRevision: 0 }), 'gone');
  // What its endpoints overflow to upper tiers: kept as said; a report that does not say keeps the last.
  assert.equal(await reports.nodeStatus('n1', { mqtt: undefined, syncedRevision: 0, overflowing: [{ project: 'default', service: 'web' }] }), 'written');
  assert.deepEqual((await store.get('Node', undefined, 'n1'))!.status!.overflowing, [{ project: 'default', service: 'web' }]);
  assert.equal(await reports.nodeStatus('n1', { mqtt: undefined, syncedRevision: 0 }), 'written');
  assert.deepEqual((await store.get('Node', undefined, 'n1'))!.status!.overflowing, [{ project: 'default', service: 'web' }]);
  assert.equal(await reports.nodeStatus('n1', { mqtt: undefined, syncedRevision: 0, overflowing: [] }), 'written');
  assert.deepEqual((await store.get('Node', undefined, 'n1'))!.status!.overflowing, []);
});
