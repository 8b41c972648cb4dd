import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { UPLINK_PATH, type CenterMessage, type Device, type DeviceCommand, type GedgeEvent, type Instance, type Rule } from '../../core/index.ts';
import { RawNode, startPlatform, testService, waitFor, type NodeIdentity, type Platform } from '../../testkit/index.ts';
import { tlsFetch } from '../../core/index.ts';

/**
 * A node speaks only for itself. node-a is a real agent at edge-a with an
 * instance, a device with a pending command, a rule and routes; node-b (at
 * edge-b) is a hostile agent speaking the protocol by hand with its own,
 * valid credential. Every agent message type it sends about node-a's objects
 * is dropped and changes nothing; the feed never gave it node-a's rules,
 * routes or their secrets.
 */
describe('the agent channel: a second node cannot speak for the first', () => {
  let p: Platform;
  let b: RawNode;
  let nodeB: NodeIdentity;
  let victim: Instance;
  const events = async () => (await p.center.api.list<GedgeEvent>('Event')).items.filter((e) => e.spec.source === 'agent/node-b');
  /** A legitimate report about node-b itself: once it is recorded, the center has handled what was sent before it. */
  let sentinels = 0;
  const settle = async () => {
    for (let i = 0; i < 2; i++) {
      const reason = `Sentinel${++sentinels}`;
      b.send({ t: 'events', events: [{ reason, message: 'ok', type: 'Normal', at: new Date().toISOString(), involved: { kind: 'Node', name: 'node-b' } }] });
      await waitFor(async () => (await events()).some((e) => e.spec.reason === reason), 10_000, `the ${reason} event`);
    }
  };

  before(async () => {
    p = await startPlatform({ heartbeatMs: 300, agents: [{ name: 'node-a', site: 'edge-a', mqtt: true }] });
    const api = p.center.api;
    await api.apply(
      [
        { apiVersion: 'gedge.io/v1', kind: 'Site', metadata: { name: 'edge-b' }, spec: { tier: 'edge' } },
        { apiVersion: 'gedge.io/v1', kind: 'Project', metadata: { name: 'p2' }, spec: {} },
        { apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: 'lamp' }, spec: { site: 'edge-a', grants: { publish: ['x/#'] } } },
        { apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: 'lamp2', project: 'p2' }, spec: { site: 'edge-a', grants: { publish: ['x/#'] } } },
        { apiVersion: 'gedge.io/v1', kind: 'DeviceCommand', metadata: { name: 'cmd-1' }, spec: { device: 'lamp', payload: { on: true }, ttl: '10m' } },
        { apiVersion: 'gedge.io/v1', kind: 'Rule', metadata: { name: 'rule-a' }, spec: { sql: 'SELECT * FROM "x/#"', target: { sites: ['edge-a'] }, actions: [{ webhook: { url: 'http://127.0.0.1:9/hook', headers: { authorization: 'Bearer rule-a-webhook-secret' } } }] } },
        { apiVersion: 'gedge.io/v1', kind: 'Route', metadata: { name: 'route-a' }, spec: { topic: 'x/#', sites: ['edge-a'], sink: { type: 'table' } } },
        { apiVersion: 'gedge.io/v1', kind: 'Route', metadata: { name: 'route-all', project: 'p2' }, spec: { topic: 'x/#', sink: { type: 'table' } } },
        testService('victim', { nodeSelector: { 'gedge.io/site': 'edge-a' } }),
      ]
        .map((d) => JSON.stringify(d))
        .join('\n---\n'),
    );
    victim = await waitFor(async () => (await p.instances('app=victim')).find((i) => i.status?.phase === 'Running'), 20_000, 'the victim running on node-a');
    await waitFor(async () => (await api.get<Rule>('Rule', 'rule-a')).status?.nodes['node-a']?.phase === 'Running', 20_000, 'rule-a running on node-a').catch(async (e) => { console.log(JSON.stringify(await api.get<Rule>('Rule', 'rule-a'))); console.log(p.agents.get('node-a')!.process.lines.slice(-30).map((l) => JSON.stringify(l)).join('\n')); throw e; });
    nodeB = await RawNode.join(p.center, 'node-b', 'edge-b');
    b = await RawNode.connect(p.center.url, nodeB);
    await b.hello();
  });
  after(async () => {
    b?.close();
    await p?.close();
  });

  test("the feed gives node-b nothing of edge-a: no instance, device, command, rule, route, or a secret in them", () => {
    const text = JSON.stringify(b.received);
    for (const name of ['victim', 'lamp', 'cmd-1', 'rule-a', 'route-a']) assert.ok(!text.includes(`"${name}"`) && !text.includes(`"${name}-`), `${name} reached node-b`);
    assert.ok(!text.includes('rule-a-webhook-secret'));
    const objects = b.received.flatMap((m: CenterMessage) => (m.t === 'snapshot' ? m.objects : m.t === 'change' ? [m.object] : []));
    assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort(), ['Node/node-b', 'Route/route-all', 'Site/edge-b']);
  });

  test('status, devices, commands and rules about edge-a are dropped', async () => {
    const before = { inst: await p.center.api.get<Instance>('Instance', victim.metadata.name), lamp: await p.center.api.get<Device>('Device', 'lamp') };
    b.send({ t: 'status', project: 'default', instance: victim.metadata.name, status: { phase: 'Failed', ready: false, restarts: 99, ports: {}, conditions: [] } });
    b.send({ t: 'devices', updates: [{ project: 'default', device: 'lamp', status: { connected: true, reported: { hacked: true }, reportedVersion: 1e9 } }] });
    b.send({ t: 'commands', updates: [{ project: 'default', command: 'cmd-1', status: { phase: 'Delivered', deliveredAt: new Date().toISOString() } }] });
    b.send({ t: 'rules', reports: [{ project: 'default', rule: 'rule-a', status: { phase: 'Failed', message: 'forged', reportedAt: new Date().toISOString(), in: 0, out: 0, filtered: 0, dropped: 0, late: 0, sinkErrors: 0, pending: 0, groups: 0, latencyMs: { count: 0, sum: 0, max: 0, p50: null, p99: null, buckets: [] } } }] });
    await settle();
    const inst = await p.center.api.get<Instance>('Instance', victim.metadata.name);
    assert.notEqual(inst.status?.restarts, 99);
    assert.equal(inst.status?.phase, 'Running');
    const lamp = await p.center.api.get<Device>('Device', 'lamp');
    assert.deepEqual(lamp.status?.reported ?? {}, before.lamp.status?.reported ?? {});
    assert.notEqual(lamp.status?.node, 'node-b');
    assert.equal((await p.center.api.get<DeviceCommand>('DeviceCommand', 'cmd-1')).status?.phase ?? 'Pending', 'Pending');
    assert.deepEqual(Object.keys((await p.center.api.get<Rule>('Rule', 'rule-a')).status?.nodes ?? {}), ['node-a']);
  });

  test("events about another node's instance or another project's service are dropped", async () => {
    const at = new Date().toISOString();
    b.send({
      t: 'events',
      events: [
        { reason: 'Forged', message: 'forged', type: 'Warning', at, involved: { kind: 'Service', name: 'anything', project: 'p2' } },
        { reason: 'Forged', message: 'forged', type: 'Warning', at, involved: { kind: 'Instance', name: victim.metadata.name, project: 'default' } },
        { reason: 'Forged', message: 'forged', type: 'Warning', at, involved: { kind: 'Node', name: 'node-a' } },
      ],
    });
    await settle();
    assert.deepEqual((await events()).filter((e) => e.spec.reason === 'Forged'), []);
  });

  test('usage of instances not bound to node-b is not recorded, invented ones included', async () => {
    const forged = [{ project: 'default', name: victim.metadata.name, cpu: 7.5, memoryMiB: 54321 }, ...Array.from({ length: 9_999 }, (_, i) => ({ project: 'default', name: `made-up-${i}`, cpu: 1, memoryMiB: 1 }))];
    b.send({ t: 'hb', usage: { cpu: 0.1, memoryMiB: 10, diskMiB: 0 }, instances: forged });
    await settle();
    const res = await p.center.api.raw('GET', `/api/v1/instances/${victim.metadata.name}/telemetry?project=default`);
    assert.equal(res.status, 200);
    // The values, not the text: a timestamp may well contain the digits 54321.
    const history = (await res.json()) as { series: Record<string, (number | null)[]> };
    const values = Object.values(history.series).flat();
    assert.ok(!values.includes(54321) && !values.includes(7.5), `node-b's figures are not in the victim's history: ${JSON.stringify(history.series)}`);
    const metrics = await (await p.center.api.raw('GET', '/metrics')).text();
    assert.match(metrics, /gedge_agent_refused_total\{type="hb"\} 10000/);
  });

  test("text cannot be injected into a log stream opened on node-a (stream ids are node-bound and unguessable)", async () => {
    const ac = new AbortController();
    const chunks: string[] = [];
    void (async () => {
      for await (const c of p.center.api.logs(victim.metadata.name, { follow: true, signal: ac.signal })) chunks.push(c);
    })();
    // Ids used to count up from 1: try every small one, and end them too.
    for (let id = 1; id <= 200; id++) b.send({ t: 'logs.data', stream: id, data: 'INJECTED\n' });
    for (let id = 1; id <= 200; id++) b.send({ t: 'logs.end', stream: id, error: 'INJECTED-END' });
    await settle();
    ac.abort();
    assert.ok(!chunks.join('').includes('INJECTED'));
  });

  test("uplink only into routes of node-b's site, and only for its site's devices", async () => {
    const post = (body: unknown) => tlsFetch(nodeB.tls)(new URL(UPLINK_PATH, p.center.url), { method: 'POST', headers: { authorization: `Bearer ${nodeB.credential}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const msg = (seq: number, device?: string) => ({ seq, topic: 'x/1', ...(device ? { device } : {}), payload: Buffer.from(`forged ${seq}`).toString('base64'), qos: 1, at: new Date().toISOString() });
    const toA = await post({ node: 'node-b', project: 'default', route: 'route-a', messages: [msg(1)] });
    assert.equal(toA.status, 404, "route-a runs at edge-a only");
    const asA = await post({ node: 'node-a', project: 'p2', route: 'route-all', messages: [msg(1)] });
    assert.equal(asA.status, 403, "node-b cannot post as node-a");
    const foreign = await post({ node: 'node-b', project: 'p2', route: 'route-all', messages: [msg(1, 'lamp2'), msg(2, 'invented-device')] });
    assert.equal(foreign.status, 200);
    assert.deepEqual(await foreign.json(), { ackedSeq: 2, refused: 2 });
    assert.deepEqual((await p.center.api.messages('p2', 'route-all')).items, [], 'nothing landed');
  });

  test("a probe address that would point peers at a metadata service is not handed to them", async () => {
    await p.center.api.apply(['edge-c', 'edge-d'].map((name) => JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Site', metadata: { name }, spec: { tier: 'edge' } })).join('\n---\n'));
    const hostile = await RawNode.connect(p.center.url, await RawNode.join(p.center, 'node-c', 'edge-c'));
    const observer = await RawNode.connect(p.center.url, await RawNode.join(p.center, 'node-d', 'edge-d'));
    try {
      await hostile.hello(0, { host: '169.254.169.254', port: 80 });
      await observer.hello(0, { host: '127.0.0.1', port: 9 });
      const peers = () => observer.received.filter((m) => m.t === 'peers').flatMap((m) => (m.t === 'peers' ? m.peers : []));
      await waitFor(() => peers().some((x) => x.node === 'node-a') || undefined, 20_000, "node-a among node-d's peers");
      assert.ok(!peers().some((x) => x.node === 'node-c' || x.host === '169.254.169.254'), JSON.stringify(peers()));
    } finally {
      hostile.close();
      observer.close();
    }
  });

  test("roaming: node-b cannot pull, forward to or hand over the session of a device that does not roam to its site", async () => {
    const cred = await p.center.api.issueDeviceCredential('default', 'lamp');
    const lamp = await waitFor(() => mqtt.connectAsync(`mqtt://127.0.0.1:${p.agents.get('node-a')!.mqttPort}`, { clientId: cred.clientId, username: cred.clientId, password: cred.password, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 600 }, reconnectPeriod: 0 }).catch(() => undefined), 20_000, 'lamp connected to node-a');
    const got: string[] = [];
    lamp.on('message', (topic) => got.push(topic));
    await lamp.subscribeAsync('devices/lamp/forged', { qos: 1 });
    let closed = false;
    lamp.on('close', () => void (closed = true));
    b.send({ t: 'roam.pull', id: 4242, project: 'default', device: 'lamp', clean: false });
    const answer = await waitFor(() => b.received.find((m): m is Extract<CenterMessage, { t: 'roam.pulled' }> => m.t === 'roam.pulled' && m.id === 4242), 10_000, 'the refusal of the pull');
    assert.equal(answer.session, null);
    assert.match(answer.error ?? '', /does not roam to the site of node "node-b"/);
    b.send({ t: 'roam.forward', project: 'default', device: 'lamp', hops: 0, messages: [{ topic: 'devices/lamp/forged', payload: Buffer.from('forged').toString('base64'), qos: 1 }] });
    b.send({ t: 'roam.session', id: 1, session: { subscriptions: [{ topic: '#', qos: 1 }], queued: [], dropped: 0 } });
    await settle();
    assert.equal(closed, false, "lamp's connection at node-a was not taken over");
    // (Its pending command cmd-1 is delivered to it as it connects, subscribed or not: that one is real.)
    assert.deepEqual(got.filter((t) => t !== 'devices/lamp/commands'), [], 'nothing forged reached lamp');
    await lamp.endAsync();
  });

  test('exec output for streams node-b did not open goes nowhere, and node-b still works for itself', async () => {
    for (let id = 1; id <= 50; id++) b.send({ t: 'exec.output', stream: id, fd: 1, data: Buffer.from('INJECTED').toString('base64') });
    await settle();
    assert.equal(b.closed, undefined, 'refusals drop messages, not the connection');
  });
});
