import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConflictError, type Device, type Rule, type RuleNodeStatus } from '../../core/index.ts';
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

test("a device's reported twin moves forward only: an edge reconnecting with older news does not roll it back", async (t) => {
  const store = await openSqliteStore(':memory:');
  t.after(() => store.close());
  await store.create({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: 'lamp', project: 'default', labels: {} }, spec: { site: 'edge-a', grants: { publish: [], subscribe: [] }, twin: { desired: {} } } } as unknown as Device);
  const reports = new NodeReports(store);
  await reports.device('edge-a-1', 'edge-a', 'default', 'lamp', { connected: true, reported: { on: true }, reportedVersion: 5 });
  await reports.device('edge-a-2', 'edge-a', 'default', 'lamp', { connected: false, reported: { on: false }, reportedVersion: 3 });
  const s = (await store.get('Device', 'default', 'lamp'))!.status!;
  assert.deepEqual([s.reported, s.reportedVersion, s.connected, s.node], [{ on: true }, 5, false, 'edge-a-2']);
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
