import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REDACTED, type CenterMessage, type Instance, type Resource } from '../../core/index.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import { NodeFeed } from './node-feed.ts';

const inst = (name: string, node: string, labels: Record<string, string> = {}): Resource =>
  ({ apiVersion: 'gedge.io/v1', kind: 'Instance', metadata: { name, project: 'default', labels }, spec: { node, template: { command: ['/bin/true'], env: {}, ports: [], resources: { cpu: 0, memoryMiB: 0, diskMiB: 0, accelerators: {} }, restartPolicy: 'Always', stopGracePeriod: '1s', runtime: 'process' }, placement: {}, templateHash: '' } }) as unknown as Resource;

test('catch-up sends only this node\'s spec changes after the agent\'s revision, never status echoes', async () => {
  const s = await openSqliteStore(':memory:');
  try {
    await s.apply([inst('a', 'n1'), inst('b', 'n2')]);
    const since = await s.currentRevision();
    await s.apply([inst('a', 'n1', { v: '2' }), inst('c', 'n1'), inst('d', 'n2')]);
    await s.updateStatus('Instance', 'default', 'a', { phase: 'Running', ready: true, restarts: 0, ports: {}, conditions: [] });
    await s.delete('Instance', 'default', 'c');
    const { mode, messages, upTo } = await (await NodeFeed.open(s, 'n1')).catchUp(s, since, false, []);
    assert.equal(mode, 'delta');
    assert.deepEqual(
      messages.map((m) => (m.t === 'change' ? `${m.op}:${m.object.metadata.name}` : m.t)),
      ['put:a', 'put:c', 'delete:c', 'synced'],
    );
    assert.equal(upTo, await s.currentRevision());
  } finally {
    await s.close();
  }
});

test('an agent behind the compaction point, or ahead of the store, gets a full snapshot of its instances', async () => {
  const s = await openSqliteStore(':memory:');
  try {
    await s.apply([inst('a', 'n1'), inst('b', 'n2')]);
    const old = await s.currentRevision();
    await s.apply([inst('c', 'n1')]);
    await s.compact(await s.currentRevision());
    for (const since of [old - 1, (await s.currentRevision()) + 100]) {
      const { mode, messages } = await (await NodeFeed.open(s, 'n1')).catchUp(s, since, false, []);
      assert.equal(mode, 'snapshot');
      const snap = messages[0]!;
      assert.equal(snap.t, 'snapshot');
      assert.deepEqual((snap as { objects: Instance[] }).objects.map((i) => i.metadata.name).sort(), ['a', 'c']);
      assert.equal(messages.at(-1)!.t, 'synced');
    }
  } finally {
    await s.close();
  }
});

const node = (name: string, site: string): Resource => ({ apiVersion: 'gedge.io/v1', kind: 'Node', metadata: { name, labels: {} }, spec: { site, capacity: { cpu: 1, memoryMiB: 1, diskMiB: 0, accelerators: {} }, unschedulable: false, taints: [] } }) as Resource;
const device = (name: string, site: string): Resource => ({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name, project: 'default', labels: {} }, spec: { site, description: '', grants: { publish: [], subscribe: [] }, twin: { desired: {} } } }) as Resource;
const cred = (id: string, dev: string): Resource => ({ apiVersion: 'gedge.io/v1', kind: 'DeviceCredential', metadata: { name: id, project: 'default', labels: {} }, spec: { device: dev, hash: 'a'.repeat(64), description: '' } }) as Resource;
const site = (name: string): Resource => ({ apiVersion: 'gedge.io/v1', kind: 'Site', metadata: { name, labels: {} }, spec: { tier: 'edge', description: '' } }) as Resource;
const rule = (name: string): Resource => ({ apiVersion: 'gedge.io/v1', kind: 'Rule', metadata: { name, project: 'default', labels: {} }, spec: { sql: 'SELECT a FROM "x"', target: {}, actions: [{ log: { level: 'info' } }], tables: {}, retry: { initialBackoff: '100ms', maxBackoff: '30s', maxQueue: 10000 }, paused: false } }) as Resource;
const route = (name: string): Resource => ({ apiVersion: 'gedge.io/v1', kind: 'Route', metadata: { name, project: 'default', labels: {} }, spec: { topic: 'x/#', sink: { type: 'table' } } }) as Resource;

test("a node gets its site's devices with their credentials, every route and rule, its own Node and Site, not other sites' devices, and no status echo", async () => {
  const s = await openSqliteStore(':memory:');
  try {
    await s.apply([site('edge-a'), site('edge-b'), node('n1', 'edge-a'), node('n2', 'edge-b'), device('near', 'edge-a'), device('far', 'edge-b')]);
    const since = await s.currentRevision();
    await s.apply([cred('0000000000000001', 'near'), cred('0000000000000002', 'far'), route('up'), device('late', 'edge-a'), cred('0000000000000003', 'late'), rule('r')]);
    await s.updateStatus('Device', 'default', 'near', { connected: true, reported: {}, reportedVersion: 1, desiredAckVersion: 0, denied: 0 });
    await s.updateStatus('Node', undefined, 'n1', { phase: 'Ready', conditions: [] });
    await s.updateStatus('Rule', 'default', 'r', { nodes: {} });
    await s.delete('Device', 'default', 'far');
    const feed = await NodeFeed.open(s, 'n1');
    const { messages } = await feed.catchUp(s, since, false, []);
    assert.deepEqual(
      messages.map((m) => (m.t === 'change' ? `${m.op}:${m.object.kind}/${m.object.metadata.name}` : m.t)),
      ['put:DeviceCredential/0000000000000001', 'put:Route/up', 'put:Device/late', 'put:DeviceCredential/0000000000000003', 'put:Rule/r', 'synced'],
    );
    const snap = (await feed.catchUp(s, (await s.currentRevision()) + 100)).messages[0] as { objects: Resource[] };
    assert.deepEqual(snap.objects.map((o) => `${o.kind}/${o.metadata.name}`).sort(), ['Device/late', 'Device/near', 'DeviceCredential/0000000000000001', 'DeviceCredential/0000000000000003', 'Node/n1', 'Route/up', 'Rule/r', 'Site/edge-a']);
    for (const name of ['near', 'n1', 'r']) assert.equal((snap.objects.find((o) => o.metadata.name === name) as { status?: unknown }).status, undefined, `${name}'s status stays in the center`);
  } finally {
    await s.close();
  }
});

test("a route's mqtt sink password never reaches an agent, in a delta or a snapshot", async () => {
  const s = await openSqliteStore(':memory:');
  try {
    const bridge = { ...route('bridge'), spec: { topic: 'x/#', sink: { type: 'mqtt', url: 'mqtt://127.0.0.1:1', topic: '{topic}', qos: 1, username: 'u', password: 's3cret' } } } as Resource;
    await s.apply([site('edge-a'), node('n1', 'edge-a')]);
    const since = await s.currentRevision();
    await s.apply([bridge]);
    const feed = await NodeFeed.open(s, 'n1');
    const delta = (await feed.catchUp(s, since, false, [])).messages;
    const snap = (await feed.catchUp(s, (await s.currentRevision()) + 100)).messages;
    for (const text of [JSON.stringify(delta), JSON.stringify(snap)]) {
      assert.ok(text.includes('"kind":"Route"'), 'the route itself goes');
      assert.ok(!text.includes('s3cret') && text.includes(`"password":"${REDACTED}"`), text);
    }
  } finally {
    await s.close();
  }
});

const targeted = (name: string, target: Record<string, unknown>): Resource => {
  const r = rule(name) as Resource & { spec: Record<string, unknown> };
  return { ...r, spec: { ...r.spec, target, actions: [{ webhook: { url: 'http://127.0.0.1:9/hook', method: 'POST', headers: { authorization: `Bearer secret-of-${name}` }, timeout: '1s' } }] } } as unknown as Resource;
};
const sitedRoute = (name: string, sites: string[]): Resource => ({ ...route(name), spec: { topic: 'x/#', sites, sink: { type: 'table' } } }) as Resource;

test('rules and routes (and the secrets in them) reach only the nodes they run on; retargeting away or deleting sends a forget without content', async () => {
  const s = await openSqliteStore(':memory:');
  try {
    await s.apply([site('edge-a'), site('edge-b'), node('n1', 'edge-a'), node('n2', 'edge-b'), targeted('r-b', { sites: ['edge-b'] }), sitedRoute('up-b', ['edge-b']), targeted('r-all', {})]);
    const snapshotOf = async (n: string) => {
      const snap = (await (await NodeFeed.open(s, n)).catchUp(s, 0, true)).messages[0] as { objects: Resource[] };
      return snap.objects.filter((o) => o.kind === 'Rule' || o.kind === 'Route').map((o) => `${o.kind}/${o.metadata.name}`).sort();
    };
    assert.deepEqual(await snapshotOf('n1'), ['Rule/r-all']);
    assert.deepEqual(await snapshotOf('n2'), ['Route/up-b', 'Rule/r-all', 'Rule/r-b']);

    const f1 = await NodeFeed.open(s, 'n1');
    const f2 = await NodeFeed.open(s, 'n2');
    const seen: Record<string, string[]> = { n1: [], n2: [] };
    const stop = s.subscribe((c) => {
      for (const [n, f] of [['n1', f1], ['n2', f2]] as const) {
        const st = f.step(c);
        if (st && 'message' in st) seen[n]!.push(JSON.stringify(st.message));
      }
    });
    await s.apply([targeted('r-b', { sites: ['edge-a'] })]);
    await s.delete('Rule', 'default', 'r-all');
    await s.apply([targeted('r-c', { sites: ['edge-b'] })]);
    stop();
    const short = (m: string) => {
      const o = JSON.parse(m) as { t: string; op?: string; object?: Resource; kind?: string; name?: string };
      return o.t === 'forget' ? `forget:${o.kind}/${o.name}` : `${o.op}:${o.object!.kind}/${o.object!.metadata.name}`;
    };
    assert.deepEqual(seen.n1!.map(short), ['put:Rule/r-b', 'forget:Rule/r-all']);
    assert.deepEqual(seen.n2!.map(short), ['forget:Rule/r-b', 'forget:Rule/r-all', 'put:Rule/r-c']);
    assert.ok(!seen.n1!.join().includes('secret-of-r-c'), "another node's rule's webhook secret never reaches n1");
    assert.ok(seen.n2!.filter((m) => m.includes('forget')).every((m) => !m.includes('secret')), 'a forget carries no content');
    assert.equal(f1.runsRule('default', 'r-b'), true);
    assert.equal(f2.runsRule('default', 'r-b'), false);
  } finally {
    await s.close();
  }
});

test('a reconnecting node is told to forget only the rules and routes it holds: no names of other projects\' objects reach it', async () => {
  const s = await openSqliteStore(':memory:');
  try {
    await s.apply([site('edge-a'), site('edge-b'), node('n1', 'edge-a'), targeted('mine', {}), targeted('theirs', { sites: ['edge-b'] }), sitedRoute('their-route', ['edge-b'])]);
    const since = await s.currentRevision();
    // While n1 is away: its rule is retargeted away from it; rules and routes elsewhere change and go.
    await s.apply([targeted('mine', { sites: ['edge-b'] }), targeted('theirs', { sites: ['edge-b'], tiers: ['edge'] })]);
    await s.delete('Route', 'default', 'their-route');
    const names = (messages: CenterMessage[]) => messages.filter((m) => m.t === 'forget' || m.t === 'change').map((m) => (m.t === 'forget' ? `forget:${m.kind}/${m.name}` : `${m.op}:${m.object.kind}/${m.object.metadata.name}`));
    const holding = await (await NodeFeed.open(s, 'n1')).catchUp(s, since, false, [{ kind: 'Rule', project: 'default', name: 'mine' }]);
    assert.equal(holding.mode, 'delta');
    assert.deepEqual(names(holding.messages), ['forget:Rule/mine']);
    const holdingNothing = await (await NodeFeed.open(s, 'n1')).catchUp(s, since, false, []);
    assert.deepEqual(names(holdingNothing.messages), []);
    for (const r of [holding, holdingNothing]) assert.ok(!/theirs|their-route/.test(JSON.stringify(r.messages)), JSON.stringify(r.messages));
    // An agent that does not say what it holds gets a snapshot: what it keeps is exactly what concerns it.
    assert.equal((await (await NodeFeed.open(s, 'n1')).catchUp(s, since)).mode, 'snapshot');
  } finally {
    await s.close();
  }
});

test("a change of the node's own labels that moves its rule targets asks for a snapshot, live and in a catch-up", async () => {
  const s = await openSqliteStore(':memory:');
  try {
    await s.apply([site('edge-a'), node('n1', 'edge-a'), targeted('north', { nodeSelector: { zone: 'north' } })]);
    const since = await s.currentRevision();
    const feed = await NodeFeed.open(s, 'n1');
    assert.equal(feed.runsRule('default', 'north'), false);
    const steps: unknown[] = [];
    const stop = s.subscribe((c) => steps.push(feed.step(c)));
    const n1 = (await s.get('Node', undefined, 'n1'))!;
    await s.update({ ...n1, metadata: { ...n1.metadata, labels: { zone: 'north' } } } as Resource);
    stop();
    assert.deepEqual(steps, [{ resync: true }]);
    const { mode, messages } = await (await NodeFeed.open(s, 'n1')).catchUp(s, since, false, []);
    assert.equal(mode, 'snapshot', 'the labels it was matched with when it left are not known');
    assert.ok(JSON.stringify(messages).includes('"name":"north"'));
  } finally {
    await s.close();
  }
});

test('a roaming device and its credentials go to the nodes of every site it roams to; a site joining or leaving its list asks those nodes for a snapshot', async () => {
  const s = await openSqliteStore(':memory:');
  try {
    const roaming = (sites: string[]): Resource => ({ ...device('car', 'edge-a'), spec: { ...device('car', 'edge-a').spec, roaming: { sites } } }) as Resource;
    await s.apply([site('edge-a'), site('edge-b'), site('edge-c'), node('n1', 'edge-a'), node('n2', 'edge-b'), node('n3', 'edge-c'), roaming(['edge-b']), cred('0000000000000001', 'car')]);
    const feeds = await Promise.all(['n1', 'n2', 'n3'].map((n) => NodeFeed.open(s, n)));
    const held = async (i: number) => ((await feeds[i]!.catchUp(s, (await s.currentRevision()) + 100)).messages[0] as { objects: Resource[] }).objects.filter((o) => o.kind.startsWith('Device')).map((o) => `${o.kind}/${o.metadata.name}`).sort();
    assert.deepEqual(await held(0), ['Device/car', 'DeviceCredential/0000000000000001']);
    assert.deepEqual(await held(1), ['Device/car', 'DeviceCredential/0000000000000001']);
    assert.deepEqual(await held(2), []);
    assert.equal(feeds[1]!.hasDevice('default', 'car'), true);
    assert.equal(feeds[2]!.hasDevice('default', 'car'), false);

    // edge-c joins the list and edge-b leaves it: both their nodes resync; edge-a's node just gets the change.
    const steps: unknown[][] = [[], [], []];
    const stop = s.subscribe((c) => feeds.forEach((f, i) => steps[i]!.push(f.step(c))));
    await s.update({ ...(await s.get('Device', 'default', 'car'))!, spec: roaming(['edge-c']).spec } as Resource);
    stop();
    assert.equal((steps[0]![0] as { message: { t: string } }).message.t, 'change');
    assert.deepEqual(steps[1], [{ resync: true }]);
    assert.deepEqual(steps[2], [{ resync: true }]);
    assert.equal(feeds[1]!.hasDevice('default', 'car'), false);
    assert.equal(feeds[2]!.hasDevice('default', 'car'), true);
    assert.deepEqual(await held(1), []);
    assert.deepEqual(await held(2), ['Device/car', 'DeviceCredential/0000000000000001']);
  } finally {
    await s.close();
  }
});
