import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { decodeEvalSet, encodeEvalSet, EVAL_SET_MAX_BYTES, EvalSetFormatError, looksLikeEvalSet, MAX_EVAL_VALUES } from './eval-set.ts';

const sample = () => ({ input: 'pixels', dims: [2, 3], rows: 2, classes: 4, values: Float32Array.from({ length: 12 }, (_, i) => i / 2), labels: Int32Array.from([3, 0]) });

test('an evaluation set reads back as written, plain or gzip-compressed', () => {
  const raw = encodeEvalSet(sample());
  for (const file of [raw, gzipSync(raw)]) {
    assert.ok(looksLikeEvalSet(file));
    const s = decodeEvalSet(file);
    assert.deepEqual({ ...s, values: [...s.values], labels: [...s.labels] }, { ...sample(), values: [...sample().values], labels: [3, 0] });
  }
  // An odd offset in a larger buffer reads the same (values are copied out, not viewed unaligned).
  const shifted = Buffer.concat([Buffer.from([9]), raw]).subarray(1);
  assert.deepEqual([...decodeEvalSet(shifted).values], [...sample().values]);
});

test('a file that does not add up is refused saying what is wrong', () => {
  const raw = encodeEvalSet(sample());
  const refused = (b: Uint8Array, why: RegExp) => assert.throws(() => decodeEvalSet(b), (e: unknown) => e instanceof EvalSetFormatError && why.test(e.message));
  refused(Buffer.from('ONNX....'), /does not start with "GEVS"/);
  refused(raw.subarray(0, 20), /the file ends at byte 20|make \d+ bytes; the file has 20/);
  refused(Buffer.concat([raw, Buffer.from([0])]), /the file has \d+/);
  const badLabel = Buffer.from(raw);
  badLabel.writeInt32LE(7, raw.length - 8);
  refused(badLabel, /row 0's label 7 is not a class from 0 to 3/);
  const nan = Buffer.from(raw);
  nan.writeFloatLE(Number.NaN, raw.length - 8 - 4);
  refused(nan, /value 11 \(row 1\) is not a finite number/);
  const version = Buffer.from(raw);
  version[4] = 2;
  refused(version, /format version 2/);
  // Declared rows past the bound are refused before any allocation; a gzip bomb stops at the same bound.
  const huge = encodeEvalSet({ input: 'x', dims: [1], rows: 1, classes: 2, values: Float32Array.from([0]), labels: Int32Array.from([0]) });
  huge.writeUInt32LE(MAX_EVAL_VALUES + 1, 4 + 1 + 1 + 2 + 1 + 1 + 4);
  refused(huge, /rows/);
  refused(gzipSync(Buffer.alloc(EVAL_SET_MAX_BYTES + 1)), /does not unpack within/);
});
