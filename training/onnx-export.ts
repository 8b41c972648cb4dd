import onnxProto from 'onnx-proto';
import { EXIT_NAMES, LAYERS, type ExitName, type LayerName } from './early-exit-net.ts';
import { IMAGE_PIXELS } from './fashion-mnist.ts';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

type Weights = Map<LayerName, { kernel: Float32Array; bias: Float32Array; inDim: number; outDim: number }>;

/** The graphs one trained early-exit network exports as. */
export interface ExportedGraphs {
  /** pixels [batch, 784] (0-255) -> probs [batch, 10]: the whole network, as the cloud or an all-edge site runs it. */
  full: Buffer;
  /** Per exit: the edge's part (pixels -> exit probs and the cut tensor) and the cloud's (cut -> probs). */
  splits: Record<ExitName, { head: Buffer; tail: Buffer; cutWidth: number }>;
}

/**
 * Writes the trained weights as ONNX graphs (opset 13): Gemm for each dense
 * layer (tfjs keeps kernels as [in, out], Gemm's B without transB), then its
 * activation. Inputs are raw pixel values; the graph scales them by 1/255 as
 * the training did, so a camera's bytes go in as they are.
 */
export function exportGraphs(weights: Weights, producerVersion: string): ExportedGraphs {
  const encode = (name: string, build: GraphBuilder) => Buffer.from(onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, producerName: 'gedge model train', producerVersion, opsetImport: [{ domain: '', version: 13 }], graph: build.graph(name) })).finish());
  const chain = (b: GraphBuilder, from: string, layers: readonly LayerName[]) => layers.reduce((input, l) => b.dense(l, input, weights.get(l)!), from);
  const pixelsIn = (b: GraphBuilder) => {
    b.input('pixels', IMAGE_PIXELS);
    b.node('Mul', ['pixels', b.constant('inv255', new Float32Array([1 / 255]), [])], 'x');
    return 'x';
  };

  const full = new GraphBuilder();
  full.output('probs', chain(full, pixelsIn(full), pathTo('final')), 10);

  const splits = {} as ExportedGraphs['splits'];
  for (const exit of EXIT_NAMES) {
    const cut = inputOf(exit);
    const cutWidth = weights.get(cut)!.outDim;
    const head = new GraphBuilder();
    const cutOut = chain(head, pixelsIn(head), pathTo(cut));
    head.output('exit', chain(head, cutOut, [exit]), 10);
    head.output('cut', cutOut, cutWidth);
    const tail = new GraphBuilder();
    tail.input('cut', cutWidth);
    const rest = pathTo('final').slice(pathTo(cut).length);
    tail.output('probs', chain(tail, 'cut', rest), 10);
    splits[exit] = { head: encode(`${exit}-head`, head), tail: encode(`${exit}-tail`, tail), cutWidth };
  }
  return { full: encode('full', full), splits };
}

/** The layers from the input to `layer`, along the main path (exits are side branches). */
function pathTo(layer: LayerName): LayerName[] {
  const path: LayerName[] = [];
  for (let l: string = layer; l !== 'x'; l = inputOf(l as LayerName)) path.unshift(l as LayerName);
  return path;
}

function inputOf(layer: LayerName): LayerName {
  return LAYERS.find((l) => l.name === layer)!.input as LayerName;
}

class GraphBuilder {
  private readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  private readonly inits: InstanceType<typeof onnx.TensorProto>[] = [];
  private readonly inputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private readonly outputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];

  input(name: string, width: number): void {
    this.inputs.push(valueInfo(name, width));
  }

  /** Names the value `from` as the graph output `name` (an Identity node when they differ). */
  output(name: string, from: string, width: number): void {
    if (from !== name) this.node('Identity', [from], name);
    this.outputs.push(valueInfo(name, width));
  }

  constant(name: string, data: Float32Array, dims: number[]): string {
    this.inits.push(onnx.TensorProto.create({ name, dims, dataType: FLOAT, rawData: Buffer.from(data.buffer, data.byteOffset, data.byteLength) }));
    return name;
  }

  node(opType: string, input: string[], output: string, attribute: InstanceType<typeof onnx.AttributeProto>[] = []): string {
    this.nodes.push(onnx.NodeProto.create({ opType, input, output: [output], name: `${opType.toLowerCase()}_${output}`, attribute }));
    return output;
  }

  dense(layer: LayerName, input: string, w: { kernel: Float32Array; bias: Float32Array; inDim: number; outDim: number }): string {
    const z = this.node('Gemm', [input, this.constant(`${layer}.kernel`, w.kernel, [w.inDim, w.outDim]), this.constant(`${layer}.bias`, w.bias, [w.outDim])], `${layer}.z`);
    const activation = LAYERS.find((l) => l.name === layer)!.activation;
    if (activation === 'relu') return this.node('Relu', [z], layer);
    return this.node('Softmax', [z], layer, [onnx.AttributeProto.create({ name: 'axis', i: 1, type: onnx.AttributeProto.AttributeType.INT })]);
  }

  graph(name: string): InstanceType<typeof onnx.GraphProto> {
    return onnx.GraphProto.create({ name, node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs });
  }
}

function valueInfo(name: string, width: number): InstanceType<typeof onnx.ValueInfoProto> {
  return onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimValue: width }] } } } });
}
