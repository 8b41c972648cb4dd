import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UnavailableError } from '../core/index.ts';
import { Batcher } from './batcher.ts';
import type { Tensor } from './tensors.ts';

/** Rows of one feature, each the row's own number: a run doubles them, so every caller can check it got its own rows back. */
const rows = (...v: number[]): Record<string, Tensor> => ({ x: { datatype: 'FP32', dims: [v.length, 1], data: Float32Array.from(v) } });
const values = (out: Record<string, Tensor>) => Array.from(out.y!.data as Float32Array);

/** A model whose runs finish only when the test says: what is batched with what depends on nothing but the order of events. */
function heldModel() {
  const runs: { rows: number[]; release: () => void }[] = [];
  const run = (feeds: Record<string, Tensor>) =>
    new Promise<Record<string, Tensor>>((resolve) => {
      const x = feeds.x!;
      runs.push({ rows: Array.from(x.data as Float32Array), release: () => resolve({ y: { datatype: 'FP32', dims: x.dims, data: (x.data as Float32Array).map((v) => v * 2) } }) });
    });
  return { runs, run };
}

const until = async (cond: () => boolean) => {
  while (!cond()) await new Promise((r) => setImmediate(r));
};

test('requests that queue behind a run go as one next run, each caller getting back its own rows', async () => {
  const m = heldModel();
  const b = new Batcher(m.run, { maxBatch: 16, maxDelayMs: 0, maxQueue: 100 });
  const first = b.infer(rows(1), 1);
  await until(() => m.runs.length === 1);
  const later = [b.infer(rows(2), 1), b.infer(rows(3, 4), 2), b.infer(rows(5), 1)];
  m.runs[0]!.release();
  assert.deepEqual(values(await first), [2]);
  await until(() => m.runs.length === 2);
  assert.deepEqual(m.runs[1]!.rows, [2, 3, 4, 5], 'the three queued requests ran as one');
  m.runs[1]!.release();
  assert.deepEqual((await Promise.all(later)).map(values), [[4], [6, 8], [10]]);
});

test('a run takes at most maxBatch rows; a request larger than that runs alone', async () => {
  const m = heldModel();
  const b = new Batcher(m.run, { maxBatch: 3, maxDelayMs: 0, maxQueue: 100 });
  const blocker = b.infer(rows(0), 1);
  await until(() => m.runs.length === 1);
  const queued = [b.infer(rows(1, 2), 2), b.infer(rows(3, 4), 2), b.infer(rows(5, 6, 7, 8), 4)];
  m.runs[0]!.release();
  await blocker;
  for (const expected of [[1, 2], [3, 4], [5, 6, 7, 8]]) {
    await until(() => m.runs.length > 1 && m.runs.at(-1)!.rows.join() === expected.join());
    m.runs.at(-1)!.release();
  }
  assert.deepEqual((await Promise.all(queued)).map(values), [[2, 4], [6, 8], [10, 12, 14, 16]]);
});

test('with maxDelay, the first request waits for others until maxBatch rows are there', async () => {
  const m = heldModel();
  const b = new Batcher(m.run, { maxBatch: 4, maxDelayMs: 60_000, maxQueue: 100 });
  const all = [b.infer(rows(1), 1), b.infer(rows(2), 1), b.infer(rows(3), 1)];
  await new Promise((r) => setImmediate(r));
  assert.equal(m.runs.length, 0, 'three rows of four: still waiting');
  all.push(b.infer(rows(4), 1));
  await until(() => m.runs.length === 1);
  assert.deepEqual(m.runs[0]!.rows, [1, 2, 3, 4]);
  m.runs[0]!.release();
  assert.deepEqual((await Promise.all(all)).map(values), [[2], [4], [6], [8]]);
});

test('past maxQueue a request is refused at once (503), and a failed run fails only its own requests', async () => {
  const m = heldModel();
  const b = new Batcher(m.run, { maxBatch: 8, maxDelayMs: 0, maxQueue: 2 });
  const running = b.infer(rows(1), 1);
  await until(() => m.runs.length === 1);
  const waiting = [b.infer(rows(2), 1), b.infer(rows(3), 1)];
  await assert.rejects(b.infer(rows(4), 1), UnavailableError);
  m.runs[0]!.release();
  await running;

  const failing = new Batcher(() => Promise.reject(new Error('boom')), { maxBatch: 8, maxDelayMs: 0, maxQueue: 8 });
  await assert.rejects(failing.infer(rows(1), 1), /boom/);
  await until(() => m.runs.length === 2);
  m.runs[1]!.release();
  assert.deepEqual((await Promise.all(waiting)).map(values), [[4], [6]]);
});
