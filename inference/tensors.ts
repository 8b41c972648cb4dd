import { BadRequestError, type TensorDatatype, type TensorSpec } from '../core/index.ts';

/**
 * Tensors as the Open Inference Protocol's JSON carries them
 * (`{name, shape, datatype, data}`, data in row-major order, flat or
 * nested) and as ONNX Runtime takes them (a typed array and its dims).
 */

export type TypedArray = Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array;

/** A tensor on its way in or out: flat row-major values and the shape. */
export interface Tensor {
  datatype: TensorDatatype;
  dims: number[];
  data: TypedArray;
}

/** The datatypes served over JSON, and how ONNX Runtime names each (BYTES and FP16 have no JSON numbers to carry). */
const ORT_TYPES: Partial<Record<TensorDatatype, { ort: string; make: (n: number) => TypedArray }>> = {
  FP32: { ort: 'float32', make: (n) => new Float32Array(n) },
  FP64: { ort: 'float64', make: (n) => new Float64Array(n) },
  INT8: { ort: 'int8', make: (n) => new Int8Array(n) },
  INT16: { ort: 'int16', make: (n) => new Int16Array(n) },
  INT32: { ort: 'int32', make: (n) => new Int32Array(n) },
  INT64: { ort: 'int64', make: (n) => new BigInt64Array(n) },
  UINT8: { ort: 'uint8', make: (n) => new Uint8Array(n) },
  UINT16: { ort: 'uint16', make: (n) => new Uint16Array(n) },
  UINT32: { ort: 'uint32', make: (n) => new Uint32Array(n) },
  UINT64: { ort: 'uint64', make: (n) => new BigUint64Array(n) },
  BOOL: { ort: 'bool', make: (n) => new Uint8Array(n) },
};

export const ortType = (t: TensorDatatype): string | undefined => ORT_TYPES[t]?.ort;
export const servedOverJson = (t: TensorDatatype): boolean => ORT_TYPES[t] !== undefined;

/** The OIP datatype of an ONNX Runtime tensor type. */
export function datatypeOf(ort: string): TensorDatatype | undefined {
  return (Object.entries(ORT_TYPES) as [TensorDatatype, { ort: string }][]).find(([, v]) => v.ort === ort)?.[0];
}

/** At most this many values in one request's tensor (64 Mi elements: 256 MiB as FP32). */
export const MAX_ELEMENTS = 64 * 1024 * 1024;

const bad = (path: string, message: string) => new BadRequestError(message, { details: [{ path, message }] });

/**
 * A request input checked against the model's input and made a typed array:
 * the datatype is the model's, the rank is the model's, fixed dimensions
 * match, and the data holds exactly shape's product of values of that type.
 */
export function inputTensor(raw: unknown, spec: TensorSpec, path: string, binary?: Uint8Array): Tensor {
  const t = raw as { name?: unknown; shape?: unknown; datatype?: unknown; data?: unknown };
  if (t.datatype !== spec.datatype) throw bad(`${path}.datatype`, `input "${spec.name}" is ${spec.datatype}, not ${String(t.datatype)}`);
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) throw bad(`${path}.shape`, 'must be an array of non-negative integers');
  const dims = t.shape as number[];
  if (dims.length !== spec.shape.length) throw bad(`${path}.shape`, `input "${spec.name}" has ${spec.shape.length} dimensions [${spec.shape.join(',')}], not ${dims.length}`);
  dims.forEach((d, i) => {
    if (spec.shape[i]! >= 0 && spec.shape[i] !== d) throw bad(`${path}.shape[${i}]`, `input "${spec.name}" has ${spec.shape[i]} there, not ${d}`);
  });
  const count = dims.reduce((a, b) => a * b, 1);
  if (count > MAX_ELEMENTS) throw bad(`${path}.shape`, `at most ${MAX_ELEMENTS} values in one tensor`);
  const type = ORT_TYPES[spec.datatype];
  if (!type) throw bad(`${path}.datatype`, `${spec.datatype} is not served over JSON`);
  const data = type.make(count);
  if (binary) {
    // The binary data extension: the tensor's bytes as they lie in memory, little-endian, row-major.
    if (binary.length !== data.byteLength) throw bad(`${path}.parameters.binary_data_size`, `is ${binary.length} bytes; shape [${dims.join(',')}] of ${spec.datatype} is ${data.byteLength}`);
    new Uint8Array(data.buffer).set(binary);
    return { datatype: spec.datatype, dims, data };
  }
  if (!Array.isArray(t.data)) throw bad(`${path}.data`, 'must be an array of values in row-major order (flat or nested)');
  let n = 0;
  const big = data instanceof BigInt64Array || data instanceof BigUint64Array;
  // Nested arrays may go as deep as the shape has dimensions, no deeper.
  const put = (v: unknown, depth: number): void => {
    if (Array.isArray(v)) {
      if (depth >= Math.max(1, dims.length)) throw bad(`${path}.data`, `nested deeper than the shape's ${dims.length} dimensions`);
      for (const x of v) put(x, depth + 1);
      return;
    }
    if (n >= count) throw bad(`${path}.data`, `holds more than the shape's ${count} values`);
    if (spec.datatype === 'BOOL') {
      if (typeof v !== 'boolean') throw bad(`${path}.data[${n}]`, 'BOOL data are true or false');
      data[n++] = v ? 1 : 0;
      return;
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || (spec.datatype !== 'FP32' && spec.datatype !== 'FP64' && !Number.isInteger(v))) {
      throw bad(`${path}.data[${n}]`, `${spec.datatype} data are ${spec.datatype.startsWith('FP') ? 'finite numbers' : 'integers'}`);
    }
    if (big) (data as BigInt64Array)[n++] = BigInt(v);
    else (data as Float32Array)[n++] = v;
  };
  put(t.data, 0);
  if (n !== count) throw bad(`${path}.data`, `holds ${n} values; shape [${dims.join(',')}] needs ${count}`);
  return { datatype: spec.datatype, dims, data };
}

/** A tensor as the protocol's JSON answers it (64-bit integers as numbers: exact up to 2^53). */
export function outputJson(name: string, t: Tensor): { name: string; datatype: TensorDatatype; shape: number[]; data: (number | boolean)[] } {
  const data: (number | boolean)[] = new Array(t.data.length);
  for (let i = 0; i < t.data.length; i++) data[i] = t.datatype === 'BOOL' ? t.data[i] !== 0 : Number(t.data[i]);
  return { name, datatype: t.datatype, shape: t.dims, data };
}

/** A tensor's bytes for the binary data extension (little-endian, row-major). */
export function outputBytes(t: Tensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Tensors of the same type and inner dims, stacked along the first (the batch). */
export function concat(parts: Tensor[]): Tensor {
  const first = parts[0]!;
  if (parts.length === 1) return first;
  const total = parts.reduce((n, p) => n + p.data.length, 0);
  const data = ORT_TYPES[first.datatype]!.make(total);
  let at = 0;
  for (const p of parts) {
    (data as Float32Array).set(p.data as Float32Array, at);
    at += p.data.length;
  }
  return { datatype: first.datatype, dims: [parts.reduce((n, p) => n + p.dims[0]!, 0), ...first.dims.slice(1)], data };
}

/** The rows [from, from + rows) of a tensor whose first dimension is the batch. */
export function rowsOf(t: Tensor, from: number, rows: number): Tensor {
  const per = t.dims.slice(1).reduce((a, b) => a * b, 1);
  return { datatype: t.datatype, dims: [rows, ...t.dims.slice(1)], data: t.data.subarray(from * per, (from + rows) * per) as TypedArray };
}
