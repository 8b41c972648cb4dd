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

/**
 * Another version of a trained classifier (one FP32 input, first output
 * [batch, classes]), made by editing its graph, for gated rollouts:
 * - `relabelled`: answers each input with the next class (as a network
 *   trained on shuffled labels would be wrong): far less accurate;
 * - `slower`: the same answers after a wide dense branch whose result is
 *   multiplied by zero (about 10 M more multiply-adds a row; its weights are
 *   made at load, so the file stays small);
 * - `same`: the same graph with another producer string: the same answers
 *   and speed, another file.
 */
export function classifierVariant(file: Buffer, change: 'relabelled' | 'slower' | 'same'): Buffer {
  const model = onnx.ModelProto.decode(file);
  const graph = model.graph!;
  const F = onnx.TensorProto.DataType.FLOAT;
  const INT64 = onnx.TensorProto.DataType.INT64;
  const out = graph.output![0]!.name!;
  const input = graph.input![0]!.name!;
  const classes = Number(graph.output![0]!.type!.tensorType!.shape!.dim!.at(-1)!.dimValue);
  const features = Number(graph.input![0]!.type!.tensorType!.shape!.dim!.at(-1)!.dimValue);
  const node = (opType: string, inputs: string[], output: string, attribute: ReturnType<typeof onnx.AttributeProto.create>[] = []) => onnx.NodeProto.create({ opType, input: inputs, output: [output], name: `variant-${output}`, attribute });
  const rename = () => {
    for (const n of graph.node!) n.output = n.output!.map((o) => (o === out ? `${out}-inner` : o));
  };
  model.producerVersion = `${model.producerVersion ?? ''}+${change}`;
  if (change === 'relabelled') {
    rename();
    graph.initializer!.push(onnx.TensorProto.create({ name: 'variant-order', dims: [classes], dataType: INT64, int64Data: Array.from({ length: classes }, (_, i) => (i + classes - 1) % classes) }));
    graph.node!.push(node('Gather', [`${out}-inner`, 'variant-order'], out, [onnx.AttributeProto.create({ name: 'axis', i: 1, type: onnx.AttributeProto.AttributeType.INT })]));
  } else if (change === 'slower') {
    rename();
    const WIDTH = 2048;
    const filled = (name: string, dims: number[]) => {
      graph.initializer!.push(onnx.TensorProto.create({ name: `${name}-shape`, dims: [dims.length], dataType: INT64, int64Data: dims }));
      graph.node!.push(node('ConstantOfShape', [`${name}-shape`], name, [onnx.AttributeProto.create({ name: 'value', t: onnx.TensorProto.create({ dims: [1], dataType: F, floatData: [0.001] }), type: onnx.AttributeProto.AttributeType.TENSOR })]));
    };
    filled('variant-w1', [features, WIDTH]);
    filled('variant-w2', [WIDTH, WIDTH]);
    filled('variant-w3', [WIDTH, WIDTH]);
    graph.initializer!.push(onnx.TensorProto.create({ name: 'variant-zero', dims: [], dataType: F, floatData: [0] }), onnx.TensorProto.create({ name: 'variant-axes', dims: [1], dataType: INT64, int64Data: [1] }));
    graph.node!.push(
      node('MatMul', [input, 'variant-w1'], 'variant-h1'),
      node('MatMul', ['variant-h1', 'variant-w2'], 'variant-h2'),
      node('MatMul', ['variant-h2', 'variant-w3'], 'variant-h3'),
      node('ReduceSum', ['variant-h3', 'variant-axes'], 'variant-sum', [onnx.AttributeProto.create({ name: 'keepdims', i: 1, type: onnx.AttributeProto.AttributeType.INT })]),
      node('Mul', ['variant-sum', 'variant-zero'], 'variant-nothing'),
      node('Add', [`${out}-inner`, 'variant-nothing'], out),
    );
  }
  return Buffer.from(onnx.ModelProto.encode(model).finish());
}
