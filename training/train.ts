import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fitTemperature } from '../inference/early-exit.ts';
import { buildEarlyExitNet, CLASSES, DEFAULT_SHAPE, EXIT_WEIGHT, denseWeights, evaluateExits, EXIT_NAMES, predictExits, trainEarlyExitNet, type ExitName, type NetShape } from './early-exit-net.ts';
import { evalSetOf, FASHION_MNIST_LABELS, loadFashionMnist, sliceDataset } from './fashion-mnist.ts';
import { exportGraphs } from './onnx-export.ts';

export interface TrainRun {
  out: string;
  epochs: number;
  /** Training images used (the first N of the 60,000). */
  trainImages?: number;
  /** Test images the accuracy is measured on (the first N of the 10,000). */
  testImages?: number;
  seed?: number;
  /** Images per training step (default 256; a small slice learns faster with fewer). */
  batchSize?: number;
  /** Each exit's share in the loss beside the final classifier's 1. */
  exitWeight?: number;
  shuffleLabels?: boolean;
  shape?: NetShape;
  datasetDir?: string;
  producerVersion: string;
  onEpoch?: (epoch: number, loss: number) => void;
}

interface FileRef {
  file: string;
  sha256: string;
  bytes: number;
}

/** What a training run wrote (manifest.json beside the graphs). */
export interface TrainManifest {
  dataset: 'fashion-mnist';
  trainImages: number;
  testImages: number;
  epochs: number;
  seed: number;
  shuffleLabels: boolean;
  shape: NetShape;
  exitWeight: number;
  /** Top-1 accuracy of each exit on the test images, measured in the training framework. */
  accuracy: Record<ExitName | 'final', number>;
  /** Training images held out of training (those after trainImages, up to 5,000) that each exit's temperature was fitted on. */
  heldOutImages: number;
  /** Each exit's temperature (split.temperature): softmax(logits / T) is honest on the held-out images; 1 when none were held out. */
  temperature: Record<ExitName, number>;
  classLabels: string[];
  full: FileRef;
  splits: Record<ExitName, { head: FileRef; tail: FileRef; cutWidth: number }>;
  /** Up to 1,000 held-out images and labels as a labelled evaluation set (core/eval-set.ts; gedge model push --eval-set). */
  evalSet?: FileRef;
}

export const MANIFEST = 'manifest.json';
const HELD_OUT = 5000;
/** Held-out images shipped with the model as its labelled evaluation set (a gated rollout measures versions on them). */
const EVAL_ROWS = 1000;

/** Trains the early-exit network on Fashion-MNIST and writes its ONNX graphs and manifest to `out`. */
export async function trainAndExport(run: TrainRun): Promise<TrainManifest> {
  const seed = run.seed ?? 1;
  const shape = run.shape ?? DEFAULT_SHAPE;
  const [all, test] = await Promise.all([loadFashionMnist('train', { dir: run.datasetDir }), loadFashionMnist('test', { dir: run.datasetDir, limit: run.testImages })]);
  // One read of the training split: the first trainImages train, the next HELD_OUT calibrate.
  const train = sliceDataset(all, 0, run.trainImages);
  const held = sliceDataset(all, train.count, HELD_OUT);
  const model = buildEarlyExitNet(shape, seed);
  try {
    await trainEarlyExitNet(model, train, { epochs: run.epochs, batchSize: run.batchSize, exitWeight: run.exitWeight, seed, shuffleLabels: run.shuffleLabels, onEpoch: run.onEpoch });
    const accuracy = evaluateExits(model, test);
    const temperature = { exit1: 1, exit2: 1 };
    if (held.count) {
      const probs = predictExits(model, held.pixels, held.count);
      for (const exit of EXIT_NAMES) temperature[exit] = Number(fitTemperature(probs[exit], held.labels, CLASSES).toFixed(4));
    }
    const graphs = exportGraphs(denseWeights(model), run.producerVersion);
    await mkdir(run.out, { recursive: true });
    const put = async (file: string, data: Buffer): Promise<FileRef> => {
      await writeAtomically(join(run.out, file), data);
      return { file, sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length };
    };
    const splits = {} as TrainManifest['splits'];
    for (const exit of EXIT_NAMES) {
      const s = graphs.splits[exit];
      splits[exit] = { head: await put(`${exit}-head.onnx`, s.head), tail: await put(`${exit}-tail.onnx`, s.tail), cutWidth: s.cutWidth };
    }
    const manifest: TrainManifest = {
      dataset: 'fashion-mnist',
      trainImages: train.count,
      testImages: test.count,
      epochs: run.epochs,
      seed,
      shuffleLabels: run.shuffleLabels ?? false,
      shape,
      exitWeight: run.exitWeight ?? EXIT_WEIGHT,
      accuracy,
      heldOutImages: held.count,
      temperature,
      classLabels: [...FASHION_MNIST_LABELS],
      full: await put('full.onnx', graphs.full),
      splits,
      ...(held.count ? { evalSet: await put('eval.gevs', evalSetOf(sliceDataset(held, 0, EVAL_ROWS))) } : {}),
    };
    await writeAtomically(join(run.out, MANIFEST), Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
    return manifest;
  } finally {
    model.dispose();
  }
}

async function writeAtomically(file: string, data: Buffer): Promise<void> {
  await writeFile(`${file}.tmp`, data);
  await rename(`${file}.tmp`, file);
}
