import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { siteLinkName, type Node } from '../../core/index.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import type { Store } from '../store/store.ts';
import { LinkRecorder, MEASURED_LABEL, significant } from './link-recorder.ts';

const STALE = 30_000;
const EXPIRE = 600_000;
const T0 = Date.parse('2030-01-01T00:00:00.000Z');

async function setup(t: TestContext, centerSite?: string) {
  const store = await openSqliteStore(':memory:');
  t.after(() => store.close());
  for (const [name, site] of [['cloud-1', 'cloud'], ['a-1', 'edge-a'], ['b-1', 'edge-b']] as const) await store.create(node(name, site));
  const clock = { now: T0 };
  // The store itself serves as the reader: no cache lag to reason about in these tests.
  const rec = new LinkRecorder(store, store, pino({ level: 'silent' }), { centerSite, staleAfterMs: STALE, expireAfterMs: EXPIRE, now: () => clock.now });
  return { store, rec, clock };
}

function node(name: string, site: string): Node {
  return { apiVersion: 'gedge.io/v1', kind: 'Node', metadata: { name, labels: {} }, spec: { site, capacity: { cpu: 1, memoryMiB: 1, diskMiB: 0, accelerators: {} }, unschedulable: false, taints: [] } };
}

const getLink = async (store: Store, a: string, b: string) => store.get('SiteLink', undefined, siteLinkName(a, b));

test('reports become SiteLink objects named after the site pair, labelled as measured', async (t) => {
  const { store, rec } = await setup(t);
  await rec.recordFromNode('a-1', { t: 'rtt', peers: [{ node: 'b-1', rttMs: 12 }, { node: 'cloud-1', rttMs: 30 }, { node: 'ghost', rttMs: 1 }] });
  await rec.recordFromNode('b-1', { t: 'rtt', peers: [{ node: 'a-1', rttMs: 14 }] });
  await rec.flush();
  const ab = await getLink(store, 'edge-b', 'edge-a');
  assert.equal(ab?.metadata.name, 'edge-a--edge-b');
  assert.deepEqual(ab?.spec, { sites: ['edge-a', 'edge-b'] });
  assert.equal(ab?.metadata.labels[MEASURED_LABEL], 'true');
  assert.deepEqual({ ...ab?.status, measuredAt: undefined }, { state: 'Up', rttMs: 13, jitterMs: 0, samples: 2, directions: 2, measuredAt: undefined });
  assert.equal(ab?.status?.measuredAt, new Date(T0).toISOString());
  assert.equal((await getLink(store, 'cloud', 'edge-a'))?.status?.rttMs, 30);
  assert.equal((await store.list('SiteLink')).items.length, 2, 'an unknown peer node is ignored');
});

test('only significant changes are written, plus a refresh now and then so measuredAt stays honest', async (t) => {
  const { store, rec, clock } = await setup(t);
  const report = (rttMs: number) => rec.recordFromNode('a-1', { t: 'rtt', peers: [{ node: 'b-1', rttMs }] });
  await report(20);
  await rec.flush();
  const rev = async () => (await getLink(store, 'edge-a', 'edge-b'))!.metadata.revision;
  const r1 = await rev();
  clock.now += 1000;
  await report(21); // ewma 20.3: less than 10 %
  await rec.flush();
  assert.equal(await rev(), r1);
  clock.now += 1000;
  await report(40); // ewma ~26.2
  await rec.flush();
  const r2 = await rev();
  assert.ok(r2! > r1!);
  clock.now += 30_000;
  await report(26);
  await rec.flush();
  const l = await getLink(store, 'edge-a', 'edge-b');
  assert.ok(l!.metadata.revision! > r2!, 'refreshed after 30 s');
  assert.equal(l!.status!.measuredAt, new Date(clock.now).toISOString());
});

test('silence makes a link Stale, expiry deletes it; a declared link is kept and only its status cleared', async (t) => {
  const { store, rec, clock } = await setup(t);
  await store.create({ apiVersion: 'gedge.io/v1', kind: 'SiteLink', metadata: { name: siteLinkName('cloud', 'edge-a'), labels: {} }, spec: { sites: ['cloud', 'edge-a'], declaredRtt: '25ms' } });
  await rec.recordFromNode('a-1', { t: 'rtt', peers: [{ node: 'b-1', rttMs: 10 }, { node: 'cloud-1', rttMs: 22 }] });
  await rec.flush();
  assert.equal((await getLink(store, 'cloud', 'edge-a'))?.status?.rttMs, 22, 'a declared link gets the measurement too');
  clock.now += STALE;
  await rec.flush();
  const stale = await getLink(store, 'edge-a', 'edge-b');
  assert.deepEqual([stale?.status?.state, stale?.status?.rttMs], ['Stale', 10]);
  clock.now += EXPIRE;
  await rec.flush();
  assert.equal(await getLink(store, 'edge-a', 'edge-b'), undefined, 'an expired measured link is deleted');
  const declared = await getLink(store, 'cloud', 'edge-a');
  assert.equal(declared?.spec.declaredRtt, '25ms');
  assert.equal(declared?.status, undefined, 'the declared link stays, without a measurement');
});

test('links measured before a restart age by their measuredAt', async (t) => {
  const { store, rec, clock } = await setup(t);
  const status = { state: 'Up' as const, rttMs: 5, jitterMs: 0, samples: 9, directions: 2, measuredAt: new Date(T0).toISOString() };
  await store.create({ apiVersion: 'gedge.io/v1', kind: 'SiteLink', metadata: { name: siteLinkName('edge-a', 'edge-b'), labels: { [MEASURED_LABEL]: 'true' } }, spec: { sites: ['edge-a', 'edge-b'] }, status });
  await rec.flush();
  assert.equal((await getLink(store, 'edge-a', 'edge-b'))?.status?.state, 'Up', 'fresh enough to stand');
  clock.now += STALE;
  await rec.flush();
  assert.deepEqual((await getLink(store, 'edge-a', 'edge-b'))?.status, { ...status, state: 'Stale' });
  clock.now += EXPIRE;
  await rec.flush();
  assert.equal(await getLink(store, 'edge-a', 'edge-b'), undefined);
});

test('a round trip to the center counts for the center site when it has one', async (t) => {
  const withSite = await setup(t, 'cloud');
  await withSite.rec.recordFromNode('b-1', { t: 'rtt', centerMs: 8, peers: [] });
  await withSite.rec.flush();
  assert.equal((await getLink(withSite.store, 'cloud', 'edge-b'))?.status?.rttMs, 8);
  const without = await setup(t);
  await without.rec.recordFromNode('b-1', { t: 'rtt', centerMs: 8, peers: [] });
  await without.rec.flush();
  assert.equal((await without.store.list('SiteLink')).items.length, 0);
});

test('significant(): state, appearance of a value, relative and absolute thresholds', () => {
  const at = new Date(T0).toISOString();
  const s = (rttMs: number | null, state: 'Up' | 'Down' | 'Stale' = 'Up') => ({ state, rttMs, jitterMs: 0, samples: 1, directions: 1, measuredAt: at });
  assert.equal(significant(undefined, s(1), T0, 30_000), true);
  assert.equal(significant(s(1), s(1, 'Down'), T0, 30_000), true);
  assert.equal(significant(s(null, 'Down'), s(null, 'Down'), T0, 30_000), false);
  assert.equal(significant(s(1), s(1.19), T0, 30_000), false, 'below 0.2 ms');
  assert.equal(significant(s(1), s(1.2), T0, 30_000), true);
  assert.equal(significant(s(100), s(109), T0, 30_000), false, 'below 10 %');
  assert.equal(significant(s(100), s(110), T0, 30_000), true);
});
