import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import onnxProto from 'onnx-proto';
import { ValidationError } from '../../core/index.ts';
import { tinyClassifier } from '../../testkit/index.ts';
import { onnxSignature } from './onnx-signature.ts';

const { onnx } = onnxProto;

test("a model's inputs and outputs, with open dimensions as -1", () => {
  assert.deepEqual(onnxSignature(tinyClassifier({ features: 7, classes: 5 })), {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 7] }],
    outputs: [{ name: 'probs', datatype: 'FP32', shape: [-1, 5] }],
  });
});

test('initializers an older exporter also lists as graph inputs are weights, not inputs', () => {
  const m = onnx.ModelProto.decode(tinyClassifier());
  const w = onnx.ValueInfoProto.create({ name: 'W', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 4 }, { dimValue: 3 }] } } } });
  m.graph!.input!.push(w);
  assert.deepEqual(onnxSignature(onnx.ModelProto.encode(m).finish()).inputs.map((t) => t.name), ['x']);
});

test('what is not a model ONNX Runtime could serve is refused saying why', () => {
  const m = onnx.ModelProto.decode(tinyClassifier());
  m.graph!.output = [];
  assert.throws(() => onnxSignature(onnx.ModelProto.encode(m).finish()), /not an ONNX model: its graph has no output/);
  const old = onnx.ModelProto.decode(tinyClassifier());
  old.irVersion = 2;
  assert.throws(() => onnxSignature(onnx.ModelProto.encode(old).finish()), /IR version 2 is older than ONNX Runtime loads/);
  const seq = onnx.ModelProto.decode(tinyClassifier());
  seq.graph!.input![0]!.type = { sequenceType: { elemType: { tensorType: { elemType: 1 } } } };
  assert.throws(() => onnxSignature(onnx.ModelProto.encode(seq).finish()), /input "x" is not a tensor/);
  const file = tinyClassifier();
  assert.throws(() => onnxSignature(file.subarray(0, file.length - 20)), ValidationError);
});

test('any bytes at all: a signature or a ValidationError, never another error', () => {
  const model = tinyClassifier();
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 2048 }), fc.tuple(fc.nat(model.length - 1), fc.integer({ min: 0, max: 255 })).map(([at, v]) => Uint8Array.from(model, (b, i) => (i === at ? v : b)))), (bytes) => {
      try {
        onnxSignature(bytes);
      } catch (e) {
        if (!(e instanceof ValidationError)) throw e;
      }
    }),
    { numRuns: 2000 },
  );
});
