import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { modelGateSchema } from '../../core/index.ts';
import { InstanceGate, judge, readEvaluation, topClass, type GateSpec } from './model-gate.ts';

const gate = (o: Record<string, unknown> = {}) => modelGateSchema.parse(o);
const spec = (o: Record<string, unknown> = {}): GateSpec => ({ baseline: { digest: `sha256:${'a'.repeat(64)}`, size: 1, model: 'fashion', version: 1 }, gate: gate(o) });
const figures = { rows: 1000, accuracy: 0.87, baselineAccuracy: 0.875, p50Ms: 0.1, baselineP50Ms: 0.08, p99Ms: 0.2, baselineP99Ms: 0.15 };

test('the gate judges accuracy against the tolerance, and p99 against the bound and the slowdown allowed', () => {
  assert.equal(judge(figures, gate(), 'v1'), undefined);
  assert.match(judge({ ...figures, accuracy: 0.1 }, gate(), 'v1')!, /accuracy 10.00 % on 1000 labelled rows against 87.50 % for v1: 77.50 points lower, more than the 1 allowed/);
  assert.equal(judge({ ...figures, accuracy: 0.86 }, gate({ accuracyTolerance: 2 }), 'v1'), undefined);
  assert.equal(judge({ ...figures, accuracy: 0.871, baselineAccuracy: 0.881 }, gate(), 'v1'), undefined, 'a drop of exactly the tolerance passes (no float residue)');
  assert.match(judge({ ...figures, p50Ms: 0.22 }, gate(), 'v1')!, /median latency 0.22 ms against 0.08 ms for v1: 2.8x slower, more than the 2x allowed/);
  assert.equal(judge({ ...figures, p50Ms: 0.22 }, gate({ maxSlowdown: 3 }), 'v1'), undefined);
  assert.equal(judge({ ...figures, p99Ms: 2 }, gate(), 'v1'), undefined, 'a p99 ten times the current version\'s is a pause of the machine; the median decides');
  assert.match(judge({ ...figures, p99Ms: 2, baselineP99Ms: 1.5 }, gate({ maxP99: '1ms' }), 'v1')!, /p99 latency 2 ms is above the bound of 1ms/);
  assert.match(judge({ error: 'no output gives 10 class scores' }, gate(), 'v1')!, /could not be measured against v1: no output/);
  // Without a labelled set, latency alone.
  assert.equal(judge({ p50Ms: 0.1, baselineP50Ms: 0.08, p99Ms: 0.2, baselineP99Ms: 0.15 }, gate(), 'v1'), undefined);
});

test('a candidate goes from measured to shadowing to passed, and fails on disagreement or a bad measurement', async () => {
  const events: string[] = [];
  const g = new InstanceGate(spec({ shadowRequests: 4, minAgreement: 0.75 }), (e) => e && events.push(e.reason));
  assert.equal(g.status.phase, 'Evaluating');
  await g.measured(async () => figures, () => true);
  assert.equal(g.status.phase, 'Shadowing');
  assert.deepEqual(g.status.shadow, { requests: 0, agreed: 0, wanted: 4 });
  assert.equal(g.status.accuracy, 0.87);
  for (const agreed of [true, true, false]) g.shadowed(agreed);
  assert.equal(g.passed, false);
  g.shadowed(true);
  assert.equal(g.status.phase, 'Passed');
  assert.match(g.status.message, /accuracy 87.00 % against 87.50 % on 1000 labelled rows, p50 0.1 ms against 0.08 ms, p99 0.2 ms against 0.15 ms; the top class agreed with fashion version 1 on 3 of 4 live requests/);
  assert.deepEqual(events, ['ModelGatePassed']);

  const disagrees = new InstanceGate(spec({ shadowRequests: 2 }), () => undefined);
  await disagrees.measured(async () => figures, () => true);
  disagrees.shadowed(false);
  disagrees.shadowed(true);
  assert.equal(disagrees.status.phase, 'Failed');
  assert.match(disagrees.status.message, /1 of 2 live requests \(50.00 %\), below the 90.00 % required/);

  // Nothing to shadow on this node: the labelled measurement decides.
  const alone = new InstanceGate(spec({ shadowRequests: 2 }), () => undefined);
  await alone.measured(async () => figures, () => false);
  assert.equal(alone.status.phase, 'Passed');
  assert.match(alone.status.message, /no live requests to fashion version 1 on this node to shadow/);

  const unread = new InstanceGate(spec(), () => undefined);
  await unread.measured(async () => Promise.reject(new Error('HTTP 503')), () => false);
  assert.equal(unread.status.phase, 'Failed');
  assert.match(unread.status.message, /its figures cannot be read: HTTP 503/);
  // Judged once: a later ready status does not judge again.
  await unread.measured(async () => figures, () => false);
  assert.equal(unread.status.phase, 'Failed');
});

test('the top class of an answer is its first output row 0 argmax', () => {
  assert.equal(topClass({ outputs: [{ name: 'probs', datatype: 'FP32', shape: [1, 3], data: [0.1, 0.7, 0.2] }] }), 1);
  assert.equal(topClass({ outputs: [] }), undefined);
  assert.equal(topClass(undefined), undefined);
});

test("the candidate's figures are read as figures: anything else is an error, whatever its size", async () => {
  let body = '';
  const server = createServer((_req, res) => res.end(body));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const at = { port: (server.address() as AddressInfo).port, model: 'fashion' };
  try {
    body = JSON.stringify({ rows: 1000, accuracy: 0.87, baselineAccuracy: 0.88, p50Ms: 0.1, baselineP50Ms: 0.05, p99Ms: 0.2, baselineP99Ms: 0.1, agreement: 0.9 });
    assert.deepEqual(await readEvaluation(at), { rows: 1000, accuracy: 0.87, baselineAccuracy: 0.88, p50Ms: 0.1, baselineP50Ms: 0.05, p99Ms: 0.2, baselineP99Ms: 0.1 });
    body = JSON.stringify({ error: 'no output gives 10 class scores' });
    assert.deepEqual(await readEvaluation(at), { error: 'no output gives 10 class scores' });
    for (const [bad, why] of [[{ accuracy: '0.9' }, /accuracy is not a figure/], [{ accuracy: 3 }, /accuracy is not a figure/], [{ p99Ms: -1 }, /p99Ms is not a figure/], [{ rows: 'x'.repeat(20_000) }, /bytes is not figures/]] as const) {
      body = JSON.stringify(bad);
      await assert.rejects(readEvaluation(at), why);
    }
  } finally {
    server.close();
  }
});
