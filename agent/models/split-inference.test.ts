import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headParts, SPLIT_MAX_VALUES, tailAnswer } from './split-inference.ts';
import { OffloadFailedError } from './offload-client.ts';

const split = { exitOutput: 'exit', cutOutput: 'cut' };
const out = (name: string, shape: number[], data: number[]) => ({ name, datatype: 'FP32', shape, data });

test("a split head's answer is taken only when its exit and cut agree with each other and their shapes", () => {
  const ok = headParts({ outputs: [out('exit', [2, 3], [0.2, 0.3, 0.5, 1, 0, 0]), out('cut', [2, 2], [1, 2, 3, 4])] }, split);
  assert.deepEqual(ok, { rows: 2, classes: 3, width: 2, exit: [0.2, 0.3, 0.5, 1, 0, 0], cut: [1, 2, 3, 4] });
  assert.match(String(headParts({ outputs: [out('probs', [1, 3], [1, 0, 0])] }, split)), /not a split head: it needs outputs "exit" \[rows, classes\] and "cut"/);
  assert.match(String(headParts({ outputs: [out('exit', [2, 3], [1, 0, 0, 1, 0, 0]), out('cut', [1, 2], [1, 2])] }, split)), /not a split head/, 'rows differ');
  assert.match(String(headParts({ outputs: [out('exit', [2, 3], [1, 0, 0]), out('cut', [2, 2], [1, 2, 3, 4])] }, split)), /data does not match their shapes/);
  const rows = SPLIT_MAX_VALUES / 8 + 1;
  assert.match(String(headParts({ outputs: [out('exit', [rows, 8], new Array(rows * 8).fill(0)), out('cut', [rows, 1], new Array(rows).fill(0))] }, split)), /^a split request holds at most 8192 rows/);
});

test("the tail's answer is taken only when it is probabilities for exactly the rows sent", () => {
  assert.deepEqual(tailAnswer([out('probs', [1, 2], [0.25, 0.75])], 1, 2), [0.25, 0.75]);
  const refused = (outputs: ReturnType<typeof out>[], why: RegExp) => assert.throws(() => tailAnswer(outputs, 1, 2), (e: unknown) => e instanceof OffloadFailedError && e.code === 502 && why.test(e.message));
  refused([], /answered \[\] for 1 rows of 2 classes/);
  refused([out('probs', [2, 1], [0.5, 0.5])], /answered \[2, 1\]/);
  refused([out('probs', [1, 2], [0.5])], /answered \[1, 2\]/);
  refused([out('probs', [1, 2], [1e308, -1])], /not probabilities/);
});
