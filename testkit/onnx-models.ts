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

/**
 * A Fashion-MNIST-sized network for benchmarks: `probs = softmax(relu(x · W1 + b1) · W2 + b2)`,
 * input `x` FP32 [batch, features] (784 for a 28x28 image), output `probs` [batch, classes].
 */
export function mlpClassifier(o: { features?: number; hidden?: number; classes?: number; seed?: number } = {}): Buffer {
  const features = o.features ?? 784;
  const hidden = o.hidden ?? 128;
  const classes = o.classes ?? 10;
  let s = o.seed ?? 1;
  const next = () => (((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1) * 0.1;
  const tensor = (name: string, dims: number[]) => onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: Buffer.from(Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, next).buffer) });
  const io = (name: string, width: number) => onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimValue: width }] } } } });
  const graph = onnx.GraphProto.create({
    name: 'mlp',
    node: [
      onnx.NodeProto.create({ opType: 'Gemm', input: ['x', 'W1', 'b1'], output: ['h'], name: 'gemm1' }),
      onnx.NodeProto.create({ opType: 'Relu', input: ['h'], output: ['a'], name: 'relu' }),
      onnx.NodeProto.create({ opType: 'Gemm', input: ['a', 'W2', 'b2'], output: ['logits'], name: 'gemm2' }),
      onnx.NodeProto.create({ opType: 'Softmax', input: ['logits'], output: ['probs'], name: 'softmax', attribute: [onnx.AttributeProto.create({ name: 'axis', i: 1, type: onnx.AttributeProto.AttributeType.INT })] }),
    ],
    initializer: [tensor('W1', [features, hidden]), tensor('b1', [hidden]), tensor('W2', [hidden, classes]), tensor('b2', [classes])],
    input: [io('x', features)],
    output: [io('probs', classes)],
  });
  return Buffer.from(onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, producerName: 'gedge-testkit', opsetImport: [{ domain: '', version: 13 }], graph })).finish());
}

/**
 * A small convolutional network of Fashion-MNIST's shape, about a million
 * multiply-adds an image: input `x` FP32 [batch, 1, 28, 28], two 3x3
 * convolutions (16 and 32 channels) with ReLU and 2x2 max pooling, then a
 * linear layer to `probs` [batch, 10] (softmax). Random weights: for
 * measuring the serving path, not for answers.
 */
export function cnnClassifier(o: { seed?: number } = {}): Buffer {
  let s = o.seed ?? 1;
  const next = () => (((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1) * 0.1;
  const F = onnx.TensorProto.DataType.FLOAT;
  const tensor = (name: string, dims: number[]) => onnx.TensorProto.create({ name, dims, dataType: F, rawData: Buffer.from(Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, next).buffer) });
  const ints = (name: string, v: number[]) => onnx.AttributeProto.create({ name, ints: v, type: onnx.AttributeProto.AttributeType.INTS });
  const node = (opType: string, input: string[], output: string, attribute: ReturnType<typeof onnx.AttributeProto.create>[] = []) => onnx.NodeProto.create({ opType, input, output: [output], name: output, attribute });
  const conv = (x: string, w: string, b: string, out: string) => node('Conv', [x, w, b], out, [ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1])]);
  const pool = (x: string, out: string) => node('MaxPool', [x], out, [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])]);
  const shape = (name: string, dims: (number | string)[]) => onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: F, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } } });
  const graph = onnx.GraphProto.create({
    name: 'cnn',
    node: [
      conv('x', 'W1', 'B1', 'c1'), node('Relu', ['c1'], 'r1'), pool('r1', 'p1'),
      conv('p1', 'W2', 'B2', 'c2'), node('Relu', ['c2'], 'r2'), pool('r2', 'p2'),
      node('Flatten', ['p2'], 'f', [onnx.AttributeProto.create({ name: 'axis', i: 1, type: onnx.AttributeProto.AttributeType.INT })]),
      node('Gemm', ['f', 'W3', 'B3'], 'logits'),
      node('Softmax', ['logits'], 'probs', [onnx.AttributeProto.create({ name: 'axis', i: 1, type: onnx.AttributeProto.AttributeType.INT })]),
    ],
    initializer: [tensor('W1', [16, 1, 3, 3]), tensor('B1', [16]), tensor('W2', [32, 16, 3, 3]), tensor('B2', [32]), tensor('W3', [32 * 7 * 7, 10]), tensor('B3', [10])],
    input: [shape('x', ['batch', 1, 28, 28])],
    output: [shape('probs', ['batch', 10])],
  });
  return Buffer.from(onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, producerName: 'gedge-testkit', opsetImport: [{ domain: '', version: 13 }], graph })).finish());
}
