import { test } from 'node:test';
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { pino } from 'pino';
import type { Route } from '../../core/index.ts';
import type { BrokerMessage } from '../../broker/index.ts';
import { device, startBroker, TestDirectory } from '../../broker/test-helpers.ts';
import { UplinkQueue } from '../uplink/index.ts';
import { UplinkRouter } from './uplink-router.ts';

const route = (name: string, topic: string): Route => ({ apiVersion: 'gedge.io/v1', kind: 'Route', metadata: { name, project: 'p' }, spec: { topic, sink: { type: 'table' } } }) as Route;
const publish = (device: string, k: number, o: Partial<BrokerMessage> = {}): BrokerMessage => ({
  project: 'p',
  topic: `plant/${device}/temp`,
  payload: Buffer.from(`{"k":${k}}`),
  qos: 1,
  retain: false,
  device,
  packetId: k + 1,
  connection: 1,
  ...o,
});

function withRouter(title: string, fn: (r: UplinkRouter, q: UplinkQueue, dir: string) => Promise<void>): void {
  test(title, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gedge-router-'));
    const q = UplinkQueue.open(dir, { fsync: 'batch', commitMs: 10_000 });
    const r = new UplinkRouter(q, pino({ level: 'silent' }));
    r.setRoutes([route('temps', 'plant/+/temp'), route('all', '#')]);
    try {
      await fn(r, q, dir);
    } finally {
      q.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

const queued = (q: UplinkQueue, name: string) => q.batch({ project: 'p', route: name }, 1000, Number.MAX_SAFE_INTEGER).map((m) => m.payload.toString());

withRouter("a device's QoS 1 publish is held until it is on disk, once per matching route; QoS 0 and the agent's own are not held", async (r, q, dir) => {
  const onDisk = () => {
    const file = new Database(join(dir, 'uplink.db'), { readonly: true });
    try {
      return file.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM messages').get()!.n;
    } finally {
      file.close();
    }
  };
  const held = r.route(publish('d1', 0));
  assert.ok(held instanceof Promise, 'the PUBACK waits');
  assert.equal(q.stats().enqueued, 2, 'one append per matching route');
  assert.equal(onDisk(), 0, 'not yet on disk');
  await held;
  assert.equal(onDisk(), 2, 'on disk once the PUBACK may go');
  assert.equal(r.route(publish('d1', 1, { qos: 0, packetId: undefined })), undefined);
  assert.equal(r.route(publish('d1', 2, { device: undefined, packetId: undefined, connection: undefined })), undefined);
  assert.equal(r.route({ ...publish('d1', 3), project: 'other' }), undefined, 'no route in that project');
  assert.deepEqual(queued(q, 'temps'), ['{"k":0}', '{"k":1}', '{"k":2}']);
});

withRouter('a resend on a new connection (MQTT.js sets no DUP) is acknowledged, not queued twice; after a new message the same id and payload is new', async (r, q) => {
  await r.route(publish('d1', 0));
  await r.route(publish('d1', 1));
  // The device reconnects and resends 1, whose PUBACK it never saw, then goes on.
  await r.route(publish('d1', 1, { connection: 2 }));
  await r.route(publish('d1', 2, { connection: 2 }));
  assert.deepEqual(queued(q, 'temps'), ['{"k":0}', '{"k":1}', '{"k":2}']);
  assert.equal(q.stats().resends, 1);
  // Same packet id and payload again, mid-connection and without DUP: a new message (a counter that wrapped).
  await r.route(publish('d1', 2, { connection: 2 }));
  assert.deepEqual(queued(q, 'temps'), ['{"k":0}', '{"k":1}', '{"k":2}', '{"k":2}']);
  // With DUP it is a resend wherever it comes.
  await r.route(publish('d1', 2, { connection: 2, dup: true }));
  assert.equal(queued(q, 'temps').length, 4);
  assert.equal(q.stats().resends, 2);
});

withRouter("a new connection's first message that differs from what its packet id last carried is new, and ends the resends", async (r, q) => {
  await r.route(publish('d1', 0));
  await r.route(publish('d1', 0, { connection: 2, payload: Buffer.from('{"k":"other"}') }));
  await r.route(publish('d1', 1, { connection: 2 }));
  await r.route(publish('d1', 1, { connection: 2 }));
  assert.deepEqual(queued(q, 'temps'), ['{"k":0}', '{"k":"other"}', '{"k":1}', '{"k":1}']);
  assert.equal(q.stats().resends, 0);
});

withRouter('through the broker: a QoS 1 message whose PUBACK never came is resent by MQTT.js on reconnect and queued once', async (r, q) => {
  const directory = new TestDirectory().add('p', 'd1', 's3cret', { publish: ['plant/#'] });
  let client: MqttClient | undefined;
  let cut = true;
  const b = await startBroker(directory, {
    hooks: {
      onPublish: (m) => {
        const held = r.route(m);
        // The first time, the connection dies after the message is queued and before its PUBACK.
        if (cut) {
          cut = false;
          client!.stream.destroy();
        }
        return held;
      },
    },
  });
  try {
    client = await device(b.url, 'p/d1', 's3cret', { clean: false, reconnectPeriod: 50 });
    await client.publishAsync('plant/d1/temp', '{"k":0}', { qos: 1 });
    assert.equal(b.seen.published.length, 2, 'the broker saw it twice');
    assert.deepEqual(queued(q, 'temps'), ['{"k":0}'], 'queued once');
    assert.equal(q.stats().resends, 1);
  } finally {
    client?.end(true);
    await b.close();
  }
});
