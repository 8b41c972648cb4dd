import { z } from 'zod';
import { nameSchema } from './schema-base.ts';

/**
 * Models: trained networks that answer at the edge. Each `Model` object is
 * one version of a named model (`metadata.name` is `<model>-v<version>`),
 * immutable once made but for its description and class labels: its
 * artifact (an ONNX file in the center's artifact store, addressed by its
 * sha256) and its signature never change. The signature is read from the
 * artifact when it is pushed, in the Open Inference Protocol's terms
 * (KServe, Triton): tensor names, datatypes and shapes, -1 for a dimension
 * the model leaves open (the batch, say).
 */

/** The Open Inference Protocol v2 datatypes an ONNX tensor can have. */
export const TENSOR_DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'] as const;
export type TensorDatatype = (typeof TENSOR_DATATYPES)[number];

export const tensorSpecSchema = z
  .object({
    name: z.string().min(1).max(256),
    datatype: z.enum(TENSOR_DATATYPES),
    /** -1: any size (a symbolic or unknown dimension). */
    shape: z.array(z.number().int().min(-1)).max(16),
  })
  .strict();
export type TensorSpec = z.infer<typeof tensorSpecSchema>;

export const modelSignatureSchema = z
  .object({
    inputs: z.array(tensorSpecSchema).min(1).max(64),
    outputs: z.array(tensorSpecSchema).min(1).max(64),
  })
  .strict();
export type ModelSignature = z.infer<typeof modelSignatureSchema>;

/** `sha256:<64 hex>`, how artifacts are addressed (as OCI digests are written). */
export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;
export const digestSchema = z.string().regex(DIGEST_PATTERN, 'must be sha256:<64 lowercase hex digits>');

export const modelSpecSchema = z
  .object({
    /** The model's name; its versions share it. */
    model: nameSchema,
    version: z.number().int().min(1).max(1_000_000),
    format: z.literal('onnx').default('onnx'),
    artifact: z.object({ digest: digestSchema, size: z.number().int().positive() }).strict(),
    /** Read from the artifact when omitted; when given, it must be the artifact's. */
    inputs: z.array(tensorSpecSchema).min(1).max(64).optional(),
    outputs: z.array(tensorSpecSchema).min(1).max(64).optional(),
    /** Class names, by output index (a classifier's answer is then a name as well as an index). */
    classLabels: z.array(z.string().min(1).max(256)).max(100_000).default([]),
    description: z.string().max(4096).default(''),
  })
  .strict();

/** `<model>-v<version>`: the name of a model version's object. */
export const modelVersionName = (model: string, version: number): string => `${model}-v${version}`;
