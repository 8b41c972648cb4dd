import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import type { Device, DeviceCommand } from '../../core/index.ts';
import { spawnGedge, startPlatform, waitFor, type Platform } from '../../testkit/index.ts';

const deviceManifest = (name: string, desired: Record<string, unknown>) =>
  JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name }, spec: { site: 'edge-a', grants: { publish: ['city/#'] }, twin: { desired } } });

/** MQTT.js, no retries: resolves at CONNACK, rejects on a refusal. */
const connect = (port: number, clientId: string, password: string | undefined) =>
  mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId, username: clientId, password, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 5 }, false);

/** An MQTT.js device on the edge broker; every message it receives, by topic. */
async function connectDevice(port: number, clientId: string, password: string): Promise<{ client: MqttClient; got: Map<string, string[]> }> {
  const client = await connect(port, clientId, password);
  const got = new Map<string, string[]>();
  client.on('message', (topic, payload) => got.set(topic, [...(got.get(topic) ?? []), payload.toString()]));
  return { client, got };
}

const device = async (p: Platform, name: string) => (await p.center.api.get<Device>('Device', name)) as Device;

test('devices at the edge with real MQTT clients: twins both ways across offline periods, commands, ACL, and sign-in while the center is down', async () => {
  const p = await startPlatform({ heartbeatMs: 300, agents: [{ name: 'edge-a-1', site: 'edge-a', mqtt: true, viaLink: true }] });
  try {
    const api = p.center.api;
    const port = p.agents.get('edge-a-1')!.mqttPort!;
    await api.apply(deviceManifest('light-1', { color: 'green' }));
    const cred = await api.issueDeviceCredential('default', 'light-1');
    const twin = 'devices/light-1/twin/desired';

    // Wrong secrets and anonymous devices are refused.
    await waitFor(async () => connect(port, 'light-1', cred.password).then((c) => c.endAsync().then(() => true), () => false), 15_000, 'the credential synced to the edge');
    await assert.rejects(connect(port, 'light-1', cred.password.replace(/.$/, cred.password.endsWith('x') ? 'y' : 'x')));
    await assert.rejects(connect(port, 'light-1', undefined));

    // The desired twin reaches the device (retained); its report and ack flow back to the center.
    const dev = await connectDevice(port, cred.clientId, cred.password);
    await dev.client.subscribeAsync('devices/light-1/#', { qos: 1 });
    await waitFor(() => dev.got.get(twin)?.length, 10_000, 'desired twin');
    assert.deepEqual(JSON.parse(dev.got.get(twin)![0]!), { version: 1, desired: { color: 'green' } });
    await dev.client.publishAsync('devices/light-1/twin/reported', JSON.stringify({ color: 'green', firmware: '1.2' }), { qos: 1 });
    await dev.client.publishAsync('devices/light-1/twin/ack', JSON.stringify({ version: 1 }), { qos: 1 });
    const seen = await waitFor(async () => {
      const d = await device(p, 'light-1');
      return d.status?.connected && d.status.reported.firmware === '1.2' && d.status.desiredAckVersion === 1 ? d : undefined;
    }, 10_000, 'reported twin in the center');
    assert.equal(seen.status!.node, 'edge-a-1');

    // As the IoT clouds' twins: each request is answered; get returns the whole twin; a new desired version comes with its delta.
    const last = (topic: string) => JSON.parse(dev.got.get(topic)!.at(-1)!) as Record<string, unknown>;
    await waitFor(() => dev.got.get('devices/light-1/twin/reported/accepted') && dev.got.get('devices/light-1/twin/ack/accepted'), 10_000, 'the report and the ack accepted');
    assert.deepEqual(last('devices/light-1/twin/ack/accepted'), { desiredAckVersion: 1 });
    await dev.client.publishAsync('devices/light-1/twin/get', '', { qos: 1 });
    await waitFor(() => dev.got.get('devices/light-1/twin/get/accepted'), 10_000, 'the twin document');
    const doc = last('devices/light-1/twin/get/accepted');
    assert.deepEqual({ ...doc, reportedVersion: typeof doc.reportedVersion }, { version: 1, desired: { color: 'green' }, reported: { color: 'green', firmware: '1.2' }, reportedVersion: 'number', desiredAckVersion: 1, delta: {} });
    await dev.client.publishAsync('devices/light-1/twin/reported', 'not json', { qos: 1 });
    await dev.client.publishAsync('devices/light-1/twin/ack', '{"version": -1}', { qos: 1 });
    await waitFor(() => dev.got.get('devices/light-1/twin/reported/rejected') && dev.got.get('devices/light-1/twin/ack/rejected'), 10_000, 'the bad report and ack rejected');
    assert.equal(last('devices/light-1/twin/reported/rejected').code, 400);
    assert.match(String(last('devices/light-1/twin/ack/rejected').message), /an ack is \{"version": V\}/);
    await api.apply(deviceManifest('light-1', { color: 'blue', firmware: '1.2' }));
    await waitFor(() => dev.got.get('devices/light-1/twin/delta'), 10_000, 'the delta of the new desired version');
    assert.deepEqual(last('devices/light-1/twin/delta'), { version: 2, delta: { color: 'blue' } });
    // Only the edge writes the desired document: the device's forgery is refused, and the retained twin stays the edge's.
    await dev.client.publishAsync(twin, JSON.stringify({ version: 99, desired: { color: 'black' } }), { qos: 1, retain: true }).catch(() => undefined);
    await waitFor(async () => ((await device(p, 'light-1')).status?.denied ?? 0) >= 1, 10_000, 'the forged desired twin refused and counted');
    assert.ok(dev.got.get(twin)!.every((m) => JSON.parse(m).version !== 99));

    // ACL: outside its namespace and grants a publish is refused and counted; a granted topic works.
    await dev.client.publishAsync('devices/other/x', 'nope', { qos: 1 }).catch(() => undefined);
    await dev.client.publishAsync('city/traffic', 'ok', { qos: 1 });
    await waitFor(async () => ((await device(p, 'light-1')).status?.denied ?? 0) >= 2, 10_000, 'the refusal counted');

    // A command is delivered through the edge and acknowledged.
    await api.create({ apiVersion: 'gedge.io/v1', kind: 'DeviceCommand', metadata: { name: 'red-now', project: 'default', labels: {} }, spec: { device: 'light-1', topic: 'commands', payload: { color: 'red' }, ttl: '1m' } } as DeviceCommand);
    await waitFor(() => dev.got.get('devices/light-1/commands')?.length, 10_000, 'the command at the device');
    assert.deepEqual(JSON.parse(dev.got.get('devices/light-1/commands')![0]!), { color: 'red' });
    await waitFor(async () => ((await api.get<DeviceCommand>('DeviceCommand', 'red-now')) as DeviceCommand).status?.phase === 'Delivered', 10_000, 'Delivered');

    // The device goes offline; the desired twin changes; it gets the latest when it comes back.
    await dev.client.endAsync();
    await api.apply(deviceManifest('light-1', { color: 'yellow' }));
    await waitFor(async () => (await device(p, 'light-1')).status?.connected === false, 10_000, 'disconnected in the center');
    const back = await connectDevice(port, cred.clientId, cred.password);
    await back.client.subscribeAsync(twin, { qos: 1 });
    await waitFor(() => back.got.get(twin)?.some((m) => JSON.parse(m).desired.color === 'yellow'), 10_000, 'the new desired twin after the device was offline');
    await back.client.endAsync();

    // The edge is cut from the center: devices still sign in there and report; it catches up when the link heals.
    p.links.get('edge-a-1')!.cut('blackhole');
    const offline = await connectDevice(port, cred.clientId, cred.password);
    await offline.client.publishAsync('devices/light-1/twin/reported', JSON.stringify({ color: 'yellow' }), { qos: 1 });
    await offline.client.endAsync();
    p.links.get('edge-a-1')!.restore();
    await waitFor(async () => (await device(p, 'light-1')).status?.reported.color === 'yellow', 20_000, 'the offline report reached the center');

    // The edge agent restarts while the desired twin changes: the device gets it from the restarted edge.
    await p.agents.get('edge-a-1')!.process.stop();
    await api.apply(deviceManifest('light-1', { color: 'blue' }));
    await p.startAgent('edge-a-1');
    const afterRestart = await waitFor(async () => connectDevice(port, cred.clientId, cred.password).catch(() => undefined), 15_000, 'the restarted edge broker');
    await afterRestart.client.subscribeAsync(twin, { qos: 1 });
    await waitFor(() => afterRestart.got.get(twin)?.some((m) => JSON.parse(m).desired.color === 'blue'), 15_000, 'the desired twin from the restarted edge');

    // `gedge get devices` shows the state; revoking the credential disconnects the device.
    await waitFor(async () => (await device(p, 'light-1')).status?.connected, 10_000, 'connected again in the center');
    const cli = spawnGedge('cli', ['get', 'devices'], { GEDGE_SERVER: p.center.url, GEDGE_TOKEN: p.center.adminToken, GEDGE_CA_FILE: p.center.caFile, GEDGE_CONFIG: '/nonexistent/gedge-config' });
    assert.equal(await cli.exited, 0);
    const table = cli.lines.map((l) => l.msg ?? '').join('\n');
    assert.match(table, /NAME\s+SITE\s+CONNECTED\s+NODE\s+LAST SEEN\s+DESIRED\s+ACKED/);
    assert.match(table, /light-1\s+edge-a\s+yes\s+edge-a-1\s+\S+\s+v4\s+v1/);
    const closed = new Promise<void>((resolve) => afterRestart.client.once('close', () => resolve()));
    await api.delete('DeviceCredential', cred.credential.metadata.name);
    await closed;
    await assert.rejects(connect(port, 'light-1', cred.password));
  } finally {
    await p.close();
  }
});
