import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ENDPOINT_SETS_PER_MESSAGE, parseManifest, waitFor, type CenterMessage, type EndpointSet, type Resource } from '../../core/index.ts';
import pino from 'pino';
import { openSqliteStore } from '../store/sqlite-store.ts';
import { EndpointDirectory } from './endpoint-directory.ts';

type Endpoints = Extract<CenterMessage, { t: 'endpoints' }>;

const one = (text: string): Resource => parseManifest(text)[0]!;
const TEMPLATE = "  template:\n    command: [node, -e, '0']\n    ports: [{name: http}, {name: admin}]";

async function setup(t: TestContext) {
  const store = await openSqliteStore(':memory:');
  const dir = new EndpointDirectory(store, pino({ level: 'silent' }));
  t.after(async () => {
    dir.stop();
    await store.close();
  });
  await store.create(one('kind: Site\nmetadata: {name: edge-a}\nspec: {tier: edge}'));
  await store.create(one('kind: Site\nmetadata: {name: cloud}\nspec: {tier: cloud}'));
  for (const [name, site] of [['a-1', 'edge-a'], ['c-1', 'cloud']] as const) {
    await store.create(one(`kind: Node\nmetadata: {name: ${name}}\nspec: {site: ${site}}`));
    await store.updateStatus('Node', undefined, name, { phase: 'Ready', conditions: [], gateway: { host: '127.0.0.1', port: name === 'a-1' ? 7001 : 7002 } });
  }
  await dir.start();
  const got: Endpoints[] = [];
  dir.join('a-1', (m) => got.push(m as Endpoints));
  return { store, dir, got };
}

async function instance(store: Awaited<ReturnType<typeof openSqliteStore>>, name: string, node: string, status: { ready: boolean; ports: Record<string, number> }) {
  await store.create(one(`kind: Instance\nmetadata: {name: ${name}}\nspec:\n  service: web\n  node: ${node}\n${TEMPLATE}`));
  await store.updateStatus('Instance', 'default', name, { phase: 'Running', restarts: 0, conditions: [], ...status });
}

const last = (got: Endpoints[]): EndpointSet | undefined => got.at(-1)?.sets.find((s) => s.service === 'web');

test('an exposed Service is sent with its bound instances: node, site, tier, readiness, the exposed ports only, and the node\'s gateway', async (t) => {
  const { store, dir, got } = await setup(t);
  assert.deepEqual(got[0], { t: 'endpoints', full: true, sets: [], gone: [], nodes: ['a-1', 'c-1'] }, 'the whole (empty) directory at once, with the nodes');
  await store.create(one(`kind: Service\nmetadata: {name: web}\nspec:\n  replicas: 2\n  endpoint: {ports: [http]}\n${TEMPLATE}`));
  await instance(store, 'web-1', 'a-1', { ready: true, ports: { http: 8001, admin: 9001 } });
  await instance(store, 'web-2', 'c-1', { ready: false, ports: { http: 8002 } });
  const set = await waitFor(() => (last(got)?.backends.length === 2 ? last(got) : undefined), 5000, 'both instances sent');
  assert.deepEqual(set, {
    project: 'default',
    service: 'web',
    ports: ['http'],
    backends: [
      { instance: 'web-1', node: 'a-1', site: 'edge-a', tier: 'edge', ready: true, ports: { http: 8001 }, gateway: { host: '127.0.0.1', port: 7001 } },
      { instance: 'web-2', node: 'c-1', site: 'cloud', tier: 'cloud', ready: false, ports: { http: 8002 }, gateway: { host: '127.0.0.1', port: 7002 } },
    ],
  });
  assert.ok(got.slice(1).every((m) => !m.full), 'changes only after the first');

  // A node going NotReady makes its instances not ready; a status write that changes nothing sends nothing.
  const sent = got.length;
  await store.updateStatus('Instance', 'default', 'web-1', { phase: 'Running', restarts: 0, conditions: [], ready: true, ports: { http: 8001, admin: 9001 }, message: 'same endpoint' });
  // A marker written after it: once the marker's set is sent, the write before it has been looked at too (in order,
  // in the same flush or an earlier one), so whatever it sent is among the messages up to the marker's.
  await store.create(one(`kind: Service\nmetadata: {name: marker}\nspec:\n  endpoint: {}\n${TEMPLATE}`));
  await waitFor(() => got.slice(sent).some((m) => m.sets.some((x) => x.service === 'marker')), 5000, 'the marker sent');
  assert.ok(got.slice(sent).every((m) => !m.sets.some((x) => x.service === 'web')), 'the instance write that changed nothing in the set sent nothing');
  const beforeNode = got.length;
  await store.updateStatus('Node', undefined, 'a-1', { phase: 'NotReady', conditions: [], gateway: { host: '127.0.0.1', port: 7001 } });
  await waitFor(() => last(got)?.backends.find((b) => b.instance === 'web-1')?.ready === false, 5000, 'web-1 not ready with its node');
  assert.equal(got.length, beforeNode + 1);

  // A later member gets the whole directory; the endpoint removed, every member hears it is gone.
  const later: Endpoints[] = [];
  dir.join('c-1', (m) => later.push(m as Endpoints));
  assert.equal(later[0]!.full, true);
  assert.deepEqual(later[0]!.sets.map((x) => x.service).sort(), ['marker', 'web']);
  const svc = (await store.get('Service', 'default', 'web'))!;
  await store.update({ ...svc, spec: { ...(svc.spec as object), endpoint: undefined } } as Resource);
  await waitFor(() => got.at(-1)?.gone.length === 1 && later.at(-1)?.gone.length === 1, 5000, 'gone sent to both');
  assert.deepEqual(got.at(-1)!.gone, [{ project: 'default', service: 'web' }]);
});

test('a Service without an endpoint, or an instance with no port or no node yet, is not in the directory', async (t) => {
  const { store, got } = await setup(t);
  await store.create(one(`kind: Service\nmetadata: {name: plain}\nspec:\n${TEMPLATE}`));
  await store.create(one(`kind: Service\nmetadata: {name: web}\nspec:\n  endpoint: {}\n${TEMPLATE}`));
  await instance(store, 'web-1', 'a-1', { ready: true, ports: {} });
  await store.create(one(`kind: Instance\nmetadata: {name: web-2}\nspec:\n  service: web\n${TEMPLATE}`));
  await instance(store, 'web-3', 'a-1', { ready: true, ports: { admin: 9003 } });
  // Written last: once it is in, everything before it was looked at.
  const set = await waitFor(() => (last(got)?.backends.length ? last(got) : undefined), 5000, 'web sent with an instance');
  assert.deepEqual(set.ports, ['http', 'admin'], 'every template port');
  assert.deepEqual(set.backends.map((b) => [b.instance, b.ports]), [['web-3', { admin: 9003 }]]);
  assert.ok(!got.some((m) => m.sets.some((s) => s.service === 'plain')));
});

test('a directory bigger than one message goes in several, the first full', async (t) => {
  const { store, dir } = await setup(t);
  for (let i = 0; i < ENDPOINT_SETS_PER_MESSAGE + 3; i++) await store.create(one(`kind: Service\nmetadata: {name: s${i}}\nspec:\n  endpoint: {}\n${TEMPLATE}`));
  const later: Endpoints[] = [];
  await waitFor(() => {
    later.length = 0;
    dir.join('c-1', (m) => later.push(m as Endpoints));
    return later.reduce((n, m) => n + m.sets.length, 0) === ENDPOINT_SETS_PER_MESSAGE + 3 || undefined;
  }, 5000, 'every set sent');
  assert.deepEqual(later.map((m) => [m.full, m.sets.length]), [[true, ENDPOINT_SETS_PER_MESSAGE], [false, 3]]);
});

test('the nodes go with the directory: all of them after the hello, then those added and deleted', async (t) => {
  const { store, got } = await setup(t);
  await store.create(one('kind: Node\nmetadata: {name: b-1}\nspec: {site: edge-a}'));
  await waitFor(() => got.some((m) => m.nodesAdded?.includes('b-1')), 5000, 'b-1 added');
  await store.delete('Node', undefined, 'a-1');
  await waitFor(() => got.some((m) => m.nodesGone?.includes('a-1')), 5000, 'a-1 gone');
  assert.ok(!got.some((m) => m.nodesAdded?.includes('a-1') || m.nodesAdded?.includes('c-1')), 'a status write adds no node');
});
