import { z } from 'zod';
import { durationSchema, nameSchema } from './schema-base.ts';

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

const artifactRefSchema = z.object({ digest: digestSchema, size: z.number().int().positive() }).strict();

export const modelSpecSchema = z
  .object({
    /** The model's name; its versions share it. */
    model: nameSchema,
    version: z.number().int().min(1).max(1_000_000),
    format: z.literal('onnx').default('onnx'),
    artifact: artifactRefSchema,
    /** Read from the artifact when omitted; when given, it must be the artifact's. */
    inputs: z.array(tensorSpecSchema).min(1).max(64).optional(),
    outputs: z.array(tensorSpecSchema).min(1).max(64).optional(),
    /** Class names, by output index (a classifier's answer is then a name as well as an index). */
    classLabels: z.array(z.string().min(1).max(256)).max(100_000).default([]),
    description: z.string().max(4096).default(''),
    /**
     * The labelled evaluation set shipped with this version (a GEVS file in
     * the artifact store, inference/eval-set.ts): a gated rollout to this
     * version measures it against the current one on these rows.
     */
    evaluation: z.object({ artifact: artifactRefSchema }).strict().optional(),
  })
  .strict();

/**
 * A rollout gate made for models (`spec.rollout.modelGate` of a model
 * Service): each instance of a new model version is measured at its site
 * against the version it replaces before it may serve, and a failure rolls
 * the Service back.
 */
export const modelGateSchema = z
  .object({
    /** The new version's accuracy on its labelled evaluation set may be at most this many points (percent) below the current version's. */
    accuracyTolerance: z.number().min(0).max(100).default(1),
    /** Its single-row p99 latency may not pass this. */
    maxP99: durationSchema({ min: '0s', max: '1h' }).optional(),
    /** Its single-row median latency may not pass this multiple of the current version's, measured in turn with it on the same node. */
    maxSlowdown: z.number().min(1).max(1000).default(2),
    /** Live requests to the current version mirrored to the new one and compared before it serves (0: none). */
    shadowRequests: z.number().int().min(0).max(100_000).default(0),
    /** The share of mirrored requests on whose top class the two must agree. */
    minAgreement: z.number().min(0).max(1).default(0.9),
  })
  .strict();
export type ModelGate = z.infer<typeof modelGateSchema>;

export const evaluationPhaseSchema = z.enum(['Evaluating', 'Shadowing', 'Passed', 'Failed']);
/** How a new model version's instance fared against the version it replaces (instance status). */
export const evaluationStatusSchema = z
  .object({
    phase: evaluationPhaseSchema,
    /** The version it is measured against. */
    baseline: z.object({ model: nameSchema, version: z.number().int().min(1) }).strict(),
    /** On the labelled set (shares from 0 to 1; null without a set). */
    rows: z.number().int().nonnegative().default(0),
    accuracy: z.number().min(0).max(1).nullable().default(null),
    baselineAccuracy: z.number().min(0).max(1).nullable().default(null),
    /** Single-row latency, ms, the two measured in turn. */
    p50Ms: z.number().nonnegative().nullable().default(null),
    baselineP50Ms: z.number().nonnegative().nullable().default(null),
    p99Ms: z.number().nonnegative().nullable().default(null),
    baselineP99Ms: z.number().nonnegative().nullable().default(null),
    /** Live requests mirrored so far, and how many got the same top class. */
    shadow: z.object({ requests: z.number().int().nonnegative(), agreed: z.number().int().nonnegative(), wanted: z.number().int().nonnegative() }).strict().optional(),
    message: z.string().max(2048).default(''),
  })
  .strict();
export type EvaluationStatus = z.infer<typeof evaluationStatusSchema>;

/** `<model>-v<version>`: the name of a model version's object. */
export const modelVersionName = (model: string, version: number): string => `${model}-v${version}`;
