export { DatasetError, FASHION_MNIST_DIR, FASHION_MNIST_LABELS, IMAGE_PIXELS, loadFashionMnist, type Dataset, type Split } from './fashion-mnist.ts';
export { MANIFEST, trainAndExport, type TrainManifest, type TrainRun } from './train.ts';
export type { NetShape } from './early-exit-net.ts';
