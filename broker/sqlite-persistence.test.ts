import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { SqlitePersistence, type StoredPacket } from './sqlite-persistence.ts';

// aedes-persistence ships the contract every aedes persistence must meet; run it against ours.
const aedesRequire = createRequire(import.meta.resolve('aedes'));
const persistenceRequire = createRequire(aedesRequire.resolve('aedes-persistence'));
const abstractSuite = persistenceRequire('./abstract.js') as (o: object) => void;
const mqemitter = aedesRequire('mqemitter') as () => unknown;

const dirs: string[] = [];
function freshFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gedge-broker-persistence-'));
  dirs.push(dir);
  return join(dir, 'broker.db');
}
process.on('exit', () => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

abstractSuite({ test, persistence: () => new SqlitePersistence(freshFile()), testAsync: true, buildEmitter: mqemitter });

async function all(stream: Readable): Promise<StoredPacket[]> {
  const out: StoredPacket[] = [];
  for await (const p of stream) out.push(p as StoredPacket);
  return out;
}

test('after a reopen: subscriptions, queued and half-received messages, wills and retained messages are all back', async () => {
  const file = freshFile();
  const broker = { id: 'broker-1' };
  const a = new SqlitePersistence(file);
  await a.setup(broker);
  const client = { id: 'p/dev' };
  await a.addSubscriptions(client, [
    { topic: 'p/a/#', qos: 1, rh: 0, rap: false, nl: false },
    { topic: 'p/b', qos: 0 },
  ]);
  const publish = (topic: string, n: number): StoredPacket => ({ cmd: 'publish', topic, payload: Buffer.from(`m${n}`), qos: 1, retain: false, brokerId: broker.id, brokerCounter: n });
  await a.outgoingEnqueueCombi([{ clientId: client.id }], publish('p/a/1', 1));
  await a.outgoingEnqueueCombi([{ clientId: client.id }], publish('p/a/2', 2));
  await a.outgoingEnqueueCombi([{ clientId: client.id }], publish('p/a/3', 3));
  await a.outgoingUpdate(client, { ...publish('p/a/1', 1), messageId: 7 });
  await a.outgoingUpdate(client, { ...publish('p/a/2', 2), messageId: 8 });
  await a.outgoingUpdate(client, { cmd: 'pubrel', messageId: 8 });
  await a.outgoingClearMessageId(client, { messageId: 7 });
  await a.incomingStorePacket(client, { cmd: 'publish', topic: 'p/in', payload: Buffer.from('q2'), qos: 2, messageId: 42 });
  await a.putWill(client, { cmd: 'publish', topic: 'will', payload: Buffer.from('bye'), qos: 1, retain: false });
  await a.storeRetained({ cmd: 'publish', topic: 'p/r', payload: Buffer.from('kept'), qos: 0, retain: true });
  await a.storeRetained({ cmd: 'publish', topic: 'p/gone', payload: Buffer.from('x'), qos: 0, retain: true });
  await a.storeRetained({ cmd: 'publish', topic: 'p/gone', payload: Buffer.alloc(0), qos: 0, retain: true });
  a.close();

  const b = new SqlitePersistence(file);
  await b.setup({ id: 'broker-2' });
  try {
    assert.deepEqual(
      (await b.subscriptionsByClient(client)).map((s) => [s.topic, s.qos]),
      [
        ['p/a/#', 1],
        ['p/b', 0],
      ],
    );
    assert.deepEqual(
      (await b.subscriptionsByTopic('p/a/9')).map((s) => s.clientId),
      [client.id],
    );
    assert.deepEqual(await b.subscriptionsByTopic('p/b'), [], 'QoS 0 subscriptions queue nothing offline');
    const queued = await all(b.outgoingStream(client));
    assert.deepEqual(
      queued.map((p) => [p.cmd, p.topic, p.messageId, p.payload?.toString()]),
      [
        ['pubrel', undefined, 8, ''],
        ['publish', 'p/a/3', undefined, 'm3'],
      ],
    );
    assert.equal(queued[1]!.brokerId, 'broker-1', 'a queued message keeps the broker and counter it was made with');
    assert.equal(queued[1]!.brokerCounter, 3);
    assert.equal((await b.incomingGetPacket(client, { messageId: 42 })).payload!.toString(), 'q2');
    const wills = await all(b.streamWill({ 'broker-2': Date.now() }));
    assert.deepEqual(
      wills.map((w) => [w.clientId, w.brokerId, w.topic]),
      [[client.id, 'broker-1', 'will']],
      "the dead broker's will is there to be published",
    );
    assert.deepEqual(
      (await all(b.createRetainedStreamCombi(['p/#']))).map((p) => [p.topic, p.payload!.toString()]),
      [['p/r', 'kept']],
    );
  } finally {
    b.close();
  }
});

test('a dropped session leaves nothing behind, and expiries are listed once due', async () => {
  const file = freshFile();
  const a = new SqlitePersistence(file);
  await a.setup({ id: 'b' });
  const client = { id: 'p/dev' };
  await a.addSubscriptions(client, [{ topic: 'p/x', qos: 1 }]);
  await a.outgoingEnqueue({ clientId: client.id }, { cmd: 'publish', topic: 'p/x', payload: Buffer.from('1'), qos: 1, brokerId: 'b', brokerCounter: 1 });
  a.setExpiry(client.id, 1000);
  a.setExpiry('p/other', 5000);
  assert.deepEqual(a.expiredSessions(999), []);
  assert.deepEqual(a.expiredSessions(1000), [client.id]);
  a.dropSession(client.id);
  assert.deepEqual(a.expiredSessions(10_000), ['p/other']);
  a.close();
  const b = new SqlitePersistence(file);
  await b.setup({ id: 'b2' });
  try {
    assert.deepEqual(await b.subscriptionsByClient(client), []);
    assert.deepEqual(await b.subscriptionsByTopic('p/x'), []);
    assert.deepEqual(await all(b.outgoingStream(client)), []);
  } finally {
    b.close();
  }
});
