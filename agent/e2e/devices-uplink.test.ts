import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { startPlatform, waitFor } from '../../testkit/index.ts';
import { tableRows } from '../uplink/test-helpers.ts';

const DEVICES = 20;
const PER_DEVICE = 60;

test('device data goes up through the edge: every QoS 1 message lands once in the cloud table, in order per device, across a partition and an agent restart', async () => {
  const p = await startPlatform({ heartbeatMs: 300, agents: [{ name: 'edge-a-1', site: 'edge-a', mqtt: true, viaLink: true }] });
  const clients: MqttClient[] = [];
  try {
    const api = p.center.api;
    const port = p.agents.get('edge-a-1')!.mqttPort!;
    const names = Array.from({ length: DEVICES }, (_, i) => `loop-${i}`);
    await api.apply(
      [
        ...names.map((n) => JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: n }, spec: { site: 'edge-a', grants: { publish: ['traffic/#'] } } })),
        JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Route', metadata: { name: 'loops' }, spec: { topic: 'traffic/+/loop', sink: { type: 'table' } } }),
      ].join('\n---\n'),
    );
    const secrets = await Promise.all(names.map((n) => api.issueDeviceCredential('default', n)));
    const connect = (i: number) =>
      mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: names[i]!, username: names[i]!, password: secrets[i]!.password, clean: false, reconnectPeriod: 200, connectTimeout: 5000 }, false);
    for (let i = 0; i < DEVICES; i++) clients.push(await waitFor(() => connect(i).catch(() => undefined), 15_000, `${names[i]} signed in`));

    // Each device publishes its sequence; a third of the way the edge is cut from the
    // center, two thirds of the way the agent restarts; devices reconnect on their own.
    const publishRange = async (from: number, to: number) =>
      Promise.all(clients.map(async (c, i) => {
        for (let k = from; k < to; k++) await c.publishAsync(`traffic/${names[i]}/loop`, JSON.stringify({ k }), { qos: 1 });
      }));
    await publishRange(0, PER_DEVICE / 3);
    p.links.get('edge-a-1')!.cut('blackhole');
    await publishRange(PER_DEVICE / 3, (2 * PER_DEVICE) / 3);
    await p.agents.get('edge-a-1')!.process.stop();
    p.links.get('edge-a-1')!.restore();
    await p.startAgent('edge-a-1');
    await waitFor(() => clients.every((c) => c.connected), 20_000, 'devices reconnected to the restarted edge');
    await publishRange((2 * PER_DEVICE) / 3, PER_DEVICE);

    const rows = await waitFor(async () => {
      const items = await tableRows(api, 'loops');
      return items.length >= DEVICES * PER_DEVICE ? items : undefined;
    }, 60_000, 'every message in the cloud table');
    assert.equal(rows.length, DEVICES * PER_DEVICE, 'no duplicates');
    for (const n of names) {
      const ks = rows.filter((r) => r.device === n).map((r) => (JSON.parse(r.encoding === 'base64' ? Buffer.from(r.payload, 'base64').toString() : r.payload) as { k: number }).k);
      assert.deepEqual(ks, Array.from({ length: PER_DEVICE }, (_, k) => k), `${n}: all, once, in order`);
    }
  } finally {
    for (const c of clients) c.end(true);
    await p.close();
  }
});
