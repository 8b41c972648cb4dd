import { deflateRawSync, inflateRawSync } from 'node:zlib';

/**
 * The arithmetic of split inference with early exits (BranchyNet, DDNN):
 * how sure an exit is (normalized entropy), how sure it should be
 * (temperature scaling, fitted on labelled data), what crosses the WAN (the
 * cut tensor, quantized to bytes) and where the threshold sits (a
 * controller that keeps the offloaded share within what the uplink, or the
 * latency bound, allows).
 */

/**
 * H(p) / ln(n) of one row of probabilities: 0 when certain, 1 when uniform.
 * One class is certain; a row that is not numbers (NaN from a broken model)
 * counts as unsure, so it goes where the better model is.
 */
export function normalizedEntropy(p: ArrayLike<number>, offset: number, n: number): number {
  if (n < 2) return 0;
  let h = 0;
  for (let i = 0; i < n; i++) {
    const v = p[offset + i]!;
    if (!Number.isFinite(v)) return 1;
    if (v > 0) h -= v * Math.log(v);
  }
  const e = h / Math.log(n);
  return Number.isFinite(e) ? Math.min(1, Math.max(0, e)) : 1;
}

/**
 * Temperature scaling of one row of probabilities, into `out`: softmax(log(p) / tau),
 * which is softmax(logits / tau) for the logits behind p. tau > 1 softens an
 * overconfident exit, tau < 1 sharpens an underconfident one; the argmax is unchanged.
 */
export function temperatureScale(p: ArrayLike<number>, offset: number, n: number, tau: number, out: Float64Array | Float32Array): void {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, Math.log(Math.max(p[offset + i]!, 1e-30)) / tau);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += out[i] = Math.exp(Math.log(Math.max(p[offset + i]!, 1e-30)) / tau - max);
  for (let i = 0; i < n; i++) out[i]! /= sum;
}

/** Mean negative log-likelihood of the labels under the rows scaled by tau. */
export function meanNll(probs: ArrayLike<number>, labels: ArrayLike<number>, classes: number, tau: number): number {
  const row = new Float64Array(classes);
  let nll = 0;
  for (let r = 0; r < labels.length; r++) {
    temperatureScale(probs, r * classes, classes, tau, row);
    nll -= Math.log(Math.max(row[labels[r]!]!, 1e-30));
  }
  return labels.length ? nll / labels.length : 0;
}

/**
 * The temperature that makes an exit's confidence honest on labelled data
 * (Guo et al., 2017): the tau minimizing the NLL, by golden-section search
 * over log(tau) in [1/20, 20] (the NLL is unimodal in tau).
 */
export function fitTemperature(probs: ArrayLike<number>, labels: ArrayLike<number>, classes: number): number {
  const f = (logTau: number) => meanNll(probs, labels, classes, Math.exp(logTau));
  const g = (Math.sqrt(5) - 1) / 2;
  let a = Math.log(1 / 20);
  let b = Math.log(20);
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  while (b - a > 1e-3) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  return Math.exp((a + b) / 2);
}

/** A cut tensor that is not one this format can read (hostile or damaged). */
export class CutFormatError extends Error {
  override name = 'CutFormatError';
}

const MAGIC = 0x4743; // "GC"
const FORMAT = 1;
const FLAG_DEFLATE = 1;
const HEADER = 16;
/** The largest cut tensor a message may claim (rows x width), so a small message cannot ask for a huge buffer. */
export const MAX_CUT_VALUES = 1 << 22;

/**
 * The bytes that cross the WAN for a batch of cut tensors: affine uint8
 * quantization over the batch (ReLU outputs: min is usually 0), deflated
 * when that is smaller. Layout (little-endian): u16 magic "GC", u8 format,
 * u8 flags, u16 rows, u16 width, f32 min, f32 scale, then rows x width bytes.
 */
export function encodeCut(values: Float32Array, rows: number, width: number): Buffer {
  if (values.length !== rows * width) throw new RangeError(`a cut of ${rows}x${width} needs ${rows * width} values, not ${values.length}`);
  if (rows > 0xffff || width > 0xffff) throw new RangeError(`a cut of ${rows}x${width} is too large to send`);
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) throw new RangeError('a cut holds a value that is not finite');
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  if (!values.length) min = max = 0;
  const scale = max > min ? (max - min) / 255 : 1;
  const q = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) q[i] = Math.round((values[i]! - min) / scale);
  const packed = deflateRawSync(q);
  const deflate = packed.length < q.length;
  const head = Buffer.alloc(HEADER);
  head.writeUInt16LE(MAGIC, 0);
  head.writeUInt8(FORMAT, 2);
  head.writeUInt8(deflate ? FLAG_DEFLATE : 0, 3);
  head.writeUInt16LE(rows, 4);
  head.writeUInt16LE(width, 6);
  head.writeFloatLE(min, 8);
  head.writeFloatLE(scale, 12);
  return Buffer.concat([head, deflate ? packed : q]);
}

/** Reads what encodeCut wrote, of at most `maxValues` values; anything else is a CutFormatError naming what is wrong. */
export function decodeCut(buf: Uint8Array, maxValues = MAX_CUT_VALUES): { rows: number; width: number; values: Float32Array } {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < HEADER || b.readUInt16LE(0) !== MAGIC) throw new CutFormatError('not a cut tensor (no "GC" header)');
  if (b.readUInt8(2) !== FORMAT) throw new CutFormatError(`cut format ${b.readUInt8(2)} is not known (this side reads ${FORMAT})`);
  const flags = b.readUInt8(3);
  if (flags & ~FLAG_DEFLATE) throw new CutFormatError(`unknown flags 0x${flags.toString(16)}`);
  const rows = b.readUInt16LE(4);
  const width = b.readUInt16LE(6);
  const min = b.readFloatLE(8);
  const scale = b.readFloatLE(12);
  if (!Number.isFinite(min) || !Number.isFinite(scale) || scale <= 0) throw new CutFormatError('the quantization min or scale is not a finite positive number');
  const n = rows * width;
  if (n > maxValues) throw new CutFormatError(`a cut of ${rows}x${width} is larger than ${maxValues} values`);
  let q: Uint8Array = b.subarray(HEADER);
  if (flags & FLAG_DEFLATE) {
    try {
      q = inflateRawSync(q, { maxOutputLength: Math.max(n, 1) });
    } catch (err) {
      throw new CutFormatError(`the cut does not inflate to ${n} bytes: ${(err as Error).message}`);
    }
  }
  if (q.length !== n) throw new CutFormatError(`a cut of ${rows}x${width} needs ${n} values, the message holds ${q.length}`);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = min + q[i]! * scale;
  return { rows, width, values };
}

/** What the exit threshold is held to. */
export type ThresholdGoal =
  /** A fixed threshold. */
  | { kind: 'fixed' }
  /** Offload at most this share of inputs (0-1). */
  | { kind: 'offload-share'; max: number }
  /** Keep the uplink under this many bytes per second at the observed request rate. */
  | { kind: 'uplink-bytes'; perSecond: number; bytesPerOffload: number }
  /** Keep the mean latency under this bound, from the measured local and offloaded latencies. */
  | { kind: 'latency'; meanMs: number };

/**
 * The exit threshold T: inputs whose exit entropy is below T are answered at
 * the edge, the rest are offloaded. With a goal other than fixed, T follows
 * the recent inputs: the largest offloaded share the goal allows is turned
 * into the entropy quantile that offloads just that share (over a sliding
 * window), and T never goes below the operator's threshold, so the goal only
 * ever trades accuracy for budget when it must.
 */
export class ExitThreshold {
  private readonly window: Float64Array;
  private filled = 0;
  private next = 0;
  /** Arrivals per 100 ms bucket over the last 10 s: [bucket, count], oldest first (100 entries at most). */
  private readonly arrivals: [number, number][] = [];
  private localMs = 0;
  private offloadMs = 0;
  private current: number;

  constructor(
    private readonly base: number,
    private readonly goal: ThresholdGoal,
    private readonly windowSize = 512,
    private readonly now: () => number = Date.now,
  ) {
    if (!(base >= 0 && base <= 1)) throw new RangeError(`threshold ${base} is not in [0, 1]`);
    this.window = new Float64Array(windowSize);
    this.current = base;
  }

  /** The threshold for the next input, in [0, 1]. */
  get value(): number {
    return this.current;
  }

  /** The share of inputs the goal lets go to the cloud now (1: no limit). */
  allowedShare(): number {
    const g = this.goal;
    if (g.kind === 'fixed') return 1;
    if (g.kind === 'offload-share') return g.max;
    if (g.kind === 'uplink-bytes') {
      const rate = this.rate();
      return rate > 0 ? Math.min(1, g.perSecond / (rate * g.bytesPerOffload)) : 1;
    }
    // mean = local + share * (offload - local) <= bound
    const extra = this.offloadMs - this.localMs;
    if (!(extra > 0) || !this.localMs) return 1;
    return Math.min(1, Math.max(0, (g.meanMs - this.localMs) / extra));
  }

  /** One input's exit entropy (and, once known, how long its answer took where it was answered). */
  observe(entropy: number, latency?: { offloaded: boolean; ms: number }): void {
    this.observeMany([entropy], latency ? [latency] : undefined);
  }

  /** A batch's entropies and latencies; T is worked out once for the batch. */
  observeMany(entropies: readonly number[], latencies?: readonly { offloaded: boolean; ms: number }[]): void {
    for (const e of entropies) {
      this.window[this.next] = Number.isFinite(e) ? Math.min(1, Math.max(0, e)) : 1;
      this.next = (this.next + 1) % this.window.length;
      this.filled = Math.min(this.filled + 1, this.window.length);
    }
    this.arrived(entropies.length);
    for (const l of latencies ?? []) {
      const ewma = (prev: number) => (prev ? prev * 0.9 + l.ms * 0.1 : l.ms);
      if (l.offloaded) this.offloadMs = ewma(this.offloadMs);
      else this.localMs = ewma(this.localMs);
    }
    this.current = this.goal.kind === 'fixed' || this.filled < 16 ? this.base : Math.max(this.base, this.quantile(1 - this.allowedShare()));
  }

  private arrived(n: number): void {
    const bucket = Math.floor(this.now() / 100);
    const last = this.arrivals[this.arrivals.length - 1];
    if (last?.[0] === bucket) last[1] += n;
    else this.arrivals.push([bucket, n]);
    while (this.arrivals.length && this.arrivals[0]![0] <= bucket - 100) this.arrivals.shift();
  }

  /** Inputs per second over the last 10 s (or since the first). */
  private rate(): number {
    if (!this.arrivals.length) return 0;
    const count = this.arrivals.reduce((a, [, n]) => a + n, 0);
    const span = (this.arrivals[this.arrivals.length - 1]![0] - this.arrivals[0]![0] + 1) / 10;
    return count / span;
  }

  private quantile(q: number): number {
    if (q >= 1) return 1;
    const sorted = Array.from(this.window.subarray(0, this.filled)).sort((a, b) => a - b);
    // Inputs at or above T go to the cloud: T just above the q-quantile offloads about 1 - q of them.
    return Math.min(1, sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! + 1e-9);
  }
}

/** The index of the largest of n values from offset: the class a row of probabilities answers. */
export function argmaxRow(a: ArrayLike<number>, offset: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (a[offset + i]! > a[offset + best]!) best = i;
  return best;
}
