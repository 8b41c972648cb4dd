import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { Route } from '../../../core/index.ts';
import { waitFor } from '../../../testkit/index.ts';
import { UplinkQueue, UplinkSender } from '../index.ts';
import { routeManifest, uplinkEnv } from '../test-helpers.ts';

// Real peers: a center process, the local Mosquitto (1883) and NATS JetStream (4222).
const MQTT_URL = 'mqtt://127.0.0.1:1883';
const NATS_URL = 'nats://127.0.0.1:4222';
const COUNT = 600;
const env = uplinkEnv('gedge-uplink-brokers-');

/** A queue and sender of node edge-1 that appends `count` messages from three devices; returns what it sent, per device. */
async function sendFromEdge(route: string, count: number, lastText?: string): Promise<Map<string, string[]>> {
  const queue = UplinkQueue.open(env.tempDir(), { retryInitialMs: 20, retryMaxMs: 200 });
  const sender = new UplinkSender(queue, { center: env.center.url, node: 'edge-1', credential: env.credential, tls: () => env.tls });
  sender.start();
  const perDevice = new Map<string, string[]>();
  try {
    for (let i = 0; i < count; i++) {
      const device = `d${i % 3}`;
      const text = i === count - 1 && lastText ? lastText : `${device}-${i}`;
      queue.append({ project: 'default', route, topic: `devices/${device}/temp`, device, payload: Buffer.from(text), qos: 1 });
      perDevice.set(device, [...(perDevice.get(device) ?? []), text]);
    }
    await waitFor(() => queue.stats().depthMessages === 0, 20_000, `${route}: queue drained`);
    assert.equal(queue.stats().delivered, count);
  } finally {
    await sender.stop();
    queue.close();
  }
  return perDevice;
}

test('mqtt sink: every message reaches a subscriber of the external broker once, in order per device, with gedge-msg-id', async () => {
  const prefix = `gedge-e2e/${randomBytes(4).toString('hex')}`;
  await env.center.api.apply(routeManifest('to-mqtt', { type: 'mqtt', url: MQTT_URL, topic: `${prefix}/{topic}` }));
  const sub = await mqtt.connectAsync(MQTT_URL, { protocolVersion: 5 });
  const got: { topic: string; text: string; id: string }[] = [];
  sub.on('message', (topic, payload, packet) => got.push({ topic, text: payload.toString(), id: String(packet.properties?.userProperties?.['gedge-msg-id']) }));
  await sub.subscribeAsync(`${prefix}/#`, { qos: 1 });
  try {
    const sent = await sendFromEdge('to-mqtt', COUNT);
    // A last message after the queue drained: Mosquitto keeps one publisher's order, so once it is here every earlier one is too.
    const barrier = await sendFromEdge('to-mqtt', 1, 'barrier');
    await waitFor(() => got.some((m) => m.text === 'barrier'), 10_000, 'the barrier message');
    assert.equal(got.length, COUNT + 1, 'nothing twice, nothing missing');
    for (const [device, texts] of sent) assert.deepEqual(got.filter((m) => m.topic === `${prefix}/devices/${device}/temp` && m.text !== 'barrier').map((m) => m.text), texts);
    assert.equal(new Set(got.map((m) => m.id)).size, got.length);
    assert.ok(got.every((m) => /^edge-1:\d+$/.test(m.id)));
    assert.equal(barrier.size, 1);
    await waitFor(async () => (await env.center.api.get<Route>('Route', 'to-mqtt')).status?.delivered === COUNT + 1, 10_000, 'route status counts every message');
  } finally {
    await sub.endAsync();
  }
});

test('nats sink: the JetStream stream holds every message once, in order per device, with Nats-Msg-Id', async () => {
  const id = randomBytes(4).toString('hex');
  const stream = `gedge_e2e_${id}`;
  const nc = await connect({ servers: NATS_URL });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`gedge-e2e-${id}.>`] });
  try {
    await env.center.api.apply(routeManifest('to-nats', { type: 'nats', url: NATS_URL, subject: `gedge-e2e-${id}.{topic}` }));
    const sent = await sendFromEdge('to-nats', COUNT);
    // Acked means stored by JetStream: the stream is complete now.
    const info = await jsm.streams.info(stream);
    assert.equal(info.state.messages, COUNT);
    const got: { subject: string; text: string; id: string }[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = (await jsm.streams.getMessage(stream, { seq }))!;
      got.push({ subject: m.subject, text: m.string(), id: m.header.get('Nats-Msg-Id') });
    }
    for (const [device, texts] of sent) assert.deepEqual(got.filter((m) => m.subject === `gedge-e2e-${id}.devices.${device}.temp`).map((m) => m.text), texts);
    assert.equal(new Set(got.map((m) => m.id)).size, COUNT);
  } finally {
    await jsm.streams.delete(stream);
    await nc.close();
  }
});
