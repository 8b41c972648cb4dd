import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type MqttClient } from 'mqtt';
import type { Node, Route } from '../../core/index.ts';
import { startPlatform, waitFor, type Platform } from '../../testkit/index.ts';
import { tableRows, type TableRow } from '../uplink/test-helpers.ts';

/** Devices d-0 … d-(n-1) of the default project at `site`, each with a credential, and a table Route over `traffic/+/loop`. */
async function devicesAt(p: Platform, site: string, n: number, prefix = 'd'): Promise<{ names: string[]; secrets: string[] }> {
  const api = p.center.api;
  const names = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  await api.apply(names.map((name) => JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name }, spec: { site, grants: { publish: ['traffic/#'] } } })).join('\n---\n'));
  const secrets = await inParallel(names, 16, async (name) => (await api.issueDeviceCredential('default', name)).password);
  return { names, secrets };
}

async function route(p: Platform, name: string): Promise<void> {
  await p.center.api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Route', metadata: { name }, spec: { topic: 'traffic/+/loop', sink: { type: 'table' } } }));
}

/** Connects each device as soon as its edge knows it (credentials reach the edge by sync). */
async function connectAll(port: number, names: string[], secrets: string[]): Promise<MqttClient[]> {
  const connect = (i: number) =>
    mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: names[i]!, username: names[i]!, password: secrets[i]!, clean: false, reconnectPeriod: 500, connectTimeout: 10_000, keepalive: 60 }, false);
  return inParallel(names, 50, (_, i) => waitFor(() => connect(i).catch(() => undefined), 30_000, `${names[i]} signed in`));
}

async function inParallel<T, R>(items: T[], width: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  }));
  return out;
}

const ks = (rows: TableRow[], device: string) => rows.filter((r) => r.device === device).map((r) => (JSON.parse(r.encoding === 'base64' ? Buffer.from(r.payload, 'base64').toString() : r.payload) as { k: number }).k);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

async function delivered(p: Platform, name: string, count: number, timeoutMs: number): Promise<TableRow[]> {
  await waitFor(async () => ((await p.center.api.get<Route>('Route', name)).status?.delivered ?? 0) >= count, timeoutMs, `${count} messages in route ${name}'s table`);
  return tableRows(p.center.api, name);
}

async function uplinkOf(p: Platform, node: string, pred: (u: NonNullable<NonNullable<Node['status']>['uplink']>) => boolean) {
  return waitFor(async () => {
    const u = (await p.center.api.get<Node>('Node', node)).status?.uplink;
    return u && pred(u) ? u : undefined;
  }, 20_000, `${node}'s uplink status`);
}

const DEVICES = 1000;
const PER_DEVICE = 100;
const PACE_MS = 300;

test('1,000 devices publish 100,000 QoS 1 messages while the edge is cut from the center for 30 s and its agent is SIGKILLed and restarted: each lands once in the cloud table, in order per device', async (t) => {
  const p = await startPlatform({ heartbeatMs: 500, agents: [{ name: 'edge-a-1', site: 'edge-a', mqtt: true, viaLink: true }] });
  const clients: MqttClient[] = [];
  try {
    const { names, secrets } = await devicesAt(p, 'edge-a', DEVICES);
    await route(p, 'loops');
    clients.push(...(await connectAll(p.agents.get('edge-a-1')!.mqttPort!, names, secrets)));

    // Every device publishes its sequence, one message each PACE_MS after the previous PUBACK,
    // starting at a random point of the first period. Devices reconnect on their own and
    // MQTT.js resends what was not acknowledged (without DUP).
    const loops = Promise.all(clients.map(async (c, i) => {
      await sleep(Math.random() * PACE_MS);
      for (let k = 0; k < PER_DEVICE; k++) {
        await c.publishAsync(`traffic/${names[i]}/loop`, JSON.stringify({ k }), { qos: 1 });
        await sleep(PACE_MS);
      }
    }));
    const link = p.links.get('edge-a-1')!;
    await sleep(5_000);
    link.cut('blackhole');
    const cutAt = Date.now();
    await sleep(10_000);
    await p.agents.get('edge-a-1')!.process.kill9();
    await p.startAgent('edge-a-1');
    await sleep(cutAt + 30_000 - Date.now());
    link.restore();
    await loops;

    const rows = await delivered(p, 'loops', DEVICES * PER_DEVICE, 120_000);
    assert.equal(rows.length, DEVICES * PER_DEVICE, 'no duplicates');
    const missing = names.filter((n) => ks(rows, n).join() !== range(0, PER_DEVICE).join());
    assert.deepEqual(missing, [], 'every device: all of its messages, once, in order');
    const u = await uplinkOf(p, 'edge-a-1', (s) => s.depthMessages === 0);
    assert.equal(u.droppedOverflow + u.droppedExpired + u.droppedRouteGone, 0);
    t.diagnostic(`after the restart: ${u.enqueued} queued, ${u.resends} resends recognised`);
  } finally {
    for (const c of clients) c.end(true);
    await p.close();
  }
});

test('overflow while the edge is cut: drop-newest keeps the first, drop-oldest the last, block holds the publisher; exact counters in Node status', async () => {
  const bound = ['--uplink-max-messages', '50'];
  const p = await startPlatform({
    heartbeatMs: 300,
    agents: [
      { name: 'edge-new', site: 'edge-new', mqtt: true, viaLink: true, args: [...bound, '--uplink-overflow', 'drop-newest'] },
      { name: 'edge-old', site: 'edge-old', mqtt: true, viaLink: true, args: [...bound, '--uplink-overflow', 'drop-oldest'] },
      { name: 'edge-block', site: 'edge-block', mqtt: true, viaLink: true, args: [...bound, '--uplink-overflow', 'block'] },
    ],
  });
  const clients: MqttClient[] = [];
  try {
    await route(p, 'loops');
    const dev: Record<string, { name: string; client: MqttClient }> = {};
    for (const edge of ['edge-new', 'edge-old', 'edge-block']) {
      const { names, secrets } = await devicesAt(p, edge, 1, edge);
      const [client] = await connectAll(p.agents.get(edge)!.mqttPort!, names, secrets);
      clients.push(client!);
      dev[edge] = { name: names[0]!, client: client! };
      p.links.get(edge)!.cut('blackhole');
    }
    const send = (edge: string, from: number, to: number) =>
      (async () => {
        for (let k = from; k < to; k++) await dev[edge]!.client.publishAsync(`traffic/${dev[edge]!.name}/loop`, JSON.stringify({ k }), { qos: 1 });
      })();
    await send('edge-new', 0, 80);
    await send('edge-old', 0, 80);
    // Under block the 51st PUBACK waits for room, which only the center's acks make.
    let acked = 0;
    const blocked = (async () => {
      for (let k = 0; k < 60; k++) {
        await dev['edge-block']!.client.publishAsync(`traffic/${dev['edge-block']!.name}/loop`, JSON.stringify({ k }), { qos: 1 });
        acked++;
      }
    })();
    await waitFor(() => acked === 50 || undefined, 10_000, '50 acknowledged under block');
    await sleep(1_000);
    assert.equal(acked, 50, 'the publisher is held while the queue is full');

    for (const edge of ['edge-new', 'edge-old', 'edge-block']) p.links.get(edge)!.restore();
    await blocked;
    const rows = await delivered(p, 'loops', 50 + 50 + 60, 30_000);
    assert.deepEqual(ks(rows, dev['edge-new']!.name), range(0, 50), 'drop-newest: the first 50');
    assert.deepEqual(ks(rows, dev['edge-old']!.name), range(30, 80), 'drop-oldest: the last 50');
    assert.deepEqual(ks(rows, dev['edge-block']!.name), range(0, 60), 'block: all, after waiting');

    // Drained, as reported after the drain: a report from before the cut also has an empty queue (and counters at 0).
    const done = (u: { depthMessages: number; blocked: number; delivered: number }) => u.depthMessages === 0 && u.blocked === 0 && u.delivered > 0;
    const pick = ({ overflow, maxMessages, enqueued, delivered: d, droppedOverflow }: NonNullable<NonNullable<Node['status']>['uplink']>) => ({ overflow, maxMessages, enqueued, delivered: d, droppedOverflow });
    assert.deepEqual(pick(await uplinkOf(p, 'edge-new', done)), { overflow: 'drop-newest', maxMessages: 50, enqueued: 50, delivered: 50, droppedOverflow: 30 });
    assert.deepEqual(pick(await uplinkOf(p, 'edge-old', done)), { overflow: 'drop-oldest', maxMessages: 50, enqueued: 80, delivered: 50, droppedOverflow: 30 });
    assert.deepEqual(pick(await uplinkOf(p, 'edge-block', done)), { overflow: 'block', maxMessages: 50, enqueued: 60, delivered: 60, droppedOverflow: 0 });
  } finally {
    for (const c of clients) c.end(true);
    await p.close();
  }
});
