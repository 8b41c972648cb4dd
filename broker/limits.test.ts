import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import WebSocket from 'ws';
import { device, inbox, startBroker, TestDirectory, until, withBroker, type TestBroker } from './test-helpers.ts';
import type { EdgeBroker } from './edge-broker.ts';

const directory = new TestDirectory().add('default', 'lamp', 'l4mp', { publish: ['x/#'], subscribe: ['x/#'] });

/** A raw TCP connection to the broker; `closed` resolves when the broker ends it. */
function raw(port: number): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve({ socket, closed }));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => undefined);
    socket.once('error', reject);
  });
}

/** A fixed header with a remaining length as declared, and nothing after it [MQTT-2.1.4]. */
function header(type: number, length: number): Buffer {
  const bytes = [type << 4];
  do {
    let b = length % 128;
    length = Math.floor(length / 128);
    if (length > 0) b |= 0x80;
    bytes.push(b);
  } while (length > 0);
  return Buffer.from(bytes);
}

async function roundTrip(b: TestBroker): Promise<void> {
  const c = await device(b.url, 'lamp', 'l4mp');
  const got = inbox(c);
  await c.subscribeAsync('x/1', { qos: 1 });
  await c.publishAsync('x/1', 'still serving', { qos: 1 });
  await until(() => got.length === 1, 'the round trip');
  await c.endAsync();
}

test('a CONNECT declaring 100 MiB is refused at its header, before authentication, and the broker serves on', async () => {
  await withBroker(directory, {}, async (b) => {
    const { socket, closed } = await raw(b.broker.ports.tcp!);
    socket.write(header(1, 100 * 1024 * 1024));
    socket.write(Buffer.alloc(64 * 1024, 1)); // the start of the promised body
    await closed;
    await roundTrip(b);
  });
});

test('a packet over maxPacketBytes ends its connection; one under it is delivered', async () => {
  await withBroker(directory, { limits: { maxPacketBytes: 4096 } }, async (b) => {
    const c = await device(b.url, 'lamp', 'l4mp');
    const got = inbox(c);
    await c.subscribeAsync('x/1', { qos: 1 });
    await c.publishAsync('x/1', Buffer.alloc(3000, 7), { qos: 1 });
    await until(() => got.length === 1, 'the small message');
    const gone = new Promise<void>((r) => c.once('close', () => r()));
    c.publish('x/1', Buffer.alloc(5000, 7), { qos: 1 });
    await gone;
    assert.equal(got.length, 1, 'the large one was not routed');
    c.end(true);
    await roundTrip(b);
  });
});

test('a connection that sends no CONNECT is closed after the CONNECT timeout', async () => {
  await withBroker(directory, { limits: { connectTimeoutMs: 300 } }, async (b) => {
    const { closed } = await raw(b.broker.ports.tcp!);
    await closed;
  });
});

test('connections per address and in all are bounded, over TCP and WebSocket together; a slot frees when one closes', async () => {
  await withBroker(directory, { ws: '127.0.0.1:0', limits: { maxConnectionsPerAddress: 3, maxConnections: 5 } }, async (b) => {
    const held = await Promise.all([0, 1].map(() => raw(b.broker.ports.tcp!)));
    const ws = new WebSocket(`ws://127.0.0.1:${b.broker.ports.ws}/mqtt`, 'mqtt');
    await new Promise((r) => ws.once('open', r));
    const fourth = await raw(b.broker.ports.tcp!);
    await fourth.closed; // over the per-address limit: closed at once, without a CONNECT timeout
    held[0]!.socket.destroy();
    await held[0]!.closed;
    const c = (await until(() => device(b.url, 'lamp', 'l4mp').catch(() => undefined), 'a freed slot')) as Awaited<ReturnType<typeof device>>;
    await c.endAsync();
    ws.close();
    for (const h of held) h.socket.destroy();
  });
});

test('a message the agent sends in its connect hook (a pending command) reaches the device after its CONNACK', async () => {
  const own: { broker?: EdgeBroker } = {};
  const b = await startBroker(directory, { hooks: { onConnect: (d) => void own.broker!.deliver(d.project, d.device, 'commands', '{"on":true}', 5000) } });
  own.broker = b.broker;
  try {
    const first: string[] = [];
    const { socket } = await raw(b.broker.ports.tcp!);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => first.push(p.cmd === 'publish' ? `publish ${p.topic}` : p.cmd));
    socket.on('data', (d) => parser.parse(d));
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'lamp', username: 'lamp', password: Buffer.from('l4mp'), keepalive: 30 }));
    await until(() => first.length >= 2, 'CONNACK and the command');
    assert.deepEqual(first.slice(0, 2), ['connack', 'publish commands'], '[MQTT-3.2.0-1] the CONNACK comes first');
    socket.destroy();
    // And MQTT.js, which times out on anything before its CONNACK, connects and gets the command.
    const c = mqtt.connect(b.url, { clientId: 'lamp', username: 'lamp', password: 'l4mp', reconnectPeriod: 0, connectTimeout: 5000 });
    const got = inbox(c);
    await until(() => got.some((m) => m.topic === 'commands'), 'the command at MQTT.js');
    await c.endAsync();
  } finally {
    await b.close();
  }
});

test('property: random bytes and random packets never crash or stall the broker, and it keeps serving', async () => {
  await withBroker(directory, { limits: { connectTimeoutMs: 500 } }, async (b) => {
    const headerThenJunk = fc.tuple(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 268_435_455 }), fc.uint8Array({ maxLength: 512 })).map(([t, len, body]) => Buffer.concat([header(t, len), Buffer.from(body)]));
    const connectThenJunk = fc.uint8Array({ maxLength: 512 }).map((junk) => Buffer.concat([mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'lamp', username: 'lamp', password: Buffer.from('l4mp'), keepalive: 30 }), Buffer.from(junk)]));
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 1024 }).map((a) => Buffer.from(a)), headerThenJunk, connectThenJunk), async (bytes) => {
        const { socket, closed } = await raw(b.broker.ports.tcp!);
        socket.write(bytes);
        // Either the broker ends it, or we do once it has read what we sent.
        await Promise.race([closed, new Promise((r) => setTimeout(r, 20))]);
        socket.destroy();
        await closed;
      }),
      { numRuns: 150 },
    );
    await roundTrip(b);
    await until(() => b.broker.stats().connections === 0, 'every fuzzing connection gone');
  });
});
