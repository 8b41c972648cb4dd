import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import type { BrokerHooks, DeviceRef } from './types.ts';
import { device, inbox, startBroker, TestDirectory, until, type TestBroker } from './test-helpers.ts';

/**
 * Two real brokers and, between them, what the agents and the center do
 * (agent/devices/roaming.ts, center/hub/roaming.ts) reduced to direct calls:
 * a roaming device's CONNACK waits while the broker that holds its session
 * hands it over, and what the old broker forwards goes to the holder.
 */
async function pair(directory: TestDirectory, dirs: { a?: string; b?: string } = {}) {
  const brokers: Record<'a' | 'b', TestBroker | undefined> = { a: undefined, b: undefined };
  let holder: 'a' | 'b' | undefined;
  const forwarded: { ref: DeviceRef; hops: number }[] = [];
  const hooks = (self: 'a' | 'b'): BrokerHooks => ({
    onRoam: async (ref, o) => {
      const from = holder;
      holder = self;
      if (from === undefined || from === self) return;
      const s = brokers[from]!.broker.exportSession(ref, o.clean);
      if (s) brokers[self]!.broker.importSession(ref, s);
    },
    onForward: (ref, msg, hops) => {
      forwarded.push({ ref, hops });
      const to = holder === undefined || holder === self ? undefined : brokers[holder];
      to?.broker.injectForwarded(ref, [msg], hops);
    },
  });
  brokers.a = await startBroker(directory, { dataDir: dirs.a, hooks: hooks('a') });
  brokers.b = await startBroker(directory, { dataDir: dirs.b, hooks: hooks('b') });
  return {
    a: () => brokers.a!,
    b: () => brokers.b!,
    forwarded,
    restartA: async () => void (brokers.a = await brokers.a!.restart()),
    close: () => Promise.all([brokers.a!.close(), brokers.b!.close()]),
  };
}

const persistent = { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 600 } };
const directory = () =>
  new TestDirectory()
    .add('city', 'car', 'c4r', { subscribe: ['news/#'] })
    .roam('city', 'car')
    .add('city', 'disp', 'd1sp', { publish: ['devices/car/inbox', 'news/#'] });

/** Connects the car at a broker: its CONNACK's session present flag, and everything it then receives. */
async function car(b: TestBroker, o: object = persistent) {
  const client = await device(b.url, 'city/car', 'c4r', o);
  return { client, got: inbox(client), present: sessionPresent(client) };
}
const sessionPresent = (client: object): boolean => (client as { connackPacket?: { sessionPresent?: boolean } }).connackPacket?.sessionPresent === true;

test('a roaming session moves with its subscriptions and queued messages; what the old broker gets afterwards is forwarded, once', async () => {
  const p = await pair(directory());
  try {
    const first = await car(p.a());
    await first.client.subscribeAsync(['devices/car/inbox', 'devices/car/#'], { qos: 1 });
    await first.client.endAsync();
    const disp = await device(p.a().url, 'city/disp', 'd1sp');
    await disp.publishAsync('devices/car/inbox', 'm1', { qos: 1 });
    await disp.publishAsync('devices/car/inbox', 'm2', { qos: 1 });

    // At b: the session is present, and the messages queued at a come with it (the broker queues one copy per matching filter, as MQTT 3.1.1 allows).
    const atB = await car(p.b());
    assert.equal(atB.present, true);
    await until(() => atB.got.some((m) => m.payload === 'm2'), 'the queued messages at b');
    assert.deepEqual([...new Set(atB.got.map((m) => m.payload))], ['m1', 'm2']);
    assert.equal(p.a().broker.forwarding, 1);

    // Published at a after the session left: forwarded to b, once although two of its filters match.
    await disp.publishAsync('devices/car/inbox', 'm3', { qos: 1 });
    await until(() => atB.got.some((m) => m.payload === 'm3'), 'm3 forwarded to b');
    assert.equal(p.forwarded.length, 1);
    assert.equal(atB.got.filter((m) => m.payload === 'm3').length, 1);

    // Back at a: the session comes back, a forwards no more, b does.
    await atB.client.endAsync();
    const back = await car(p.a());
    assert.equal(back.present, true);
    assert.equal(p.a().broker.forwarding, 0);
    assert.equal(p.b().broker.forwarding, 1);
    await disp.publishAsync('devices/car/inbox', 'm4', { qos: 1 });
    await until(() => back.got.some((m) => m.payload === 'm4'), 'm4 at a, directly');
    assert.equal(p.forwarded.length, 1, 'nothing forwarded while the session is where the message is');
    await Promise.all([back.client.endAsync(), disp.endAsync()]);
  } finally {
    await p.close();
  }
});

test('a broker forwards for a session that left it across its own restart', async () => {
  const p = await pair(directory());
  try {
    const first = await car(p.a());
    await first.client.subscribeAsync('devices/car/inbox', { qos: 1 });
    await first.client.endAsync();
    const atB = await car(p.b());
    await p.restartA();
    assert.equal(p.a().broker.forwarding, 1);
    const disp = await device(p.a().url, 'city/disp', 'd1sp');
    await disp.publishAsync('devices/car/inbox', 'after a restart', { qos: 1 });
    await until(() => atB.got.some((m) => m.payload === 'after a restart'), 'the message forwarded by the restarted broker');
    await Promise.all([atB.client.endAsync(), disp.endAsync()]);
  } finally {
    await p.close();
  }
});

test('a clean start elsewhere ends the session where it was: nothing present, nothing forwarded', async () => {
  const p = await pair(directory());
  try {
    const first = await car(p.a());
    await first.client.subscribeAsync('devices/car/inbox', { qos: 1 });
    await first.client.endAsync();
    const fresh = await car(p.b(), { protocolVersion: 5, clean: true });
    assert.equal(fresh.present, false);
    assert.equal(p.a().broker.forwarding, 0);
    await fresh.client.endAsync();
    const again = await car(p.a());
    assert.equal(again.present, false, 'the old session is gone from a');
    await again.client.endAsync();
  } finally {
    await p.close();
  }
});

test('what the device may no longer receive stays behind: topics its grants lost, queued or subscribed', async () => {
  const dir = directory();
  const p = await pair(dir);
  try {
    const first = await car(p.a());
    await first.client.subscribeAsync(['devices/car/inbox', 'news/#'], { qos: 1 });
    await first.client.endAsync();
    const disp = await device(p.a().url, 'city/disp', 'd1sp');
    await disp.publishAsync('news/today', 'headline', { qos: 1 });
    await disp.publishAsync('devices/car/inbox', 'mine', { qos: 1 });
    await disp.endAsync();
    dir.setGrants('city', 'car', {});
    const atB = await car(p.b());
    await until(() => atB.got.length >= 1, 'the message it may still receive');
    assert.deepEqual(atB.got.map((m) => m.payload), ['mine']);
    await atB.client.endAsync();
  } finally {
    await p.close();
  }
});

test('a session carries at most its newest 1,000 queued messages; the oldest stay behind', async () => {
  const p = await pair(directory());
  try {
    const first = await car(p.a());
    await first.client.subscribeAsync('devices/car/inbox', { qos: 1 });
    await first.client.endAsync();
    const disp = await device(p.a().url, 'city/disp', 'd1sp');
    for (let i = 1; i <= 1005; i++) await disp.publishAsync('devices/car/inbox', String(i), { qos: 1 });
    await disp.endAsync();
    const atB = await car(p.b());
    await until(() => atB.got.length === 1000, 'the newest 1,000', 20_000);
    assert.equal(atB.got[0]!.payload, '6');
    assert.equal(atB.got.at(-1)!.payload, '1005');
    await atB.client.endAsync();
  } finally {
    await p.close();
  }
});

test('moving back and forth 40 times while both brokers publish to it, the device gets every message, and no connection is cut', async () => {
  const p = await pair(directory());
  const got = new Set<string>();
  const sent: string[] = [];
  let running = true;
  let cut = 0;
  const publisher = async (b: TestBroker, name: string) => {
    const d = await device(b.url, 'city/disp', 'd1sp');
    for (let i = 1; running; i++) {
      await d.publishAsync('devices/car/inbox', `${name}${i}`, { qos: 1 });
      sent.push(`${name}${i}`);
      await new Promise((r) => setTimeout(r, 3));
    }
    await d.endAsync();
  };
  // Attached before the CONNACK: the queued messages may arrive in the same read.
  const connect = (b: TestBroker) =>
    new Promise<MqttClient>((resolve, reject) => {
      const c = mqtt.connect(b.url, { clientId: 'city/car', username: 'city/car', password: 'c4r', reconnectPeriod: 0, ...persistent });
      c.on('message', (_t, payload) => got.add(payload.toString()));
      c.once('connect', () => {
        c.once('close', () => void (c.disconnecting || cut++));
        resolve(c);
      });
      c.once('error', reject);
    });
  try {
    let client = await connect(p.a());
    await client.subscribeAsync('devices/car/inbox', { qos: 1 });
    const publishers = [publisher(p.a(), 'a')];
    for (let move = 1; move <= 40; move++) {
      await until(() => got.size >= sent.length / 2 || undefined, 'messages flowing');
      await client.endAsync();
      client = await connect(move % 2 === 1 ? p.b() : p.a());
      // From its first visit on, b forwards what is published there too.
      if (move === 1) publishers.push(publisher(p.b(), 'b'));
    }
    running = false;
    await Promise.all(publishers);
    await until(() => sent.every((m) => got.has(m)) || undefined, 'every message at the device', 10_000).catch((e: Error) => {
      throw new Error(`${e.message}: missing ${sent.filter((m) => !got.has(m)).join(' ')}`);
    });
    assert.equal(cut, 0, 'no connection was ended by the broker');
    await client.endAsync();
  } finally {
    running = false;
    await p.close();
  }
});
