import type { RuleAction } from '../../core/index.ts';
import { argmaxRow } from '../../inference/early-exit.ts';
import { metadataOf, type NodeModels } from '../models/model-client.ts';

type Row = Record<string, unknown>;
type Infer = Extract<RuleAction, { infer: unknown }>['infer'];

/** What a row gets from the model: every output by name and, for a classifier, the top class, its label and score. */
export interface InferenceAnswer {
  model: string;
  version: string;
  outputs: Record<string, number[]>;
  class?: number;
  label?: string;
  score?: number;
  /** A split head's answer: where the row was answered (the edge's exit, the cloud's tail, or the exit because the tail was unreachable). */
  exit?: 'edge' | 'cloud' | 'fallback';
  /** How long the answer took, milliseconds (for a split head, the tail's round trip included). */
  ms: number;
}

/** A row that can never be inferred (its field holds no numbers, its shape does not fit): retrying cannot help. */
export class UnfitRowError extends Error {}

/**
 * One row through a model served on this node (the Open Inference Protocol
 * on loopback): the row's field becomes the model's input, the answer is
 * added to the row. No ready instance on the node is a failure the rule
 * retries with backoff (one may be starting).
 */
export async function inferRow(a: Infer, project: string, row: Row, models: NodeModels | undefined): Promise<Row> {
  const at = models?.endpoint(project, a.service);
  if (!models || !at) throw new Error(`no instance of model service "${a.service}" is ready on this node`);
  const input = (await metadataOf(at)).inputs[0]!;
  const values = flatten(field(row, a.from));
  if (!values) throw new UnfitRowError(`field "${a.from}" of the row holds no numbers`);
  const shape = a.shape ?? fitShape(input.shape, values.length);
  if (!shape) throw new UnfitRowError(`${values.length} values do not fit input "${input.name}" of shape [${input.shape.join(',')}]`);
  const started = performance.now();
  const res = await models.infer(project, at, JSON.stringify({ inputs: [{ name: input.name, shape, datatype: input.datatype, data: values }] }), 10_000);
  const ms = Math.round((performance.now() - started) * 1000) / 1000;
  const body = res.body;
  if (res.status === 400) throw new UnfitRowError(body.error ?? 'the model refused the row');
  if (res.status !== 200 || !body.outputs) throw new Error(`model "${at.model}": HTTP ${res.status}${body.error ? `: ${body.error}` : ''}`);
  const answer: InferenceAnswer = { model: at.model, version: body.model_version ?? '', outputs: Object.fromEntries(body.outputs.map((o) => [o.name, o.data])), ms };
  const exit = (body.parameters?.split as { exits?: unknown[] } | undefined)?.exits?.[0];
  if (exit === 'edge' || exit === 'cloud' || exit === 'fallback') answer.exit = exit;
  if (body.outputs.length === 1 && body.outputs[0]!.data.length > 1) {
    const scores = body.outputs[0]!.data;
    const top = argmaxRow(scores, 0, scores.length);
    answer.class = top;
    answer.score = scores[top];
    if (at.classLabels?.[top] !== undefined) answer.label = at.classLabels[top];
  }
  return { ...row, inference: answer };
}

function field(row: Row, path: string): unknown {
  let v: unknown = row;
  for (const p of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Row)[p] : undefined;
  return v;
}

/** The numbers of a flat or nested array; undefined for anything else. */
function flatten(v: unknown): number[] | undefined {
  if (!Array.isArray(v)) return typeof v === 'number' ? [v] : undefined;
  const out: number[] = [];
  const walk = (x: unknown, depth: number): boolean => {
    if (Array.isArray(x)) return depth < 16 && x.every((y) => walk(y, depth + 1));
    if (typeof x !== 'number' || !Number.isFinite(x)) return false;
    out.push(x);
    return true;
  };
  return walk(v, 0) && out.length ? out : undefined;
}

/** The model's shape with its open dimensions filled: the first as 1 (one row), one other from the count of values. */
function fitShape(model: number[], count: number): number[] | undefined {
  const dims = model.map((d, i) => (d < 0 && i === 0 ? 1 : d));
  const open = dims.filter((d) => d < 0).length;
  const known = dims.filter((d) => d > 0).reduce((a, b) => a * b, 1);
  if (open > 1) return undefined;
  if (open === 1) return count % known === 0 ? dims.map((d) => (d < 0 ? count / known : d)) : undefined;
  return known === count ? dims : undefined;
}
