import { gunzipSync } from 'node:zlib';
import type { TensorSpec } from './model-schema.ts';

/**
 * A labelled evaluation set, as a model version ships it for its gated
 * rollout: rows of one input tensor and each row's class. The file (an
 * artifact beside the model's, addressed by its sha256) is, little-endian:
 *
 *   "GEVS" | version 1 (u8) | datatype 1 = FP32 (u8) | name length (u16) | name (UTF-8)
 *   | rank (u8) | the row's dims (u32 each) | rows (u32) | classes (u32)
 *   | rows x prod(dims) float32 | rows int32 labels in [0, classes)
 *
 * and may be gzip-compressed as a whole (images compress well).
 */
export interface EvalSet {
  /** The model input the rows feed. */
  input: string;
  /** One row's dims (the batch dimension left out). */
  dims: number[];
  rows: number;
  classes: number;
  values: Float32Array;
  labels: Int32Array;
}

/** What the center tells of a stored set: the input it feeds, one row's dims, rows and classes. */
export type EvalSetFacts = Pick<EvalSet, 'input' | 'dims' | 'rows' | 'classes'>;

export class EvalSetFormatError extends Error {
  override name = 'EvalSetFormatError';
}

const MAGIC = 'GEVS';
/** At most this many values in a set (64 MiB of floats: 21,000 images of 28x28); a gzip bomb stops at the same bound. */
export const MAX_EVAL_VALUES = 1 << 24;
const MAX_ROWS = 1_000_000;
/** The largest set, unpacked: its values and a bound on its header and labels. */
export const EVAL_SET_MAX_BYTES = MAX_EVAL_VALUES * 4 + (1 << 23);

export function encodeEvalSet(s: EvalSet): Buffer {
  const name = Buffer.from(s.input, 'utf8');
  const per = s.dims.reduce((a, b) => a * b, 1);
  if (s.values.length !== s.rows * per || s.labels.length !== s.rows) throw new EvalSetFormatError(`${s.rows} rows of ${per} values need ${s.rows * per} values and ${s.rows} labels`);
  const head = Buffer.alloc(4 + 1 + 1 + 2 + name.length + 1 + 4 * s.dims.length + 8);
  let at = head.write(MAGIC, 0, 'latin1');
  at = head.writeUInt8(1, at);
  at = head.writeUInt8(1, at);
  at = head.writeUInt16LE(name.length, at);
  at += name.copy(head, at);
  at = head.writeUInt8(s.dims.length, at);
  for (const d of s.dims) at = head.writeUInt32LE(d, at);
  at = head.writeUInt32LE(s.rows, at);
  head.writeUInt32LE(s.classes, at);
  const values = Buffer.from(new Float32Array(s.values).buffer);
  const labels = Buffer.from(new Int32Array(s.labels).buffer);
  return Buffer.concat([head, values, labels]);
}

/** Whether the bytes start as an evaluation set (or a gzip file, which may be one). */
export const looksLikeEvalSet = (buf: Uint8Array): boolean => Buffer.from(buf.subarray(0, 4)).toString('latin1') === MAGIC || (buf[0] === 0x1f && buf[1] === 0x8b);

/** Reads an evaluation set, refusing anything that does not add up (throws EvalSetFormatError saying what). */
export function decodeEvalSet(raw: Uint8Array): EvalSet {
  let buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  if (buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf, { maxOutputLength: EVAL_SET_MAX_BYTES });
    } catch (e) {
      throw new EvalSetFormatError(`the gzip stream does not unpack within ${EVAL_SET_MAX_BYTES} bytes: ${(e as Error).message}`);
    }
  }
  const need = (n: number, at: number, what: string) => {
    if (at + n > buf.length) throw new EvalSetFormatError(`the file ends at byte ${buf.length}, inside ${what}`);
  };
  need(8, 0, 'the header');
  if (buf.subarray(0, 4).toString('latin1') !== MAGIC) throw new EvalSetFormatError('not an evaluation set (it does not start with "GEVS")');
  if (buf[4] !== 1) throw new EvalSetFormatError(`format version ${buf[4]} is not one this gedge reads (1)`);
  if (buf[5] !== 1) throw new EvalSetFormatError(`datatype ${buf[5]} is not one this gedge reads (1: FP32)`);
  const nameLength = buf.readUInt16LE(6);
  need(nameLength + 1, 8, 'the input name');
  const input = buf.subarray(8, 8 + nameLength).toString('utf8');
  if (!input) throw new EvalSetFormatError('the input name is empty');
  let at = 8 + nameLength;
  const rank = buf.readUInt8(at++);
  if (rank > 8) throw new EvalSetFormatError(`a row of rank ${rank} (at most 8)`);
  need(4 * rank + 8, at, 'the dims');
  const dims: number[] = [];
  for (let i = 0; i < rank; i++, at += 4) dims.push(buf.readUInt32LE(at));
  const rows = buf.readUInt32LE(at);
  const classes = buf.readUInt32LE(at + 4);
  at += 8;
  const per = dims.reduce((a, b) => a * b, 1);
  if (rows < 1 || rows > MAX_ROWS) throw new EvalSetFormatError(`${rows} rows (from 1 to ${MAX_ROWS})`);
  if (per < 1 || rows * per > MAX_EVAL_VALUES) throw new EvalSetFormatError(`${rows} rows of ${per} values: more than ${MAX_EVAL_VALUES} values, or none`);
  if (classes < 2 || classes > 100_000) throw new EvalSetFormatError(`${classes} classes (from 2 to 100,000)`);
  const expected = at + 4 * rows * per + 4 * rows;
  if (buf.length !== expected) throw new EvalSetFormatError(`${rows} rows of ${per} values and their labels make ${expected} bytes; the file has ${buf.length}`);
  // Copied out: the values' offset need not be 4-aligned in the file.
  const values = new Float32Array(buf.buffer.slice(buf.byteOffset + at, buf.byteOffset + at + 4 * rows * per));
  const labels = new Int32Array(buf.buffer.slice(buf.byteOffset + at + 4 * rows * per, buf.byteOffset + expected));
  for (let i = 0; i < rows; i++) {
    if (labels[i]! < 0 || labels[i]! >= classes) throw new EvalSetFormatError(`row ${i}'s label ${labels[i]} is not a class from 0 to ${classes - 1}`);
  }
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new EvalSetFormatError(`value ${i} (row ${Math.floor(i / per)}) is not a finite number`);
  }
  return { input, dims, rows, classes, values, labels };
}

/** Why the set cannot feed a model with these inputs (its only input, FP32, rows of that input's shape), or undefined when it can. `who` names the model in the message. */
export function feedProblem(set: Pick<EvalSet, 'input' | 'dims'>, inputs: TensorSpec[], who: string): string | undefined {
  const spec = inputs.find((t) => t.name === set.input);
  if (!spec || inputs.length !== 1) return `the evaluation set's rows feed "${set.input}" FP32[${set.dims.join(',')}]; ${who} takes ${inputs.map((t) => `${t.name}:${t.datatype}[${t.shape.join(',')}]`).join(' ')}`;
  if (spec.datatype !== 'FP32') return `${who}'s input "${spec.name}" is ${spec.datatype}; evaluation sets carry FP32`;
  const row = spec.shape.slice(1);
  if (row.length !== set.dims.length || row.some((d, i) => d !== -1 && d !== set.dims[i])) {
    return `the evaluation set's rows feed "${set.input}" FP32[${set.dims.join(',')}]; ${who} takes ${spec.name}:${spec.datatype}[${spec.shape.join(',')}] (its first dimension the batch)`;
  }
  return undefined;
}

/** The output a set's labels score: the first whose last dimension is the set's class count (or open); undefined when none is. */
export function scoredOutputOf(outputs: TensorSpec[], classes: number): string | undefined {
  return (outputs.find((t) => t.shape.at(-1) === classes) ?? outputs.find((t) => t.shape.at(-1) === -1))?.name;
}
