import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { argmaxRow } from '../inference/early-exit.ts';
import { FASHION_MNIST_LABELS, IMAGE_PIXELS, type Dataset } from './fashion-mnist.ts';

// The pure-JS CPU backend (tfjs-node downloads a native library at install).
// PROD: no debug checks, and no banner suggesting that native backend.
tf.env().set('PROD', true);

/**
 * The early-exit network (BranchyNet/DDNN style) for Fashion-MNIST: three
 * stages of dense layers, each of the first two ending in a narrow "cut"
 * layer, the tensor that crosses the WAN when the network is split there,
 * and an exit classifier on it. The final classifier ends the third stage.
 *
 *   x -> s1 (relu) -> cut1 (relu) -> exit1 (softmax)
 *                       -> s2 (relu) -> cut2 (relu) -> exit2 (softmax)
 *                                          -> s3 (relu) -> final (softmax)
 *
 * Dense layers only: tfjs's CPU backend trains convolutions ~50x slower,
 * and a dense network exports to ONNX as Gemm nodes that match it exactly.
 * All exits train jointly on a weighted sum of their cross-entropies (BranchyNet).
 */

export const EXIT_NAMES = ['exit1', 'exit2'] as const;
export type ExitName = (typeof EXIT_NAMES)[number];
export const CLASSES = FASHION_MNIST_LABELS.length;
/** Each exit's share in the training loss, beside the final classifier's 1 (by default). */
export const EXIT_WEIGHT = 0.1;

/** Each layer's width: the stages' hidden layers (s1-s3) and the cuts (what crosses the WAN per input when split there, before quantization). */
export interface NetShape {
  s1: number;
  cut1: number;
  s2: number;
  cut2: number;
  s3: number;
}

/** Narrow early stages (cheap at the edge, a weaker exit), a wide last one (the cloud's). */
export const DEFAULT_SHAPE: NetShape = { s1: 64, cut1: 64, s2: 128, cut2: 64, s3: 256 };

/** The layers in order, by name, with their activation: what the ONNX export walks. */
export const LAYERS = [
  { name: 's1', input: 'x', activation: 'relu' },
  { name: 'cut1', input: 's1', activation: 'relu' },
  { name: 'exit1', input: 'cut1', activation: 'softmax' },
  { name: 's2', input: 'cut1', activation: 'relu' },
  { name: 'cut2', input: 's2', activation: 'relu' },
  { name: 'exit2', input: 'cut2', activation: 'softmax' },
  { name: 's3', input: 'cut2', activation: 'relu' },
  { name: 'final', input: 's3', activation: 'softmax' },
] as const;
export type LayerName = (typeof LAYERS)[number]['name'];

export function buildEarlyExitNet(shape: NetShape = DEFAULT_SHAPE, seed = 1): tfl.LayersModel {
  const widths: Record<LayerName, number> = { ...shape, exit1: CLASSES, exit2: CLASSES, final: CLASSES };
  const tensors = new Map<string, tfl.SymbolicTensor>([['x', tfl.input({ shape: [IMAGE_PIXELS], name: 'x' })]]);
  LAYERS.forEach((l, i) => {
    const dense = tfl.layers.dense({ name: l.name, units: widths[l.name], activation: l.activation, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed * 100 + i }) });
    tensors.set(l.name, dense.apply(tensors.get(l.input)!) as tfl.SymbolicTensor);
  });
  return tfl.model({ inputs: tensors.get('x')!, outputs: [tensors.get('exit1')!, tensors.get('exit2')!, tensors.get('final')!] });
}

/** Pixels (0-255 bytes) as the network's input: float32 in [0, 1]. */
export function inputTensor(pixels: Uint8Array, count: number): tf.Tensor2D {
  const x = new Float32Array(count * IMAGE_PIXELS);
  for (let i = 0; i < x.length; i++) x[i] = pixels[i]! / 255;
  return tf.tensor2d(x, [count, IMAGE_PIXELS]);
}

export interface TrainOptions {
  epochs: number;
  batchSize?: number;
  learningRate?: number;
  /** Each exit's share in the loss beside the final classifier's 1 (default EXIT_WEIGHT): lower favours the whole network over its exits. */
  exitWeight?: number;
  /** Train on a seeded permutation of the labels: a model that learns nothing (a bad version to roll back). */
  shuffleLabels?: boolean;
  seed?: number;
  onEpoch?: (epoch: number, loss: number) => void;
}

export async function trainEarlyExitNet(model: tfl.LayersModel, data: Dataset, o: TrainOptions): Promise<void> {
  // The exits weigh less than the final classifier (BranchyNet weighs its branches too): the shared
  // layers then serve the whole network first.
  const weighted = (w: number) => (yTrue: tf.Tensor, yPred: tf.Tensor) =>
    tf.tidy(() => tf.mul(-w, tf.mean(tf.sum(tf.mul(yTrue, tf.log(tf.clipByValue(yPred, 1e-7, 1))), -1))));
  model.compile({ optimizer: tf.train.adam(o.learningRate ?? 0.002), loss: [weighted(o.exitWeight ?? EXIT_WEIGHT), weighted(o.exitWeight ?? EXIT_WEIGHT), weighted(1)] });
  const labels = o.shuffleLabels ? permuted(data.labels, o.seed ?? 1) : data.labels;
  const xs = inputTensor(data.pixels, data.count);
  // One-hot targets: tfjs checks a custom loss's targets against the output's shape.
  const ys = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Int32Array.from(labels), 'int32'), CLASSES), 'float32'));
  try {
    await model.fit(xs, [ys, ys, ys], {
      epochs: o.epochs,
      batchSize: o.batchSize ?? 256,
      shuffle: true,
      verbose: 0,
      callbacks: { onEpochEnd: async (epoch, logs) => o.onEpoch?.(epoch + 1, logs?.loss ?? NaN) },
    });
  } finally {
    xs.dispose();
    ys.dispose();
  }
}

/** Each exit's class probabilities for the inputs, as flat row-major arrays (count x 10). */
export function predictExits(model: tfl.LayersModel, pixels: Uint8Array, count: number): Record<ExitName | 'final', Float32Array> {
  return tf.tidy(() => {
    const out = model.predict(inputTensor(pixels, count), { batchSize: 1024 }) as tf.Tensor[];
    return { exit1: out[0]!.dataSync() as Float32Array, exit2: out[1]!.dataSync() as Float32Array, final: out[2]!.dataSync() as Float32Array };
  });
}

/** Top-1 accuracy of each exit on a dataset. */
export function evaluateExits(model: tfl.LayersModel, data: Dataset): Record<ExitName | 'final', number> {
  const probs = predictExits(model, data.pixels, data.count);
  const acc = (p: Float32Array) => {
    let right = 0;
    for (let i = 0; i < data.count; i++) if (argmaxRow(p, i * CLASSES, CLASSES) === data.labels[i]) right++;
    return data.count ? right / data.count : 0;
  };
  return { exit1: acc(probs.exit1), exit2: acc(probs.exit2), final: acc(probs.final) };
}

/** Each layer's kernel ([in, out], row-major) and bias, as trained. */
export function denseWeights(model: tfl.LayersModel): Map<LayerName, { kernel: Float32Array; bias: Float32Array; inDim: number; outDim: number }> {
  const out = new Map<LayerName, { kernel: Float32Array; bias: Float32Array; inDim: number; outDim: number }>();
  for (const l of LAYERS) {
    const [kernel, bias] = model.getLayer(l.name).getWeights();
    const [inDim, outDim] = kernel!.shape as [number, number];
    out.set(l.name, { kernel: kernel!.dataSync() as Float32Array, bias: bias!.dataSync() as Float32Array, inDim, outDim });
  }
  return out;
}

function permuted(labels: Uint8Array, seed: number): Uint8Array {
  const out = Uint8Array.from(labels);
  let s = seed >>> 0 || 1;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
