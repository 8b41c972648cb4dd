import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelSession, startInferenceServer } from '../../inference/index.ts';
import { tinyClassifier } from '../../testkit/index.ts';
import { InferenceSampler, quantileMs } from './inference-stats.ts';

test("quantiles from cumulative buckets, as Prometheus' histogram_quantile", () => {
  const b: [number, number][] = [[0.001, 50], [0.002, 90], [0.005, 100], [Infinity, 100]];
  assert.equal(quantileMs(b, 0.5), 1);
  assert.equal(quantileMs(b, 0.7), 1.5);
  assert.equal(quantileMs(b, 0.99), 4.7);
  assert.equal(quantileMs([[0.001, 0], [Infinity, 0]], 0.5), null);
  assert.equal(quantileMs([[0.001, 1], [Infinity, 10]], 0.99), 1, 'past the last finite bound: that bound');
});

let server: Awaited<ReturnType<typeof startInferenceServer>>;
before(async () => {
  server = await startInferenceServer({ name: 'tiny', version: '1', session: await ModelSession.load(tinyClassifier()) }, { batching: { maxBatch: 8, maxDelayMs: 0, maxQueue: 64 } }, { host: '127.0.0.1', port: 0 });
});
after(async () => server?.close());

test("a model server's requests, rows and latency over the window between two samples", async () => {
  const sampler = new InferenceSampler();
  assert.equal(await sampler.sample('i', server.port), undefined, 'the first sample opens the window');
  const infer = (rows: number) =>
    fetch(`http://127.0.0.1:${server.port}/v2/models/tiny/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [{ name: 'x', shape: [rows, 4], datatype: 'FP32', data: new Array(rows * 4).fill(1) }] }) });
  for (let i = 0; i < 10; i++) assert.equal((await infer(3)).status, 200);
  assert.equal((await fetch(`http://127.0.0.1:${server.port}/v2/models/tiny/infer`, { method: 'POST', body: '{}' })).status, 400);
  const s = (await sampler.sample('i', server.port))!;
  assert.equal(s.requests, 10);
  assert.equal(s.errors, 1);
  assert.ok(s.requestsPerSecond > 0 && s.rowsPerSecond > 0 && Math.abs(s.rowsPerSecond / s.requestsPerSecond - 30 / 11) < 0.5, JSON.stringify(s));
  assert.ok(s.p50Ms !== null && s.p99Ms !== null && s.p99Ms >= s.p50Ms && s.p50Ms > 0, JSON.stringify(s));
  const idle = (await sampler.sample('i', server.port))!;
  assert.deepEqual([idle.requestsPerSecond, idle.p50Ms], [0, null], 'nothing in the next window');
  assert.equal(await sampler.sample('other', 1), undefined, 'nothing listening: nothing to say');
});
