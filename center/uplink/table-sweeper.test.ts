import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { waitFor, type Route, type TableRetention } from '../../core/index.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import { openPostgresStore } from '../store/postgres-store.ts';
import type { Store, UplinkRecord } from '../store/store.ts';
import { TableSweeper } from './table-sweeper.ts';

// Real stores: SQLite in memory and the local PostgreSQL; only the sweeper's clock is ours to move.
const PG_URL = process.env.GEDGE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
const HOUR = 3_600_000;
const log = pino({ level: 'silent' });
const schemas: string[] = [];

const records = (from: number, to: number): UplinkRecord[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ seq: from + i, topic: `devices/d/${from + i}`, device: 'd', qos: 1, at: new Date().toISOString(), payload: Buffer.from(`v${from + i}`) }));
const route = (name: string, retention?: TableRetention): Route => ({
  apiVersion: 'gedge.io/v1',
  kind: 'Route',
  metadata: { name, project: 'p', labels: {} },
  spec: { topic: 'devices/#', sink: { type: 'table', ...(retention ? { retention } : {}) } },
});

async function land(store: Store, node: string, name: string, recs: UplinkRecord[]): Promise<number> {
  const uid = (await store.get('Route', 'p', name))?.metadata.uid ?? 'gone';
  return (await store.uplink.record({ node, project: 'p', route: name }, uid, recs, { rows: true })).fresh;
}
const seqs = async (store: Store, name: string) => (await store.uplink.messages('p', name, { after: 0, limit: 1000 })).map((m) => `${m.node}:${m.seq}`);
const range = (node: string, from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `${node}:${from + i}`);

/** Lands `first`, waits until the clock has moved past it, lands `second`; returns when the second batch landed. */
async function twoGenerations(store: Store, name: string, first: () => Promise<void>, second: () => Promise<void>): Promise<number> {
  await first();
  const lastOld = Date.parse((await store.uplink.messages('p', name, { limit: 1 }))[0]!.receivedAt);
  await waitFor(() => Date.now() > lastOld + 1, 1000, 'the clock to move');
  await second();
  return Date.parse((await store.uplink.messages('p', name, { after: 0, limit: 1000 })).find((m) => Date.parse(m.receivedAt) > lastOld)!.receivedAt);
}

function suite(name: string, open: () => Promise<Store>): void {
  const withStore = (title: string, fn: (s: Store, clock: { now: number }, sweeper: TableSweeper) => Promise<void>, chunks = { deleteChunk: 7, countStep: 4 }) =>
    test(`${name}: ${title}`, async () => {
      const store = await open();
      const clock = { now: Date.now() };
      const sweeper = new TableSweeper(store, log, { everyMs: HOUR, now: () => clock.now, ...chunks });
      try {
        await fn(store, clock, sweeper);
      } finally {
        await sweeper.close();
        await store.close();
      }
    });

  withStore('rows older than maxAge go in chunks, newer ones stay, and the progress still skips a resent batch', async (store, clock, sweeper) => {
    await store.create(route('r', { maxAge: '1h' }));
    const newFrom = await twoGenerations(
      store,
      'r',
      async () => {
        await land(store, 'n1', 'r', records(1, 30));
        await land(store, 'n2', 'r', records(1, 12));
      },
      async () => {
        await land(store, 'n1', 'r', records(31, 35));
        await land(store, 'n2', 'r', records(13, 14));
      },
    );

    clock.now = newFrom + HOUR - 1;
    assert.deepEqual([...(await sweeper.sweep())], [['p/r', 42]], 'the 42 older rows, in chunks of 7');
    assert.deepEqual(await seqs(store, 'r'), [...range('n1', 31, 35), ...range('n2', 13, 14)]);
    assert.deepEqual([...(await sweeper.sweep())], [], 'a second sweep has nothing to do');

    // Dedup lives in the progress table, which the sweep leaves alone.
    assert.equal(await store.uplink.progress({ node: 'n1', project: 'p', route: 'r' }), 35);
    assert.equal(await land(store, 'n1', 'r', records(1, 35)), 0, 'a resent batch is still skipped');
    assert.equal(await land(store, 'n1', 'r', records(36, 36)), 1);

    // Paging from a cursor that points into the deleted range still works.
    const page1 = await store.uplink.messages('p', 'r', { after: 1, limit: 3 });
    assert.deepEqual(page1.map((m) => `${m.node}:${m.seq}`), range('n1', 31, 33));
    const page2 = await store.uplink.messages('p', 'r', { after: page1.at(-1)!.id, limit: 10 });
    assert.deepEqual(page2.map((m) => `${m.node}:${m.seq}`), [...range('n1', 34, 35), ...range('n2', 13, 14), 'n1:36']);

    clock.now = Date.now() + HOUR + 1000;
    assert.deepEqual([...(await sweeper.sweep())], [['p/r', 8]]);
    assert.deepEqual(await seqs(store, 'r'), []);
  });

  withStore('maxMessages keeps the newest rows of the route across nodes; other routes are untouched', async (store, _clock, sweeper) => {
    await store.create(route('r', { maxAge: '1h', maxMessages: 13 }));
    await store.create(route('other', { maxAge: '1h', maxMessages: 1000 }));
    await land(store, 'n1', 'r', records(1, 20));
    await land(store, 'n2', 'r', records(1, 20));
    await land(store, 'n1', 'other', records(1, 30));
    await land(store, 'n1', 'r', records(21, 25));

    // 13 counted down in steps of 4 (4, 4, 4, 1); 32 deleted in chunks of 7.
    assert.deepEqual([...(await sweeper.sweep())], [['p/r', 32]]);
    assert.deepEqual(await seqs(store, 'r'), [...range('n2', 13, 20), ...range('n1', 21, 25)]);
    assert.equal((await seqs(store, 'other')).length, 30);
    const first = await store.uplink.messages('p', 'r', { after: 0, limit: 5 });
    const second = await store.uplink.messages('p', 'r', { after: first.at(-1)!.id, limit: 5 });
    const third = await store.uplink.messages('p', 'r', { after: second.at(-1)!.id, limit: 5 });
    assert.deepEqual([first.length, second.length, third.length], [5, 5, 3]);
    assert.deepEqual(await store.uplink.messages('p', 'r', { limit: 2 }).then((m) => m.map((x) => x.seq)), [24, 25], 'the newest page');
    assert.equal(await store.uplink.progress({ node: 'n2', project: 'p', route: 'r' }), 20);
    assert.equal(await land(store, 'n2', 'r', records(1, 20)), 0, 'deleted rows do not come back on a resend');
  });

  withStore('a route without retention keeps 7 days; a deleted route keeps its rows 7 days too; a longer retention is honoured', async (store, clock, sweeper) => {
    await store.create(route('plain'));
    await store.create(route('gone'));
    await store.create(route('long', { maxAge: '30d' }));
    for (const r of ['plain', 'gone', 'long']) await land(store, 'n1', r, records(1, 9));
    await store.delete('Route', 'p', 'gone');

    clock.now = Date.now() + 167 * HOUR;
    assert.deepEqual([...(await sweeper.sweep())], [], 'not yet 7 days');
    clock.now = Date.now() + 169 * HOUR;
    assert.deepEqual([...(await sweeper.sweep())], [['p/gone', 9], ['p/plain', 9]]);
    assert.equal((await seqs(store, 'long')).length, 9);
  });
}

suite('sqlite', () => openSqliteStore(':memory:'));
suite('postgres', () => {
  const schema = `gedge_test_${randomBytes(4).toString('hex')}`;
  schemas.push(schema);
  return openPostgresStore(PG_URL, schema);
});

test('sqlite: a large sweep with the default chunks deletes everything due and lets timers run meanwhile', async () => {
  const store = await openSqliteStore(':memory:');
  const clock = { now: Date.now() };
  const sweeper = new TableSweeper(store, log, { everyMs: HOUR, now: () => clock.now });
  try {
    await store.create(route('big', { maxAge: '1h', maxMessages: 12_345 }));
    for (let from = 1; from <= 30_000; from += 10_000) await land(store, 'n1', 'big', records(from, from + 9_999));
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 0);
    const report = await sweeper.sweep();
    clearInterval(ticker);
    assert.deepEqual([...report], [['p/big', 30_000 - 12_345]]);
    assert.ok(ticks >= 10, `timers ran ${ticks} times during the sweep`);
    const left = await store.uplink.messages('p', 'big', { after: 0, limit: 1 });
    assert.equal(left[0]!.seq, 30_000 - 12_345 + 1);
    clock.now = Date.now() + 2 * HOUR;
    assert.deepEqual([...(await sweeper.sweep())], [['p/big', 12_345]]);
  } finally {
    await sweeper.close();
    await store.close();
  }
});

after(async () => {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await client.end();
});
