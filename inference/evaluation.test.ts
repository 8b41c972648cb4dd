import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeEvalSet } from '../core/eval-set.ts';
import { classifierVariant, tinyClassifier } from '../testkit/index.ts';
import { evaluate, EvaluationError } from './evaluation.ts';
import { ModelSession } from './model-session.ts';

const dir = new URL('../models/fashion-mnist/', import.meta.url);
const full = readFileSync(new URL('full.onnx', dir));
const set = decodeEvalSet(readFileSync(new URL('eval.gevs', dir)));

test('a version measured against itself: the same accuracy, full agreement', async () => {
  const [a, b] = await Promise.all([ModelSession.load(full), ModelSession.load(classifierVariant(full, 'same'))]);
  const f = await evaluate(a, b, set, { latencyRows: 50 });
  assert.equal(f.rows, 1000);
  assert.equal(f.accuracy, f.baselineAccuracy);
  assert.equal(f.agreement, 1);
  assert.ok(f.accuracy > 0.8, `the committed network is ${f.accuracy} accurate on its held-out set`);
  assert.equal(f.latencyRows, 50);
  assert.ok(f.p99Ms >= f.p50Ms && f.baselineP99Ms >= f.baselineP50Ms, JSON.stringify(f));
});

test('a worse version shows its accuracy drop, a slower one its latency, each against the current version', async () => {
  const [current, worse, slower] = await Promise.all([ModelSession.load(full), ModelSession.load(classifierVariant(full, 'relabelled')), ModelSession.load(classifierVariant(full, 'slower'))]);
  const w = await evaluate(worse, current, set, { latencyRows: 20 });
  assert.ok(w.baselineAccuracy - w.accuracy > 0.5, JSON.stringify(w));
  assert.ok(w.agreement < 0.1, 'every answer moved to the next class');
  const s = await evaluate(slower, current, set, { latencyRows: 100 });
  assert.equal(s.accuracy, s.baselineAccuracy, 'the wide branch changes no answer');
  assert.ok(s.p50Ms > s.baselineP50Ms * 3, `the slower version is slower at p50: ${JSON.stringify(s)}`);
});

test('a set that does not feed the model is refused saying why', async () => {
  const [tiny, current] = await Promise.all([ModelSession.load(tinyClassifier()), ModelSession.load(full)]);
  await assert.rejects(evaluate(tiny, current, set), (e: unknown) => e instanceof EvaluationError && /rows feed "pixels" FP32\[784\]; the candidate takes x:FP32\[-1,4\]/.test(e.message));
  await assert.rejects(evaluate(current, current, { ...set, dims: [28, 28] }), (e: unknown) => e instanceof EvaluationError && /rows feed "pixels" FP32\[28,28\]; the candidate takes pixels:FP32\[-1,784\]/.test(e.message));
  await assert.rejects(evaluate(current, current, { ...set, classes: 7 }), (e: unknown) => e instanceof EvaluationError && /no output of the model gives 7 class scores/.test(e.message));
});
