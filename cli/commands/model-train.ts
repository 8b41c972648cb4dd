import type { Command } from 'commander';
import { VERSION } from '../../core/index.ts';
import { CliError } from '../errors.ts';

const count = (flag: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new CliError(`${flag}: "${v}" is not a whole number from ${min}`);
  return n;
};

/**
 * gedge model train: the early-exit network on Fashion-MNIST (tfjs, pure-JS
 * CPU backend), exported to ONNX as the full network and, per exit, the
 * edge's head and the cloud's tail, with a manifest of digests and accuracy.
 */
export function registerModelTrain(model: Command): void {
  model
    .command('train')
    .description("train the early-exit network on Fashion-MNIST (Debian's dataset-fashion-mnist) and export it to ONNX: full.onnx, exitN-head.onnx and exitN-tail.onnx for each exit, and manifest.json")
    .requiredOption('--out <dir>', 'where the graphs and manifest.json go (created if missing)')
    .option('--epochs <n>', 'passes over the training images', count('--epochs', 1), 4)
    .option('--train-images <n>', 'train on the first N of the 60,000 training images', count('--train-images', 1))
    .option('--test-images <n>', 'measure accuracy on the first N of the 10,000 test images', count('--test-images', 1))
    .option('--batch-size <n>', 'images per training step', count('--batch-size', 1), 256)
    .option('--hidden <n>', 'width of each stage', count('--hidden', 1), 128)
    .option('--cut <n>', 'width of each cut: the values that cross the WAN per input when split there', count('--cut', 1), 32)
    .option('--seed <n>', 'seed of the initial weights', count('--seed', 0), 1)
    .option('--shuffle-labels', 'train on shuffled labels: a model that learns nothing (to see a rollout gate refuse it)')
    .option('--dataset <dir>', 'where the idx files are', '/usr/share/datasets/fashion-mnist')
    .action(async (o: { out: string; epochs: number; trainImages?: number; testImages?: number; batchSize: number; hidden: number; cut: number; seed: number; shuffleLabels?: boolean; dataset: string }) => {
      // Loaded on demand: tfjs is big, and only this command needs it.
      const { trainAndExport, DatasetError } = await import('../../training/index.ts');
      try {
        const m = await trainAndExport({
          out: o.out,
          epochs: o.epochs,
          trainImages: o.trainImages,
          testImages: o.testImages,
          batchSize: o.batchSize,
          shape: { hidden: o.hidden, cut: o.cut },
          seed: o.seed,
          shuffleLabels: o.shuffleLabels,
          datasetDir: o.dataset,
          producerVersion: VERSION,
          onEpoch: (epoch, loss) => console.error(`epoch ${epoch}/${o.epochs}: loss ${loss.toFixed(4)}`),
        });
        console.log(JSON.stringify({ msg: 'trained', out: o.out, trainImages: m.trainImages, testImages: m.testImages, accuracy: m.accuracy }));
      } catch (err) {
        if (err instanceof DatasetError) throw new CliError(err.message);
        throw err;
      }
    });
}
