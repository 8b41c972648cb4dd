import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { encodeEvalSet } from '../core/eval-set.ts';

/**
 * Fashion-MNIST (Zalando, MIT licence) as Debian's dataset-fashion-mnist
 * installs it: gzipped IDX files, 60,000 training and 10,000 test images of
 * 28x28 grey pixels, each labelled with one of ten classes.
 */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_PACKAGE = 'dataset-fashion-mnist';
export const IMAGE_SIDE = 28;
export const IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE;
export const FASHION_MNIST_LABELS = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;

export type Split = 'train' | 'test';

/** Images as a camera sends them (one byte per pixel, row-major) and their labels (0-9). */
export interface Dataset {
  count: number;
  /** count x 784 bytes. */
  pixels: Uint8Array;
  labels: Uint8Array;
}

/** The dataset is missing or its files are not what they should be. */
export class DatasetError extends Error {
  override name = 'DatasetError';
}

const FILES: Record<Split, { images: string; labels: string }> = {
  train: { images: 'train-images-idx3-ubyte.gz', labels: 'train-labels-idx1-ubyte.gz' },
  test: { images: 't10k-images-idx3-ubyte.gz', labels: 't10k-labels-idx1-ubyte.gz' },
};

/**
 * Reads a split, or the slice [offset, offset + limit) of it. A missing
 * directory or file names the Debian package that provides it; a damaged one
 * names the file and what is wrong.
 */
export async function loadFashionMnist(split: Split, o: { dir?: string; offset?: number; limit?: number } = {}): Promise<Dataset> {
  const dir = o.dir ?? FASHION_MNIST_DIR;
  const [images, labels] = await Promise.all([readIdx(join(dir, FILES[split].images), 3), readIdx(join(dir, FILES[split].labels), 1)]);
  if (images.dims[1] !== IMAGE_SIDE || images.dims[2] !== IMAGE_SIDE) throw new DatasetError(`${FILES[split].images}: images are ${images.dims.slice(1).join('x')}, not ${IMAGE_SIDE}x${IMAGE_SIDE}`);
  const total = images.dims[0]!;
  if (labels.dims[0] !== total) throw new DatasetError(`${split}: ${total} images but ${labels.dims[0]} labels`);
  const bad = labels.data.findIndex((l) => l >= FASHION_MNIST_LABELS.length);
  if (bad >= 0) throw new DatasetError(`${FILES[split].labels}: label ${labels.data[bad]} at item ${bad} is not a class (0-9)`);
  return sliceDataset({ count: total, pixels: images.data, labels: labels.data }, o.offset ?? 0, o.limit);
}

/** The images [offset, offset + limit) of a dataset (fewer at its end), sharing its memory. */
export function sliceDataset(d: Dataset, offset: number, limit = d.count): Dataset {
  const count = Math.max(0, Math.min(limit, d.count - offset));
  return { count, pixels: d.pixels.subarray(offset * IMAGE_PIXELS, (offset + count) * IMAGE_PIXELS), labels: d.labels.subarray(offset, offset + count) };
}

async function readIdx(file: string, rank: number): Promise<{ dims: number[]; data: Uint8Array }> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new DatasetError(`${file} is missing: install Debian's ${FASHION_MNIST_PACKAGE} (scripts/ensure-fashion-mnist.sh does)`);
    throw new DatasetError(`${file}: ${(err as Error).message}`);
  }
  return parseIdx(file.endsWith('.gz') ? gunzip(buf, file) : buf, rank, file);
}

function gunzip(buf: Buffer, file: string): Buffer {
  try {
    return gunzipSync(buf);
  } catch (err) {
    throw new DatasetError(`${file}: not a gzip file (${(err as Error).message})`);
  }
}

/** IDX: 0x00 0x00, type 0x08 (unsigned byte), rank, then rank big-endian uint32 sizes, then the data. */
export function parseIdx(buf: Buffer, rank: number, what: string): { dims: number[]; data: Uint8Array } {
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) throw new DatasetError(`${what}: not an IDX file`);
  if (buf[2] !== 0x08) throw new DatasetError(`${what}: holds type 0x${buf[2]!.toString(16)}, not unsigned bytes`);
  if (buf[3] !== rank) throw new DatasetError(`${what}: has ${buf[3]} dimensions, not ${rank}`);
  const header = 4 + 4 * rank;
  if (buf.length < header) throw new DatasetError(`${what}: ends inside its header`);
  const dims = Array.from({ length: rank }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const size = dims.reduce((a, b) => a * b, 1);
  if (buf.length - header !== size) throw new DatasetError(`${what}: its header says ${size} bytes of data, it holds ${buf.length - header}`);
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + header, size) };
}

/** Images and labels as a labelled evaluation set for the network's `pixels` input (core/eval-set.ts), gzip-compressed. */
export function evalSetOf(d: Dataset): Buffer {
  const labels = Int32Array.from(d.labels);
  return gzipSync(encodeEvalSet({ input: 'pixels', dims: [IMAGE_PIXELS], rows: d.count, classes: FASHION_MNIST_LABELS.length, values: Float32Array.from(d.pixels), labels }), { level: 9 });
}
