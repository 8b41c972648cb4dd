import type { Command } from 'commander';
import { VERSION } from '../../core/index.ts';
import { CliError } from '../errors.ts';
import type { NetShape } from '../../training/index.ts';

const count = (flag: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new CliError(`${flag}: "${v}" is not a whole number from ${min}`);
  return n;
};

function widths(v: string): NetShape {
  const n = v.split(',').map((x) => Number(x.trim()));
  if (n.length !== 5 || !n.every((x) => Number.isInteger(x) && x >= 1 && x <= 4096)) throw new CliError(`--widths: "${v}" is not five whole numbers from 1 to 4096 (s1,cut1,s2,cut2,s3)`);
  const [s1, cut1, s2, cut2, s3] = n as [number, number, number, number, number];
  return { s1, cut1, s2, cut2, s3 };
}

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
    .option('--epochs <n>', 'passes over the training images', count('--epochs', 1), 10)
    .option('--train-images <n>', 'train on the first N of the 60,000 training images', count('--train-images', 1))
    .option('--test-images <n>', 'measure accuracy on the first N of the 10,000 test images', count('--test-images', 1))
    .option('--batch-size <n>', 'images per training step', count('--batch-size', 1), 256)
    .option('--widths <s1,cut1,s2,cut2,s3>', 'the layers\' widths: each stage and each cut (the values that cross the WAN per input when split there)', widths, widths('64,64,128,64,256'))
    .option('--exit-weight <w>', "each exit's share in the loss beside the final classifier's 1 (lower favours the whole network)", (v: string) => {
      const w = Number(v);
      if (!(w > 0 && w <= 10)) throw new CliError(`--exit-weight: "${v}" is not a number above 0 and at most 10`);
      return w;
    }, 0.1)
    .option('--seed <n>', 'seed of the initial weights', count('--seed', 0), 1)
    .option('--shuffle-labels', 'train on shuffled labels: a model that learns nothing (to see a rollout gate refuse it)')
    .option('--dataset <dir>', 'where the idx files are', '/usr/share/datasets/fashion-mnist')
    .action(async (o: { out: string; epochs: number; trainImages?: number; testImages?: number; batchSize: number; exitWeight: number; widths: NetShape; seed: number; shuffleLabels?: boolean; dataset: string }) => {
      // Loaded on demand: tfjs is big, and only this command needs it.
      const { trainAndExport, DatasetError } = await import('../../training/index.ts');
      try {
        const m = await trainAndExport({
          out: o.out,
          epochs: o.epochs,
          trainImages: o.trainImages,
          testImages: o.testImages,
          batchSize: o.batchSize,
          exitWeight: o.exitWeight,
          shape: o.widths,
          seed: o.seed,
          shuffleLabels: o.shuffleLabels,
          datasetDir: o.dataset,
          producerVersion: VERSION,
          onEpoch: (epoch, loss) => console.error(`epoch ${epoch}/${o.epochs}: loss ${loss.toFixed(4)}`),
        });
        console.log(JSON.stringify({ msg: 'trained', out: o.out, trainImages: m.trainImages, testImages: m.testImages, accuracy: m.accuracy, temperature: m.temperature }));
      } catch (err) {
        if (err instanceof DatasetError) throw new CliError(err.message);
        throw err;
      }
    });
}
