import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { waitFor } from '../../core/index.ts';
import { createMetrics } from '../metrics.ts';
import { ControllerRunner, type Reconciler } from './controller.ts';

function runner(): { r: ControllerRunner; runs: string[] } {
  const runs: string[] = [];
  const reconciler: Reconciler = { name: 'probe', watches: [], reconcile: async (key) => void runs.push(key) };
  return { r: new ControllerRunner(reconciler, pino({ level: 'silent' }), createMetrics()), runs };
}

test('enqueueAfter: a sooner request replaces a later pending one; a later one does not push it back', async () => {
  const { r, runs } = runner();
  try {
    const start = Date.now();
    r.enqueueAfter('k', 60_000);
    r.enqueueAfter('k', 30);
    r.enqueueAfter('k', 60_000);
    await waitFor(() => runs.length === 1, 2000, 'the sooner run');
    assert.ok(Date.now() - start < 2000);
    assert.deepEqual(runs, ['k']);
    // The 60 s timers were replaced, not kept: nothing else is pending for the key, so a new short one runs too.
    r.enqueueAfter('k', 10);
    await waitFor(() => runs.length === 2, 2000, 'a second run');
  } finally {
    r.stop();
  }
});

test('concurrency: distinct keys reconcile side by side up to the limit, one key never twice at once, and a key enqueued meanwhile runs again after', async () => {
  /** Each reconcile waits until the test releases it, so what runs at once is what the runner started. */
  const running = new Map<string, () => void>();
  const runs: string[] = [];
  let overlap = false;
  const reconciler: Reconciler = {
    name: 'gated',
    watches: [],
    reconcile: (key) =>
      new Promise<void>((resolve) => {
        if (running.has(key)) overlap = true;
        runs.push(key);
        running.set(key, () => {
          running.delete(key);
          resolve();
        });
      }),
  };
  const r = new ControllerRunner(reconciler, pino({ level: 'silent' }), createMetrics(), 3);
  try {
    for (const k of ['a', 'b', 'c', 'd', 'e']) r.enqueue(k);
    await waitFor(() => running.size === 3, 2000, 'three at once');
    assert.deepEqual([...running.keys()].sort(), ['a', 'b', 'c']);
    r.enqueue('a'); // again, while it runs
    running.get('a')!();
    await waitFor(() => running.size === 3 && running.has('d'), 2000, 'd takes the freed place');
    assert.ok(!running.has('a'), 'a waits: it is queued behind d and e');
    for (const k of ['b', 'c', 'd']) running.get(k)!();
    await waitFor(() => running.has('e') && running.has('a'), 2000, 'e and a again');
    running.get('e')!();
    running.get('a')!();
    await waitFor(() => running.size === 0 && runs.length === 6, 2000, 'all done');
    assert.deepEqual([...runs].sort(), ['a', 'a', 'b', 'c', 'd', 'e']);
    assert.equal(overlap, false, 'never two reconciles of one key at once');
  } finally {
    r.stop();
  }
});
