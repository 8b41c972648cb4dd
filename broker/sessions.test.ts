import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { device, inbox, startBroker, TestDirectory, until } from './test-helpers.ts';

const directory = new TestDirectory()
  .add('acme', 'sensor', 's3cret', { publish: ['plant/#'] })
  .add('acme', 'panel', 'p4nel', { subscribe: ['plant/#', 'devices/+/status'] });

/** mqtt-packet (as aedes and MQTT.js use it) to hand-build a client that goes silent. */
const mqttPacket = createRequire(import.meta.resolve('aedes'))('mqtt-packet') as { generate(p: object): Buffer };

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'gedge-broker-sessions-'));
}

for (const protocolVersion of [4, 5] as const) {
  const v = protocolVersion === 4 ? 'MQTT 3.1.1 clean=false' : 'MQTT 5 session expiry';
  const persistent = protocolVersion === 4 ? { clean: false } : { clean: false, properties: { sessionExpiryInterval: 3600 } };

  test(`${v}: subscriptions and queued QoS 1/2 messages survive a broker restart`, async () => {
    const dataDir = tempDir();
    let b = await startBroker(directory, { dataDir });
    try {
      const panel = await device(b.url, 'acme/panel', 'p4nel', { protocolVersion, ...persistent });
      await panel.subscribeAsync('plant/#', { qos: 2 });
      await panel.endAsync();
      const sensor = await device(b.url, 'acme/sensor', 's3cret', { protocolVersion });
      for (let i = 1; i <= 5; i++) await sensor.publishAsync(`plant/${i}/temp`, `m${i}`, { qos: 1 });
      await sensor.publishAsync('plant/6/temp', 'm6', { qos: 2 });
      await sensor.publishAsync('plant/7/temp', 'dropped: QoS 0 is not queued', { qos: 0 });
      await sensor.endAsync();

      b = await b.restart();
      const back = await device(b.url, 'acme/panel', 'p4nel', { protocolVersion, ...persistent });
      const got = inbox(back);
      // MQTT.js resolves at CONNACK; the queue follows it.
      await until(() => got.length === 6, 'the six queued messages');
      assert.deepEqual(
        got.map((m) => [m.topic, m.payload]),
        [1, 2, 3, 4, 5, 6].map((i) => [`plant/${i}/temp`, `m${i}`]),
      );
      const sensor2 = await device(b.url, 'acme/sensor', 's3cret');
      await sensor2.publishAsync('plant/8/temp', 'live after restart', { qos: 1 });
      await until(() => got.length === 7, 'a live message on the restored subscription');
      await Promise.all([back.endAsync(), sensor2.endAsync()]);
    } finally {
      await b.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
}

test('MQTT 5: a clean start with an expiry drops the old session; an expiry of 0 keeps none', async () => {
  const b = await startBroker(directory);
  try {
    const panel = await device(b.url, 'acme/panel', 'p4nel', { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } });
    await panel.subscribeAsync('plant/#', { qos: 1 });
    await panel.endAsync();
    const fresh = await device(b.url, 'acme/panel', 'p4nel', { protocolVersion: 5, clean: true, properties: { sessionExpiryInterval: 60 } });
    const got = inbox(fresh);
    const sensor = await device(b.url, 'acme/sensor', 's3cret');
    await sensor.publishAsync('plant/1/temp', 'old subscription?', { qos: 1 });
    await fresh.subscribeAsync('plant/2/#', { qos: 1 });
    await fresh.endAsync();
    await sensor.publishAsync('plant/2/x', 'queued for the new session', { qos: 1 });
    const again = await device(b.url, 'acme/panel', 'p4nel', { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } });
    const later = inbox(again);
    await until(() => later.length === 1, 'the queued message');
    assert.equal(later[0]!.payload, 'queued for the new session');
    assert.deepEqual(got, [], 'the dropped session had nothing left to deliver');
    await again.endAsync();

    const brief = await device(b.url, 'acme/panel', 'p4nel', { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 0 } });
    await brief.subscribeAsync('plant/#', { qos: 1 });
    await brief.endAsync();
    await sensor.publishAsync('plant/3/x', 'nobody keeps this', { qos: 1 });
    const last = await device(b.url, 'acme/panel', 'p4nel', { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } });
    const none = inbox(last);
    await last.subscribeAsync('devices/sensor/status', { qos: 1 });
    await b.broker.publish('acme', 'devices/sensor/status', 'marker', { qos: 1 });
    await until(() => none.length === 1, 'the marker');
    assert.equal(none[0]!.payload, 'marker');
    await Promise.all([last.endAsync(), sensor.endAsync()]);
  } finally {
    await b.close();
  }
});

test('a will is published, mounted and retained when the socket dies', async () => {
  const b = await startBroker(directory);
  try {
    const panel = await device(b.url, 'acme/panel', 'p4nel');
    const got = inbox(panel);
    await panel.subscribeAsync('devices/+/status', { qos: 1 });
    const sensor = await device(b.url, 'acme/sensor', 's3cret', { will: { topic: 'devices/sensor/status', payload: Buffer.from('offline'), qos: 1, retain: true } });
    sensor.stream.destroy();
    await until(() => got.length === 1, 'the will');
    assert.deepEqual(got[0], { topic: 'devices/sensor/status', payload: 'offline', qos: 1, retain: false });
    assert.deepEqual(
      b.seen.published.map((m) => [m.project, m.device, m.topic, m.retain]),
      [['acme', 'sensor', 'devices/sensor/status', true]],
    );
    const late = await device(b.url, 'acme/panel', 'p4nel', { clientId: 'acme/panel' });
    const retained = inbox(late);
    await late.subscribeAsync('devices/+/status', { qos: 1 });
    await until(() => retained.length === 1, 'the retained will');
    assert.deepEqual(retained[0], { topic: 'devices/sensor/status', payload: 'offline', qos: 1, retain: true });
    await late.endAsync();
  } finally {
    await b.close();
  }
});

test('a device silent past 1.5 x its keep-alive is disconnected and its will published', async () => {
  const b = await startBroker(directory);
  try {
    const panel = await device(b.url, 'acme/panel', 'p4nel');
    const got = inbox(panel);
    await panel.subscribeAsync('devices/+/status', { qos: 1 });
    const socket = net.connect({ host: '127.0.0.1', port: b.broker.ports.tcp!, noDelay: true });
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    socket.resume(); // read the CONNACK, or the end of the connection would never be seen
    socket.write(
      mqttPacket.generate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: true,
        clientId: 'acme/sensor',
        keepalive: 1,
        username: 'acme/sensor',
        password: Buffer.from('s3cret'),
        will: { topic: 'devices/sensor/status', payload: Buffer.from('timed out'), qos: 0, retain: false },
      }),
    );
    await until(() => b.broker.connected().length === 2, 'the silent device connected');
    await until(() => closed, 'the broker closing the silent connection');
    await until(() => got.length === 1, 'the will');
    assert.equal(got[0]!.payload, 'timed out');
    await panel.endAsync();
  } finally {
    await b.close();
  }
});
