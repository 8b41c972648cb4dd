import ort from 'onnxruntime-node';
import { type ModelSignature, type TensorSpec } from '../core/index.ts';
import { datatypeOf, ortType, type Tensor, type TypedArray } from './tensors.ts';

export interface SessionOptions {
  /** Threads ONNX Runtime uses inside one operator (0: its default, one per core). */
  intraOpThreads?: number;
}

/**
 * One ONNX model loaded in ONNX Runtime (CPU), with its signature as the
 * Open Inference Protocol states it: what the served model is and runs.
 */
export class ModelSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly signature: ModelSignature,
  ) {}

  static async load(model: string | Uint8Array, opts: SessionOptions = {}): Promise<ModelSession> {
    const options: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      ...(opts.intraOpThreads ? { intraOpNumThreads: opts.intraOpThreads } : {}),
      // ONNX Runtime's threads would spin-wait after every run, burning the cores an edge node shares with its other workloads.
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    };
    const session = typeof model === 'string' ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
    const spec = (m: ort.InferenceSession.ValueMetadata): TensorSpec => {
      const datatype = m.isTensor ? datatypeOf(m.type) : undefined;
      if (!m.isTensor || !datatype) throw new Error(`"${m.name}" is not a tensor this runtime serves (${m.isTensor ? m.type : 'not a tensor'})`);
      return { name: m.name, datatype, shape: m.shape.map((d) => (typeof d === 'number' && d > 0 ? d : -1)) };
    };
    return new ModelSession(session, { inputs: session.inputMetadata.map(spec), outputs: session.outputMetadata.map(spec) });
  }

  /** Whether every input and output has an open first dimension: requests can then be stacked into one run. */
  get batchable(): boolean {
    return [...this.signature.inputs, ...this.signature.outputs].every((t) => t.shape[0] === -1);
  }

  async run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const input: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) input[name] = new ort.Tensor(ortType(t.datatype) as 'float32', t.data as Float32Array, t.dims);
    const out = await this.session.run(input);
    const result: Record<string, Tensor> = {};
    for (const spec of this.signature.outputs) {
      const t = out[spec.name]!;
      result[spec.name] = { datatype: spec.datatype, dims: [...t.dims], data: t.data as TypedArray };
    }
    return result;
  }

  /** One run on zeros (open dimensions as 1), so the first request does not pay for ONNX Runtime's first-run allocations. */
  async warmUp(): Promise<void> {
    const feeds: Record<string, Tensor> = {};
    for (const spec of this.signature.inputs) {
      const dims = spec.shape.map((d) => (d < 0 ? 1 : d));
      const n = dims.reduce((a, b) => a * b, 1);
      const data = spec.datatype === 'INT64' ? new BigInt64Array(n) : spec.datatype === 'UINT64' ? new BigUint64Array(n) : new (zeroArray(spec))(n);
      feeds[spec.name] = { datatype: spec.datatype, dims, data };
    }
    await this.run(feeds);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function zeroArray(spec: TensorSpec): new (n: number) => TypedArray {
  switch (spec.datatype) {
    case 'FP64':
      return Float64Array;
    case 'INT8':
      return Int8Array;
    case 'INT16':
      return Int16Array;
    case 'INT32':
      return Int32Array;
    case 'UINT8':
    case 'BOOL':
      return Uint8Array;
    case 'UINT16':
      return Uint16Array;
    case 'UINT32':
      return Uint32Array;
    default:
      return Float32Array;
  }
}
