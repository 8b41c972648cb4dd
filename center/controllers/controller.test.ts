import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { waitFor } from '../../core/index.ts';
import { createMetrics } from '../metrics.ts';
import { ControllerRunner, type Reconciler } from './controller.ts';

function runner(): { r: ControllerRunner; runs: string[] } {
  const runs: string[] = [];
  const reconciler: Reconciler = { name: 'probe', reconcile: async (key) => void runs.push(key) };
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
