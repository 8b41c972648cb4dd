import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/**
 * A real ONNX model, small enough to make in a test: `probs = softmax(x · W + b)`,
 * input `x` FP32 [batch, features], output `probs` FP32 [batch, classes].
 * `seed` changes the weights (and so the file's digest); ONNX Runtime loads
 * and runs it (opset 13, IR 8).
 */
export function tinyClassifier(o: { features?: number; classes?: number; seed?: number } = {}): Buffer {
  const features = o.features ?? 4;
  const classes = o.classes ?? 3;
  let s = o.seed ?? 1;
  const next = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const tensor = (name: string, dims: number[]) => onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, floatData: Array.from({ length: dims.reduce((a, b) => a * b, 1) }, next) });
  const io = (name: string, dims: (number | string)[]) =>
    onnx.ValueInfoProto.create({
      name,
      type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
    });
  const graph = onnx.GraphProto.create({
    name: 'tiny',
    node: [
      onnx.NodeProto.create({ opType: 'Gemm', input: ['x', 'W', 'b'], output: ['logits'], name: 'gemm' }),
      onnx.NodeProto.create({ opType: 'Softmax', input: ['logits'], output: ['probs'], name: 'softmax', attribute: [onnx.AttributeProto.create({ name: 'axis', i: 1, type: onnx.AttributeProto.AttributeType.INT })] }),
    ],
    initializer: [tensor('W', [features, classes]), tensor('b', [classes])],
    input: [io('x', ['batch', features])],
    output: [io('probs', ['batch', classes])],
  });
  const model = onnx.ModelProto.create({ irVersion: 8, producerName: 'gedge-testkit', opsetImport: [{ domain: '', version: 13 }], graph });
  return Buffer.from(onnx.ModelProto.encode(model).finish());
}
