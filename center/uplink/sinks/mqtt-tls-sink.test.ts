import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import pino from 'pino';
import { EgressPolicy, waitFor } from '../../../core/index.ts';
import { startMosquittoTls } from '../../../testkit/mosquitto-tls.ts';
import { CertificateAuthority } from '../../pki/authority.ts';
import { openSqliteStore } from '../../store/sqlite-store.ts';
import { SinkUnavailableError } from '../errors.ts';
import { MqttSink } from './mqtt-sink.ts';

const log = pino({ level: 'silent' });
const target = { node: 'n1', project: 'p', route: 'r', routeUid: 'u' };
const one = [{ seq: 1, topic: 'x', qos: 1, at: new Date().toISOString(), payload: Buffer.from('v') }];

test('an mqtts sink verifies the broker: it delivers to one whose certificate chains to a trusted CA, and refuses one that does not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gedge-mqtts-sink-'));
  const stranger = await CertificateAuthority.open(join(dir, 'stranger'));
  const store = await openSqliteStore(':memory:');
  // Mosquitto speaks MQTT 5, as the sink does; its certificate is for 127.0.0.1, from a CA of its own.
  const broker = await startMosquittoTls();
  const ours = broker.material.ca;
  const seen: string[] = [];
  const sub = await mqtt.connectAsync(broker.url, { ca: ours, protocolVersion: 5 });
  sub.on('message', (topic, payload) => seen.push(`${topic} ${payload.toString()}`));
  await sub.subscribeAsync('up/#', { qos: 1 });
  const trusting = new MqttSink({ type: 'mqtt', url: broker.url, topic: 'up/{topic}', qos: 1 }, store.uplink, log, 5000, [ours]);
  // Trusts the system's roots and another CA, not the one that signed the broker: the handshake fails, nothing is sent.
  const wrongTrust = new MqttSink({ type: 'mqtt', url: broker.url, topic: 'up/{topic}', qos: 1, clientId: 'wrong-trust' }, store.uplink, log, 1500, [stranger.certPem]);
  const noTrust = new MqttSink({ type: 'mqtt', url: broker.url, topic: 'up/{topic}', qos: 1, clientId: 'no-trust' }, store.uplink, log, 1500);
  try {
    await assert.rejects(wrongTrust.deliver({ ...target, route: 'r2' }, one), SinkUnavailableError);
    await assert.rejects(noTrust.deliver({ ...target, route: 'r3' }, one), SinkUnavailableError);
    const r = await trusting.deliver(target, one);
    assert.equal(r.ackedSeq, 1);
    await waitFor(() => seen.length > 0, 10_000, 'the message at the subscriber');
    assert.deepEqual(seen, ['up/x v'], 'only the verified sink delivered');
  } finally {
    await Promise.all([trusting.close(), wrongTrust.close(), noTrust.close(), sub.endAsync()]);
    await broker.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an mqtt sink resolves the broker's name through the egress policy at each connection: a name that rebinds to a metadata address is never connected to", async () => {
  const store = await openSqliteStore(':memory:');
  const answers = (address: string) => new EgressPolicy([], (_h, _o, cb) => void setImmediate(() => cb(null, [{ address, family: 4 }])));
  // Mosquitto on 1883 under a name only these resolvers know.
  const good = new MqttSink({ type: 'mqtt', url: 'mqtt://broker.example:1883', topic: 'gedge-test/egress/{topic}', qos: 1 }, store.uplink, log, 5000, [], answers('127.0.0.1').lookup);
  const lines: string[] = [];
  const seen = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  const rebound = new MqttSink({ type: 'mqtt', url: 'mqtt://broker.example:1883', topic: 'gedge-test/egress/{topic}', qos: 1 }, store.uplink, seen, 1500, [], answers('169.254.169.254').lookup);
  try {
    await assert.rejects(rebound.deliver({ ...target, route: 'r-rebound' }, one), SinkUnavailableError);
    // Refused by the policy before any packet left, not timed out on an unreachable address.
    assert.ok(lines.some((l) => l.includes('EgressRefused') && l.includes('169.254.169.254 is link-local')), lines.join('\n'));
    assert.equal((await good.deliver(target, one)).ackedSeq, 1);
  } finally {
    await Promise.all([good.close(), rebound.close()]);
    await store.close();
  }
});
