import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import mqtt from 'mqtt';
import pg from 'pg';
import pino from 'pino';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { EgressPolicy, EgressRefusedError, waitFor } from '../../../core/index.ts';
import { openSqliteStore } from '../../store/sqlite-store.ts';
import { openPostgresStore } from '../../store/postgres-store.ts';
import { SinkUnavailableError } from '../errors.ts';
import { sinkContract } from './sink-contract.ts';
import { TableSink } from './table-sink.ts';
import { MqttSink } from './mqtt-sink.ts';
import { NatsSink } from './nats-sink.ts';

// Real peers: the local PostgreSQL, Mosquitto (1883) and NATS with JetStream (4222).
const PG_URL = process.env.GEDGE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
const MQTT_URL = 'mqtt://127.0.0.1:1883';
const NATS_URL = 'nats://127.0.0.1:4222';
const log = pino({ level: 'silent' });
const schemas: string[] = [];
const target = { node: 'n1', project: 'p', route: 'r', routeUid: 'u' };
const one = [{ seq: 1, topic: 'x', qos: 1, at: new Date().toISOString(), payload: Buffer.from('v') }];

sinkContract('table (sqlite)', async () => {
  const store = await openSqliteStore(':memory:');
  return {
    sink: new TableSink(store.uplink),
    store: store.uplink,
    landed: async () => (await store.uplink.messages('p', 'r', { after: 0, limit: 1000 })).map((m) => `${m.node}:${m.seq} ${m.payload.toString()}`),
    close: () => store.close(),
  };
});

sinkContract('table (postgres)', async () => {
  const schema = `gedge_test_${randomBytes(4).toString('hex')}`;
  schemas.push(schema);
  const store = await openPostgresStore(PG_URL, schema);
  return {
    sink: new TableSink(store.uplink),
    store: store.uplink,
    landed: async () => (await store.uplink.messages('p', 'r', { after: 0, limit: 1000 })).map((m) => `${m.node}:${m.seq} ${m.payload.toString()}`),
    close: () => store.close(),
  };
});

after(async () => {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await client.end();
});

sinkContract('mqtt', async () => {
  const prefix = `gedge-test/${randomBytes(4).toString('hex')}`;
  const store = await openSqliteStore(':memory:');
  const seen: string[] = [];
  const sub = await mqtt.connectAsync(MQTT_URL, { protocolVersion: 5 });
  sub.on('message', (_topic, payload, packet) => seen.push(`${String(packet.properties?.userProperties?.['gedge-msg-id'])} ${payload.toString()}`));
  await sub.subscribeAsync(`${prefix}/#`, { qos: 1 });
  const sink = new MqttSink({ type: 'mqtt', url: MQTT_URL, topic: `${prefix}/{topic}`, qos: 1 }, store.uplink, log, 5000);
  return {
    sink,
    store: store.uplink,
    // Mosquitto keeps one publisher's QoS 1 messages in order, so once the last one is here nothing else is on its way.
    landed: async (lastId) => {
      await waitFor(() => seen.some((l) => l.startsWith(`${lastId} `)), 10_000, `${lastId} at the subscriber`);
      return [...seen];
    },
    close: async () => {
      await sink.close();
      await sub.endAsync();
      await store.close();
    },
  };
});

sinkContract('nats', async () => {
  const id = randomBytes(4).toString('hex');
  const stream = `gedge_test_${id}`;
  const store = await openSqliteStore(':memory:');
  const nc = await connect({ servers: NATS_URL });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`gedge-test-${id}.>`] });
  const sink = new NatsSink({ type: 'nats', url: NATS_URL, subject: `gedge-test-${id}.{topic}` }, store.uplink, log, 5000);
  return {
    sink,
    store: store.uplink,
    // A PubAck means stored: the stream holds everything already.
    landed: async () => {
      const out: string[] = [];
      const last = (await jsm.streams.info(stream)).state.last_seq;
      for (let seq = 1; seq <= last; seq++) {
        const m = await jsm.streams.getMessage(stream, { seq });
        out.push(`${m!.header.get('Nats-Msg-Id')} ${m!.string()}`);
      }
      return out;
    },
    close: async () => {
      await sink.close();
      await jsm.streams.delete(stream);
      await nc.close();
      await store.close();
    },
  };
});

/** A port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

test('broker sinks that cannot deliver throw SinkUnavailableError and record nothing', async () => {
  const store = await openSqliteStore(':memory:');
  const port = await deadPort();
  const sinks = [
    new MqttSink({ type: 'mqtt', url: `mqtt://127.0.0.1:${port}`, topic: '{topic}', qos: 1 }, store.uplink, log, 300),
    new NatsSink({ type: 'nats', url: `nats://127.0.0.1:${port}`, subject: '{topic}' }, store.uplink, log, 300),
    // Reachable, but no stream takes the subject: JetStream has no responder.
    new NatsSink({ type: 'nats', url: NATS_URL, subject: `gedge-nostream-${randomBytes(4).toString('hex')}.{topic}` }, store.uplink, log, 1000),
  ];
  try {
    for (const sink of sinks) {
      await assert.rejects(sink.deliver(target, one), SinkUnavailableError);
      assert.equal(await store.uplink.progress(target), 0);
    }
  } finally {
    for (const s of sinks) await s.close();
    await store.close();
  }
});

test("a nats sink resolves the server's name through the egress policy at each connection and dials the address checked: a name that rebinds to a metadata address is never dialled", async () => {
  const id = randomBytes(4).toString('hex');
  const store = await openSqliteStore(':memory:');
  const nc = await connect({ servers: NATS_URL });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: `gedge_test_${id}`, subjects: [`gedge-egress-${id}.>`] });
  // NATS on 4222 under a name only these resolvers know.
  const answers = (address: string) => new EgressPolicy([], (_h, _o, cb) => void setImmediate(() => cb(null, [{ address, family: 4 }])));
  const spec = { type: 'nats', url: 'nats://nats.example:4222', subject: `gedge-egress-${id}.{topic}` } as const;
  const good = new NatsSink(spec, store.uplink, log, 5000, answers('127.0.0.1').lookup);
  const rebound = new NatsSink(spec, store.uplink, log, 1500, answers('169.254.169.254').lookup);
  try {
    const refused = await rebound.deliver({ ...target, route: 'r-rebound' }, one).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(refused instanceof SinkUnavailableError, String(refused));
    // Refused by the policy before any packet left, not timed out on an unreachable address.
    assert.ok(refused.cause instanceof EgressRefusedError && refused.cause.message.includes('169.254.169.254 is link-local'), String(refused.cause));
    assert.equal((await good.deliver(target, one)).ackedSeq, 1);
    assert.equal((await jsm.streams.info(`gedge_test_${id}`)).state.messages, 1);
  } finally {
    await Promise.all([good.close(), rebound.close()]);
    await jsm.streams.delete(`gedge_test_${id}`);
    await nc.close();
    await store.close();
  }
});
