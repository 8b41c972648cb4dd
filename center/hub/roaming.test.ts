import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor, type CenterMessage, type Device, type RoamedSession } from '../../core/index.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import { RoamingRelay } from './roaming.ts';

const session: RoamedSession = { subscriptions: [{ topic: 'devices/car/inbox', qos: 1 }], queued: [{ topic: 'devices/car/inbox', payload: 'aGk=', qos: 1 }], dropped: 0 };
const msg = { topic: 'devices/car/inbox', payload: 'eW8=', qos: 1 as const };

/** Connected nodes and what each was sent; `drop` takes one off (its connection closed). */
function nodes(...names: string[]) {
  const sent = new Map<string, CenterMessage[]>(names.map((n) => [n, []]));
  const conns = new Map(names.map((n) => [n, { node: n, via: {}, send: (m: CenterMessage) => void sent.get(n)!.push(m) }]));
  return { sent, conn: (n: string) => conns.get(n)!, lookup: (n: string) => conns.get(n), drop: (n: string) => conns.delete(n) };
}

async function relay(n: ReturnType<typeof nodes>, timeoutMs = 5000) {
  const store = await openSqliteStore(':memory:');
  await store.create({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: 'car', project: 'p', labels: {} }, spec: { site: 'a', roaming: { sites: ['b'] }, description: '', grants: { publish: [], subscribe: [] }, twin: { desired: {} } } } as unknown as Device);
  await store.updateStatus('Device', 'p', 'car', { connected: false, node: 'na', reported: {}, reportedVersion: 0, desiredAckVersion: 0, denied: 0 });
  const counts = { moved: 0, none: 0, unavailable: 0, relayed: 0, dropped: 0 };
  const r = new RoamingRelay(store, n.lookup, { pulls: (o) => void counts[o]++, forwards: (o, k) => void (counts[o] += k) }, timeoutMs);
  return { r, counts, close: () => store.close() };
}
const of = (sent: CenterMessage[], t: CenterMessage['t']) => sent.filter((m) => m.t === t);

test('a pull asks the node that held the session (the one the device was last seen at), and relays its answer to the puller', async () => {
  const n = nodes('na', 'nb');
  const { r, counts, close } = await relay(n);
  try {
    const pulled = r.pull(n.conn('nb'), { id: 7, project: 'p', device: 'car', clean: false });
    const ask = await waitFor(() => of(n.sent.get('na')!, 'roam.export')[0], 1000, 'the export asked of na');
    assert.deepEqual(ask, { t: 'roam.export', id: (ask as { id: number }).id, project: 'p', device: 'car', clean: false });
    assert.equal(r.answer('nb', (ask as { id: number }).id, session), false, 'only the node asked answers');
    assert.equal(r.answer('na', (ask as { id: number }).id, session), true);
    await pulled;
    const got = of(n.sent.get('nb')!, 'roam.pulled') as Extract<CenterMessage, { t: 'roam.pulled' }>[];
    assert.deepEqual(got, [{ t: 'roam.pulled', id: 7, project: 'p', device: 'car', session, ack: got[0]!.ack, from: 'na' }]);
    assert.equal(counts.moved, 1);
    // Once nb says it stored it (and only nb may), na is told it may forget its copy.
    assert.equal(r.imported('na', got[0]!.ack!), false);
    assert.equal(r.imported('nb', got[0]!.ack!), true);
    assert.deepEqual(of(n.sent.get('na')!, 'roam.confirmed'), [{ t: 'roam.confirmed', id: (ask as { id: number }).id }]);
    assert.equal(r.imported('nb', got[0]!.ack!), false, 'once');

    // nb holds it now: what na forwards goes to nb; what nb itself forwards comes back to it.
    await r.forward(n.conn('na'), { project: 'p', device: 'car', hops: 0, messages: [msg] });
    await r.forward(n.conn('nb'), { project: 'p', device: 'car', hops: 0, messages: [msg] });
    assert.equal(of(n.sent.get('nb')!, 'roam.forward').length, 2);
    assert.equal(counts.relayed, 2);
  } finally {
    await close();
  }
});

test('steps for one device run in order: a forward sent during a hand-over goes to the new holder', async () => {
  const n = nodes('na', 'nb');
  const { r, close } = await relay(n);
  try {
    const pulled = r.pull(n.conn('nb'), { id: 1, project: 'p', device: 'car', clean: false });
    const forwarded = r.forward(n.conn('na'), { project: 'p', device: 'car', hops: 0, messages: [msg] });
    const ask = await waitFor(() => of(n.sent.get('na')!, 'roam.export')[0] as { id: number } | undefined, 1000, 'the export');
    assert.equal(of(n.sent.get('nb')!, 'roam.forward').length, 0, 'the forward waits for the hand-over');
    r.answer('na', ask.id, session);
    await Promise.all([pulled, forwarded]);
    assert.deepEqual(n.sent.get('nb')!.map((m) => m.t), ['roam.pulled', 'roam.forward']);
  } finally {
    await close();
  }
});

test('a holder that is not connected, or does not answer in time, leaves the puller without the session; a late answer still reaches the holder', async () => {
  const n = nodes('na', 'nb');
  const { r, counts, close } = await relay(n, 100);
  try {
    await r.pull(n.conn('nb'), { id: 1, project: 'p', device: 'car', clean: false });
    const first = of(n.sent.get('nb')!, 'roam.pulled')[0] as { session: unknown; error: string };
    assert.equal(first.session, null);
    assert.match(first.error, /did not hand it over within 0.1 s/);
    // The late answer: the session goes to nb, whom the center knows as the holder now.
    const ask = of(n.sent.get('na')!, 'roam.export')[0] as { id: number };
    assert.equal(r.answer('na', ask.id, session), true);
    const late = of(n.sent.get('nb')!, 'roam.pulled')[1] as Extract<CenterMessage, { t: 'roam.pulled' }>;
    assert.deepEqual(late, { t: 'roam.pulled', id: 0, project: 'p', device: 'car', session, from: 'na', ack: late.ack });
    assert.equal(r.imported('nb', late.ack!), true);
    assert.deepEqual(of(n.sent.get('na')!, 'roam.confirmed'), [{ t: 'roam.confirmed', id: ask.id }]);

    n.drop('nb');
    await r.pull(n.conn('na'), { id: 2, project: 'p', device: 'car', clean: false });
    assert.match((of(n.sent.get('na')!, 'roam.pulled')[0] as { error: string }).error, /node "nb", which held the session, is not connected/);
    assert.equal(counts.unavailable, 2);
  } finally {
    await close();
  }
});

test("a puller gone before the answer: the session goes back to the node it came from; a forward with no connected holder is dropped", async () => {
  const n = nodes('na', 'nb');
  const { r, counts, close } = await relay(n);
  try {
    const nb = n.conn('nb');
    const pulled = r.pull(nb, { id: 3, project: 'p', device: 'car', clean: false });
    const ask = await waitFor(() => of(n.sent.get('na')!, 'roam.export')[0] as { id: number } | undefined, 1000, 'the export');
    n.drop('nb');
    r.answer('na', ask.id, session);
    await pulled;
    const back = of(n.sent.get('na')!, 'roam.pulled') as Extract<CenterMessage, { t: 'roam.pulled' }>[];
    assert.deepEqual(back, [{ t: 'roam.pulled', id: 0, project: 'p', device: 'car', session, from: 'na', ack: back[0]!.ack }]);
    // na holds it again: its own forwards come back to it; nb, gone, gets nothing.
    await r.forward(n.conn('na'), { project: 'p', device: 'car', hops: 0, messages: [msg] });
    assert.equal(of(n.sent.get('na')!, 'roam.forward').length, 1);
    n.drop('na');
    await r.forward(nb, { project: 'p', device: 'car', hops: 0, messages: [msg, msg] });
    assert.equal(counts.dropped, 2);
  } finally {
    await close();
  }
});
