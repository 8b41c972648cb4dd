import { test } from 'node:test';
import assert from 'node:assert/strict';
import { device, gone, inbox, TestDirectory, until, withBroker as withDirectoryBroker, type TestBroker } from './test-helpers.ts';
import { EdgeBroker } from './edge-broker.ts';
import { SqlitePersistence } from './sqlite-persistence.ts';

const directory = new TestDirectory()
  .add('acme', 'sensor', 's3cret', { publish: ['plant/#'], subscribe: ['plant/#'] })
  .add('acme', 'panel', 'p4nel', { subscribe: ['plant/+/temp', 'devices/sensor/#'] })
  .add('default', 'lamp', 'l4mp');

const withBroker = (fn: (b: TestBroker) => Promise<void>, o: { ws?: string } = {}): Promise<void> => withDirectoryBroker(directory, o, fn);

for (const protocolVersion of [4, 5] as const) {
  const v = `MQTT ${protocolVersion === 4 ? '3.1.1' : '5'}`;

  test(`${v}: a device signs in with <project>/<device> and its secret; bad, unknown and anonymous ones are refused and counted`, () =>
    withBroker(async (b) => {
      const ok = await device(b.url, 'acme/sensor', 's3cret', { protocolVersion });
      const lamp = await device(b.url, 'lamp', 'l4mp', { protocolVersion, username: '' });
      const refusals: [string, string | undefined, string | undefined][] = [
        ['acme/sensor', 'wrong', undefined],
        ['acme/nobody', 's3cret', undefined],
        ['acme/sensor', undefined, undefined],
        ['acme/sensor', 's3cret', 'someone-else'],
        ['not a name', 's3cret', undefined],
        ['sensor', 's3cret', undefined], // project default has no sensor
      ];
      for (const [clientId, secret, username] of refusals) {
        const err = await device(b.url, clientId, secret, { protocolVersion, username: username ?? clientId }).then(
          (c) => (c.end(true), null),
          (e: Error & { code?: number }) => e,
        );
        assert.ok(err, `${clientId} / ${secret} / ${username} must be refused`);
        const codes = protocolVersion === 5 ? [0x85, 0x86, 0x87] : [2, 4, 5];
        assert.ok(codes.includes(err.code!), `CONNACK refusal code, got ${err.code}`);
      }
      assert.equal(b.broker.stats().denied.auth, refusals.length);
      assert.deepEqual(
        b.broker.connected().sort((x, y) => x.device.localeCompare(y.device)),
        [
          { project: 'default', device: 'lamp' },
          { project: 'acme', device: 'sensor' },
        ],
      );
      assert.equal(b.broker.stats().connections, 2);
      await Promise.all([ok.endAsync(), lamp.endAsync()]);
      await until(() => b.seen.disconnects.length === 2, 'both disconnects seen');
      assert.deepEqual(b.seen.connects.map((d) => `${d.project}/${d.device}`).sort(), ['acme/sensor', 'default/lamp']);
    }));

  test(`${v}: QoS 0, 1 and 2 round trips, project-relative on the wire and in the hooks`, () =>
    withBroker(async (b) => {
      const sub = await device(b.url, 'acme/panel', 'p4nel', { protocolVersion });
      const got = inbox(sub);
      await sub.subscribeAsync('plant/+/temp', { qos: 2 });
      const pub = await device(b.url, 'acme/sensor', 's3cret', { protocolVersion });
      for (const qos of [0, 1, 2] as const) await pub.publishAsync(`plant/${qos}/temp`, `q${qos}`, { qos });
      await until(() => got.length === 3, 'three messages');
      assert.deepEqual(
        got.map((m) => [m.topic, m.payload, m.qos]),
        [
          ['plant/0/temp', 'q0', 0],
          ['plant/1/temp', 'q1', 1],
          ['plant/2/temp', 'q2', 2],
        ],
      );
      assert.deepEqual(
        b.seen.published.map((m) => [m.project, m.device, m.topic, m.payload.toString(), m.qos]),
        [
          ['acme', 'sensor', 'plant/0/temp', 'q0', 0],
          ['acme', 'sensor', 'plant/1/temp', 'q1', 1],
          ['acme', 'sensor', 'plant/2/temp', 'q2', 2],
        ],
      );
      assert.equal(b.broker.stats().messagesIn, 3);
      assert.equal(b.broker.stats().messagesOut, 3);
      await Promise.all([sub.endAsync(), pub.endAsync()]);
    }));

  test(`${v}: a retained message reaches a late subscriber, and an empty one clears it`, () =>
    withBroker(async (b) => {
      const pub = await device(b.url, 'acme/sensor', 's3cret', { protocolVersion });
      await pub.publishAsync('plant/1/temp', '21.5', { qos: 1, retain: true });
      const late = await device(b.url, 'acme/panel', 'p4nel', { protocolVersion });
      const got = inbox(late);
      await late.subscribeAsync('plant/+/temp', { qos: 1 });
      await until(() => got.length === 1, 'the retained message');
      assert.deepEqual(got[0], { topic: 'plant/1/temp', payload: '21.5', qos: 1, retain: true });
      await pub.publishAsync('plant/1/temp', '', { qos: 1, retain: true });
      const later = await device(b.url, 'acme/sensor', 's3cret', { protocolVersion, clientId: 'acme/sensor' });
      const none = inbox(later);
      await later.subscribeAsync('plant/#', { qos: 1 });
      await later.publishAsync('plant/marker', 'm', { qos: 1 });
      await until(() => none.length === 1, 'the marker');
      assert.equal(none[0]!.topic, 'plant/marker', 'no retained message is left');
      await Promise.all([late.endAsync(), later.endAsync()]);
    }));

  test(`${v}: deliver() resolves true on the device's PUBACK, false once it is offline`, () =>
    withBroker(async (b) => {
      const lamp = await device(b.url, 'default/lamp', 'l4mp', { protocolVersion });
      const got = inbox(lamp);
      assert.equal(await b.broker.deliver('default', 'lamp', 'devices/lamp/commands', '{"on":true}', 5000), true);
      assert.deepEqual(got, [{ topic: 'devices/lamp/commands', payload: '{"on":true}', qos: 1, retain: false }]);
      await lamp.endAsync();
      await until(() => b.broker.connected().length === 0, 'the lamp gone');
      assert.equal(await b.broker.deliver('default', 'lamp', 'devices/lamp/commands', 'x', 5000), false);
    }));
}

test('deliver() resolves false when the device never acknowledges', () =>
  withBroker(async (b) => {
    // A device that takes the message but never sends PUBACK: MQTT.js acknowledges once handleMessage calls back, which this one never does.
    const lamp = await device(b.url, 'lamp', 'l4mp');
    lamp.handleMessage = () => undefined;
    assert.equal(await b.broker.deliver('default', 'lamp', 'devices/lamp/commands', 'x', 300), false);
    lamp.end(true);
  }));

test('internal publish and subscribe use project-relative topics and reach devices of that project only', () =>
  withBroker(async (b) => {
    const panel = await device(b.url, 'acme/panel', 'p4nel');
    const got = inbox(panel);
    await panel.subscribeAsync('devices/sensor/#', { qos: 1 });
    const reports: string[] = [];
    const unsubscribe = b.broker.subscribe('acme', 'devices/+/twin/reported', (m) => reports.push(`${m.project} ${m.device} ${m.topic} ${m.payload}`));
    const sensor = await device(b.url, 'acme/sensor', 's3cret');
    await sensor.publishAsync('devices/sensor/twin/reported', '{"t":1}', { qos: 1 });
    await b.broker.publish('acme', 'devices/sensor/twin/desired', '{"v":2}', { qos: 1, retain: true });
    await b.broker.publish('other', 'devices/sensor/twin/desired', 'not for acme', { qos: 1 });
    await until(() => got.length === 2 && reports.length === 1, 'the report and the desired document');
    assert.deepEqual(reports, ['acme sensor devices/sensor/twin/reported {"t":1}']);
    assert.deepEqual(
      got.map((m) => [m.topic, m.payload]),
      [
        ['devices/sensor/twin/reported', '{"t":1}'],
        ['devices/sensor/twin/desired', '{"v":2}'],
      ],
    );
    assert.deepEqual(
      b.seen.published.map((m) => [m.project, m.device, m.topic]),
      [
        ['acme', 'sensor', 'devices/sensor/twin/reported'],
        ['acme', undefined, 'devices/sensor/twin/desired'],
        ['other', undefined, 'devices/sensor/twin/desired'],
      ],
    );
    unsubscribe();
    await sensor.publishAsync('devices/sensor/twin/reported', '{"t":2}', { qos: 1 });
    await until(() => got.length === 3, 'the second report at the panel');
    assert.equal(reports.length, 1, 'no more reports after unsubscribing');
    assert.throws(() => b.broker.subscribe('acme', 'a/#/b', () => undefined), /not a topic filter/);
    await assert.rejects(async () => b.broker.publish('acme', '$SYS/x', 'y'), /not a topic name/);
    await Promise.all([panel.endAsync(), sensor.endAsync()]);
  }));

test('kick() disconnects a device', () =>
  withBroker(async (b) => {
    for (const protocolVersion of [4, 5] as const) {
      const lamp = await device(b.url, 'lamp', 'l4mp', { protocolVersion });
      const closed = gone(lamp);
      assert.equal(b.broker.kick('default', 'lamp'), true);
      await closed;
      await until(() => b.broker.connected().length === 0, 'the lamp unregistered');
    }
    assert.equal(b.broker.kick('default', 'lamp'), false);
  }));

test('MQTT over WebSocket at /mqtt', () =>
  withBroker(
    async (b) => {
      assert.ok(b.broker.ports.ws);
      const ws = `ws://127.0.0.1:${b.broker.ports.ws}/mqtt`;
      const sub = await device(ws, 'acme/panel', 'p4nel');
      const got = inbox(sub);
      await sub.subscribeAsync('plant/+/temp', { qos: 1 });
      const pub = await device(b.url, 'acme/sensor', 's3cret');
      await pub.publishAsync('plant/9/temp', 'over ws', { qos: 1 });
      await until(() => got.length === 1, 'the message over WebSocket');
      assert.deepEqual(got[0], { topic: 'plant/9/temp', payload: 'over ws', qos: 1, retain: false });
      await assert.rejects(device(ws, 'acme/panel', 'wrong'));
      await Promise.all([sub.endAsync(), pub.endAsync()]);
    },
    { ws: '127.0.0.1:0' },
  ));

test('a broker on a persistence its caller opened (here in memory) keeps its sessions and queued messages there', async () => {
  const persistence = new SqlitePersistence(':memory:');
  const broker = await EdgeBroker.start({ tcp: '127.0.0.1:0', persistence, directory });
  const url = `mqtt://127.0.0.1:${broker.ports.tcp}`;
  const panel = await device(url, 'acme/panel', 'p4nel', { clean: false });
  await panel.subscribeAsync('plant/+/temp', { qos: 1 });
  await panel.endAsync();
  const sensor = await device(url, 'acme/sensor', 's3cret');
  await sensor.publishAsync('plant/1/temp', 'queued for the panel', { qos: 1 });
  await sensor.endAsync();
  // The panel's persistent session and its queued message are in the injected store.
  const back = await device(url, 'acme/panel', 'p4nel', { clean: false });
  const got = inbox(back);
  await until(() => got.length === 1, 'the queued message');
  assert.equal(got[0]!.payload, 'queued for the panel');
  await back.endAsync();
  await broker.close();
});
