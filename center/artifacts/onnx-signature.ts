import protobuf from 'protobufjs/minimal.js';
import onnxProto from 'onnx-proto';
import { ValidationError, type ModelSignature, type TensorDatatype, type TensorSpec } from '../../core/index.ts';

const { onnx } = onnxProto;

/** ONNX TensorProto.DataType -> the Open Inference Protocol's datatype (the types ONNX Runtime serves). */
const DATATYPES: Record<number, TensorDatatype> = {
  1: 'FP32', 2: 'UINT8', 3: 'INT8', 4: 'UINT16', 5: 'INT16', 6: 'INT32', 7: 'INT64', 8: 'BYTES', 9: 'BOOL', 10: 'FP16', 11: 'FP64', 12: 'UINT32', 13: 'UINT64',
};

// Field numbers of onnx.proto (ModelProto.graph = 7; GraphProto.initializer = 5, input = 11, output = 12; TensorProto.name = 8).
const MODEL_IR_VERSION = 1;
const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const TENSOR_NAME = 8;
const LEN = 2;

const notOnnx = (why: string) => new ValidationError(`not an ONNX model: ${why}`, { details: [{ path: 'body', message: why }] });

/**
 * The inputs and outputs of an ONNX model file, read from its graph without
 * decoding its weights: the walk skips over every initializer's data, so a
 * large model costs a pass over its bytes, not a copy of its tensors.
 * Initializers that older exporters also list as graph inputs are not
 * inputs. Anything that is not a model ONNX Runtime could load (no graph,
 * no input or output, a tensor type it does not serve) is refused with
 * what is wrong.
 */
export function onnxSignature(file: Uint8Array): ModelSignature {
  let graph: Uint8Array | undefined;
  let ir = 0;
  try {
    const r = protobuf.Reader.create(file);
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag >>> 3 === MODEL_GRAPH && (tag & 7) === LEN) graph = r.bytes();
      else if (tag >>> 3 === MODEL_IR_VERSION && (tag & 7) === 0) ir = Number(r.int64());
      else r.skipType(tag & 7);
    }
  } catch (e) {
    throw notOnnx(`the file is not a protobuf ModelProto (${(e as Error).message})`);
  }
  if (!graph || ir < 3) throw notOnnx(graph ? `IR version ${ir} is older than ONNX Runtime loads (3)` : 'it has no graph');
  const inputs: Uint8Array[] = [];
  const outputs: Uint8Array[] = [];
  const initializers = new Set<string>();
  try {
    const r = protobuf.Reader.create(graph);
    while (r.pos < r.len) {
      const tag = r.uint32();
      const field = tag >>> 3;
      if ((tag & 7) !== LEN || ![GRAPH_INPUT, GRAPH_OUTPUT, GRAPH_INITIALIZER].includes(field)) {
        r.skipType(tag & 7);
        continue;
      }
      const bytes = r.bytes();
      if (field === GRAPH_INPUT) inputs.push(bytes);
      else if (field === GRAPH_OUTPUT) outputs.push(bytes);
      else initializers.add(tensorName(bytes));
    }
  } catch (e) {
    throw notOnnx(`its graph cannot be read (${(e as Error).message})`);
  }
  let signature: ModelSignature;
  try {
    signature = {
      inputs: inputs.map((b) => tensorSpec(b, 'input')).filter((t) => !initializers.has(t.name)),
      outputs: outputs.map((b) => tensorSpec(b, 'output')),
    };
  } catch (e) {
    if (e instanceof ValidationError) throw e;
    throw notOnnx(`an input or output cannot be read (${(e as Error).message})`);
  }
  if (!signature.inputs.length) throw notOnnx('its graph has no input');
  if (!signature.outputs.length) throw notOnnx('its graph has no output');
  if (signature.inputs.length > 64 || signature.outputs.length > 64) throw notOnnx('more than 64 inputs or outputs');
  return signature;
}

function tensorName(bytes: Uint8Array): string {
  const r = protobuf.Reader.create(bytes);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === TENSOR_NAME && (tag & 7) === LEN) return r.string();
    r.skipType(tag & 7);
  }
  return '';
}

function tensorSpec(bytes: Uint8Array, role: string): TensorSpec {
  const v = onnx.ValueInfoProto.decode(bytes);
  const t = v.type?.tensorType;
  if (!v.name) throw notOnnx(`an ${role} has no name`);
  if (!t) throw notOnnx(`${role} "${v.name}" is not a tensor (sequences and maps are not served)`);
  const datatype = DATATYPES[t.elemType ?? 0];
  if (!datatype) throw notOnnx(`${role} "${v.name}" has element type ${t.elemType}, which is not served`);
  const shape = (t.shape?.dim ?? []).map((d) => (d.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) > 0 ? Number(d.dimValue) : -1));
  if (shape.length > 16) throw notOnnx(`${role} "${v.name}" has more than 16 dimensions`);
  return { name: v.name.slice(0, 256), datatype, shape };
}
