import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { waitFor, type Instance } from '../../core/index.ts';
import { instance, node, site } from '../../scheduler/test-helpers.ts';
import { createMetrics } from '../metrics.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import { openPostgresStore } from '../store/postgres-store.ts';
import type { Store } from '../store/store.ts';
import { ControllerManager } from './manager.ts';

const PG_URL = process.env.GEDGE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
const stores: [string, () => Promise<{ store: Store; drop: () => Promise<void> }>][] = [
  ['sqlite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gedge-placement-'));
    const store = await openSqliteStore(join(dir, 'center.db'));
    return { store, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }],
  // PostgreSQL too: its writes are round trips, during which other placements decide.
  ['postgres', async () => {
    const schema = `gedge_test_${randomBytes(4).toString('hex')}`;
    const store = await openPostgresStore(PG_URL, schema);
    return {
      store,
      drop: async () => {
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await client.end();
      },
    };
  }],
];

for (const [dialect, open] of stores) test(`${dialect}: placements that write several at a time never overcommit a node: 40 instances of a quarter core on three 2.5-core nodes bind 30, and 10 wait with the reason`, async (t) => {
  const { store, drop } = await open();
  t.after(async () => {
    await store.close();
    await drop();
  });
  await store.create(site('site-a'));
  for (const name of ['n1', 'n2', 'n3']) {
    const n = node(name, { capacity: { cpu: 2.5, memoryMiB: 64 * 1024 } });
    await store.create(n);
    await store.updateStatus('Node', undefined, name, n.status!);
  }
  const manager = new ControllerManager(store, pino({ level: 'silent' }), createMetrics(), {
    notReadyAfterMs: 3_600_000, evictAfterMs: 3_600_000, seenAt: () => Date.now(), startedAt: Date.now(),
    tickMs: 1000, resyncMs: 3_600_000, rebalance: { periodMs: 3_600_000, minGain: 10, maxMoves: 0 }, commandRetentionMs: 60_000,
  });
  await manager.start();
  t.after(() => manager.stop());
  // All at once, as a batch apply makes them: the placement runner has four of them in flight at a time (not a divisor of 10).
  // Bare instances (no service owns them, so none is collected or replaced).
  const bare = (name: string): Instance => {
    const i = instance(name, { want: { cpu: 0.25 } });
    return { ...i, metadata: { ...i.metadata, labels: {} }, spec: { ...i.spec, service: undefined } };
  };
  await Promise.all(Array.from({ length: 40 }, (_, i) => store.create(bare(`q-${i}`))));

  const all = () => store.list('Instance').then((p) => p.items);
  const settled = await waitFor(async () => {
    const items = await all();
    return items.length === 40 && items.every((i) => i.spec.node || i.status?.message?.startsWith('unschedulable')) ? items : undefined;
  }, 30_000, 'every instance bound or told why not');
  const perNode = new Map<string, number>();
  for (const i of settled) if (i.spec.node) perNode.set(i.spec.node, (perNode.get(i.spec.node) ?? 0) + 1);
  assert.deepEqual([...perNode.values()].sort(), [10, 10, 10], `${JSON.stringify([...perNode])}: 2.5 cores hold 10 quarter cores, no more`);
  const waiting = settled.filter((i) => !i.spec.node);
  assert.equal(waiting.length, 10);
  for (const w of waiting) assert.match(w.status!.message!, /^unschedulable: 0\/3 nodes: 3 insufficient cpu/);
});
