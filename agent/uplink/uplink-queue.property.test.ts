import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { UplinkQueue } from './uplink-queue.ts';

const ROUTES = ['a', 'b', 'c'] as const;
type Op =
  | { t: 'append'; route: string }
  | { t: 'deliver'; route: string; max: number; take: number }
  | { t: 'ack-stale'; route: string }
  | { t: 'drop-route'; route: string }
  | { t: 'reopen' };

const route = fc.constantFrom(...ROUTES);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: route.map((r) => ({ t: 'append' as const, route: r })) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('deliver' as const), route, max: fc.integer({ min: 1, max: 6 }), take: fc.integer({ min: 0, max: 6 }) }) },
  { weight: 1, arbitrary: route.map((r) => ({ t: 'ack-stale' as const, route: r })) },
  { weight: 1, arbitrary: route.map((r) => ({ t: 'drop-route' as const, route: r })) },
  { weight: 1, arbitrary: fc.constant({ t: 'reopen' as const }) },
);

// A model of the queue: every message held, in seq order. batch() must return
// a prefix of a route's messages, ack() must drop exactly that route's
// prefix, eviction (drop-oldest) the global head; nothing else may vanish or
// move, across reopens of the file.
test('property: batch/ack/drop/reopen never lose, duplicate or reorder messages, and counters add up', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: 60 }), fc.constantFrom('always' as const, 'batch' as const, 'off' as const), fc.integer({ min: 3, max: 12 }), async (ops, fsync, maxMessages) => {
      const dir = mkdtempSync(join(tmpdir(), 'gedge-uplink-prop-'));
      const options = { fsync, maxMessages, overflow: 'drop-oldest' as const };
      let q = UplinkQueue.open(dir, options);
      const model: { seq: number; route: string; text: string }[] = [];
      const totals = { enqueued: 0, delivered: 0, droppedOverflow: 0, droppedRouteGone: 0 };
      let lastSeq = 0;
      let n = 0;
      const ofRoute = (r: string) => model.filter((m) => m.route === r);
      const remove = (pred: (m: (typeof model)[number]) => boolean) => {
        const before = model.length;
        for (let i = model.length - 1; i >= 0; i--) if (pred(model[i]!)) model.splice(i, 1);
        return before - model.length;
      };
      try {
        for (const o of ops) {
          if (o.t === 'append') {
            const text = `m${n++}`;
            const seq = q.append({ project: 'p', route: o.route, topic: 't', payload: Buffer.from(text), qos: 1 });
            assert.ok(typeof seq === 'number' && seq > lastSeq, 'seq strictly increases');
            lastSeq = seq;
            if (model.length === maxMessages) {
              model.shift();
              totals.droppedOverflow++;
            }
            model.push({ seq, route: o.route, text });
            totals.enqueued++;
          } else if (o.t === 'deliver') {
            const batch = q.batch({ project: 'p', route: o.route }, o.max, Number.MAX_SAFE_INTEGER);
            const expected = ofRoute(o.route).slice(0, o.max);
            assert.deepEqual(batch.map((m) => [m.seq, m.payload.toString()]), expected.map((m) => [m.seq, m.text]));
            const take = Math.min(o.take, batch.length);
            if (take) {
              const upTo = batch[take - 1]!.seq;
              const acked = remove((m) => m.route === o.route && m.seq <= upTo);
              assert.equal(q.ack('p', o.route, upTo), acked);
              totals.delivered += acked;
            }
          } else if (o.t === 'ack-stale') {
            assert.equal(q.ack('p', o.route, (ofRoute(o.route)[0]?.seq ?? 1) - 1), 0);
          } else if (o.t === 'drop-route') {
            const dropped = remove((m) => m.route === o.route);
            assert.equal(q.dropRoute('p', o.route), dropped);
            totals.droppedRouteGone += dropped;
          } else {
            q.close();
            q = UplinkQueue.open(dir, options);
            // Counters restart with the process; depth is read back from the file.
            totals.enqueued = totals.delivered = totals.droppedOverflow = totals.droppedRouteGone = 0;
          }
          const s = q.stats();
          assert.equal(s.depthMessages, model.length);
          assert.equal(s.depthBytes, model.reduce((sum, m) => sum + m.text.length + 1, 0));
          assert.deepEqual({ enqueued: s.enqueued, delivered: s.delivered, droppedOverflow: s.droppedOverflow, droppedRouteGone: s.droppedRouteGone }, totals);
          assert.deepEqual(q.backlog().map((k) => k.route).sort(), [...new Set(model.map((m) => m.route))].sort());
        }
        // Draining delivers exactly what the model holds, per route in order.
        for (const r of ROUTES) {
          const all = q.batch({ project: 'p', route: r }, 1000, Number.MAX_SAFE_INTEGER);
          assert.deepEqual(all.map((m) => m.payload.toString()), ofRoute(r).map((m) => m.text));
        }
      } finally {
        q.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 60 },
  );
});
