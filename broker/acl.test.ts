import { test } from 'node:test';
import assert from 'node:assert/strict';
import { device, gone, inbox, startBroker, TestDirectory, until, type TestBroker } from './test-helpers.ts';

/** Fresh per test: some tests change grants. */
function directory(): TestDirectory {
  return new TestDirectory()
    .add('acme', 'sensor', 's3cret', { publish: ['plant/#'] })
    .add('acme', 'watcher', 'w4tch', { subscribe: ['#'] })
    .add('acme', 'panel', 'p4nel', { subscribe: ['plant/+/temp'] })
    .add('rival', 'spy', 'sp1', { publish: ['#'], subscribe: ['#'] });
}

async function withBroker(dir: TestDirectory, fn: (b: TestBroker) => Promise<void>): Promise<void> {
  const b = await startBroker(dir);
  try {
    await fn(b);
  } finally {
    await b.close();
  }
}

/** The sensor, and what a watcher subscribed to # (at `qos`) receives. */
async function sensorWatched(b: TestBroker, qos: 1 | 2) {
  const watcher = await device(b.url, 'acme/watcher', 'w4tch');
  const got = inbox(watcher);
  await watcher.subscribeAsync('#', { qos });
  return { got, sensor: await device(b.url, 'acme/sensor', 's3cret') };
}

test('MQTT 3.1.1: a refused publish is acknowledged, counted and dropped; the connection stays', () =>
  withBroker(directory(), async (b) => {
    const { got, sensor } = await sensorWatched(b, 2);
    for (const qos of [0, 1, 2] as const) await sensor.publishAsync(`secret/${qos}`, 'no', { qos, retain: true });
    await sensor.publishAsync('devices/panel/x', 'not its namespace', { qos: 1 });
    await sensor.publishAsync('devices/sensor/status', 'own namespace', { qos: 1 });
    await sensor.publishAsync('plant/1/temp', 'granted', { qos: 1 });
    await until(() => got.length === 2, 'the allowed messages');
    assert.deepEqual(
      got.map((m) => m.topic),
      ['devices/sensor/status', 'plant/1/temp'],
    );
    assert.ok(sensor.connected);
    const stats = b.broker.stats();
    assert.equal(stats.denied.publish, 4);
    assert.deepEqual(stats.deniedByDevice, [{ project: 'acme', device: 'sensor', denied: 4 }]);
    assert.deepEqual(
      b.seen.published.map((m) => m.topic),
      ['devices/sensor/status', 'plant/1/temp'],
      'refused publishes never reach the hooks',
    );
    const late = await device(b.url, 'acme/watcher', 'w4tch', { clientId: 'acme/watcher' });
    const retained = inbox(late);
    await late.subscribeAsync('#', { qos: 1 });
    await sensor.publishAsync('plant/marker', 'm', { qos: 1 });
    await until(() => retained.length === 1, 'the marker');
    assert.equal(retained[0]!.topic, 'plant/marker', 'a refused retained publish is not retained');
    await Promise.all([late.endAsync(), sensor.endAsync()]);
  }));

test('MQTT 5: a refused publish gets PUBACK / PUBREC 0x87 (not authorized)', () =>
  withBroker(directory(), async (b) => {
    const sensor = await device(b.url, 'acme/sensor', 's3cret', { protocolVersion: 5 });
    for (const qos of [1, 2] as const) {
      const err = (await sensor.publishAsync('secret/x', 'no', { qos }).then(
        () => null,
        (e: Error & { code?: number }) => e,
      ))!;
      assert.ok(err, `QoS ${qos} refused`);
      assert.equal(err.code, 0x87);
    }
    await sensor.publishAsync('plant/1/temp', 'still connected', { qos: 2 });
    assert.equal(b.broker.stats().denied.publish, 2);
    assert.equal(b.seen.published.length, 1);
    await sensor.endAsync();
  }));

for (const protocolVersion of [4, 5] as const) {
  test(`MQTT ${protocolVersion === 4 ? '3.1.1: SUBACK 0x80' : '5: SUBACK 0x87'} for filters outside the namespace and grants; nothing arrives on them`, () =>
    withBroker(directory(), async (b) => {
      const panel = await device(b.url, 'acme/panel', 'p4nel', { protocolVersion });
      const got = inbox(panel);
      const filters = ['plant/+/temp', 'plant/#', '#', '+/+/temp', 'devices/panel/#', 'devices/sensor/#', '$SYS/#'];
      // MQTT.js fails the whole subscribe when any filter is refused; the SUBACK has every code.
      const err = await panel.subscribeAsync(filters, { qos: 1 }).then(
        () => null,
        (e: Error & { packet?: { granted: number[] } }) => e,
      );
      const refusedCode = protocolVersion === 5 ? 0x87 : 0x80;
      assert.deepEqual(
        err?.packet?.granted,
        filters.map((f) => (f === 'plant/+/temp' || f === 'devices/panel/#' ? 1 : refusedCode)),
      );
      assert.equal(b.broker.stats().denied.subscribe, 5);
      const sensor = await device(b.url, 'acme/sensor', 's3cret');
      await sensor.publishAsync('plant/1/pressure', 'not for the panel', { qos: 1 });
      await sensor.publishAsync('devices/sensor/status', 'not for the panel', { qos: 1 });
      await sensor.publishAsync('plant/1/temp', 'for the panel', { qos: 1 });
      await until(() => got.length === 1, 'the granted message');
      await b.broker.publish('acme', 'devices/panel/cmd', 'own namespace', { qos: 1 });
      await until(() => got.length === 2, 'the namespace message');
      assert.deepEqual(
        got.map((m) => m.payload),
        ['for the panel', 'own namespace'],
      );
      await Promise.all([panel.endAsync(), sensor.endAsync()]);
    }));
}

test("projects are isolated: another project's # subscriber sees nothing, retained and wills included", () =>
  withBroker(directory(), async (b) => {
    const spy = await device(b.url, 'rival/spy', 'sp1');
    const spied = inbox(spy);
    await spy.subscribeAsync('#', { qos: 2 });
    const watcher = await device(b.url, 'acme/watcher', 'w4tch');
    const seen = inbox(watcher);
    await watcher.subscribeAsync('#', { qos: 2 });
    const sensor = await device(b.url, 'acme/sensor', 's3cret', { will: { topic: 'devices/sensor/status', payload: Buffer.from('lost'), qos: 1, retain: true } });
    await sensor.publishAsync('plant/1/temp', 'acme only', { qos: 1, retain: true });
    sensor.stream.destroy();
    await until(() => seen.length === 2, "acme's message and will");
    await spy.publishAsync('plant/1/temp', 'rival only', { qos: 1 });
    await until(() => spied.length === 1, "the spy's own message");
    assert.deepEqual(
      spied.map((m) => m.payload),
      ['rival only'],
    );
    const lateSpy = await device(b.url, 'rival/spy', 'sp1', { clientId: 'rival/spy' });
    const retained = inbox(lateSpy);
    await lateSpy.subscribeAsync('#', { qos: 1 });
    await lateSpy.publishAsync('marker', 'm', { qos: 1 });
    await until(() => retained.length === 1, 'the marker');
    assert.equal(retained[0]!.topic, 'marker', "no retained message of acme's reaches rival");
    assert.deepEqual(
      seen.map((m) => [m.topic, m.payload]),
      [
        ['plant/1/temp', 'acme only'],
        ['devices/sensor/status', 'lost'],
      ],
    );
    await Promise.all([lateSpy.endAsync(), watcher.endAsync()]);
  }));

test('grant changes apply to a connected device at its next message', () => {
  const dir = directory();
  return withBroker(dir, async (b) => {
    const panel = await device(b.url, 'acme/panel', 'p4nel');
    const got = inbox(panel);
    await panel.subscribeAsync('plant/+/temp', { qos: 1 });
    const sensor = await device(b.url, 'acme/sensor', 's3cret');
    await sensor.publishAsync('plant/1/temp', 'one', { qos: 1 });
    await until(() => got.length === 1, 'the first message');
    dir.setGrants('acme', 'panel', { subscribe: [] });
    dir.setGrants('acme', 'sensor', { publish: ['plant/1/#'] });
    await sensor.publishAsync('plant/2/temp', 'now refused', { qos: 1 });
    await sensor.publishAsync('plant/1/temp', 'no longer for the panel', { qos: 1 });
    await b.broker.publish('acme', 'devices/panel/marker', 'm', { qos: 1 });
    dir.setGrants('acme', 'panel', { subscribe: ['plant/#'] });
    await panel.subscribeAsync('devices/panel/#', { qos: 1 });
    await b.broker.publish('acme', 'devices/panel/marker', 'm', { qos: 1 });
    await until(() => got.length === 2, 'the marker');
    assert.deepEqual(
      got.map((m) => m.payload),
      ['one', 'm'],
    );
    assert.equal(b.broker.stats().denied.publish, 1);
    assert.deepEqual(
      b.seen.published.filter((m) => m.device === 'sensor').map((m) => m.payload.toString()),
      ['one', 'no longer for the panel'],
    );
    await Promise.all([panel.endAsync(), sensor.endAsync()]);
  });
});

test('a device whose identity is gone is disconnected at its next publish', () => {
  const dir = directory();
  return withBroker(dir, async (b) => {
    const sensor = await device(b.url, 'acme/sensor', 's3cret');
    const closed = gone(sensor);
    dir.remove('acme', 'sensor');
    sensor.publish('plant/1/temp', 'after removal', { qos: 0 });
    await closed;
    assert.equal(b.seen.published.length, 0);
  });
});

test('a will outside what the device may publish refuses the connection', () =>
  withBroker(directory(), async (b) => {
    for (const protocolVersion of [4, 5] as const) {
      const err = await device(b.url, 'acme/sensor', 's3cret', { protocolVersion, will: { topic: 'elsewhere/status', payload: Buffer.from('x'), qos: 0, retain: false } }).then(
        (c) => (c.end(true), null),
        (e: Error & { code?: number }) => e,
      );
      assert.equal(err?.code, protocolVersion === 5 ? 0x87 : 5);
    }
    assert.deepEqual(b.broker.stats().denied, { auth: 0, publish: 2, subscribe: 0 });
  }));

test("a device's twin topics: it may publish its requests (get, reported, ack), never what the edge writes there (desired, delta, answers)", () =>
  withBroker(directory(), async (b) => {
    const { got, sensor } = await sensorWatched(b, 1);
    const forged = ['desired', 'delta', 'get/accepted', 'reported/accepted', 'reported/rejected', 'ack/rejected', 'getx', 'reported/extra'];
    for (const leaf of forged) await sensor.publishAsync(`devices/sensor/twin/${leaf}`, '{"version": 99, "desired": {"open": true}}', { qos: 1, retain: true });
    for (const leaf of ['get', 'reported', 'ack']) await sensor.publishAsync(`devices/sensor/twin/${leaf}`, '{}', { qos: 1 });
    await sensor.publishAsync('devices/sensor/twinkle', 'not under twin/', { qos: 1 });
    await until(() => got.length === 4, 'the allowed messages');
    assert.deepEqual(got.map((m) => m.topic), ['devices/sensor/twin/get', 'devices/sensor/twin/reported', 'devices/sensor/twin/ack', 'devices/sensor/twinkle']);
    assert.equal(b.broker.stats().denied.publish, forged.length);
  }));
