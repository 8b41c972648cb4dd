import type { TensorSpec } from '../core/index.ts';
import { argmaxRow } from './early-exit.ts';
import { feedProblem, scoredOutputOf, type EvalSet } from '../core/eval-set.ts';
import type { ModelSession } from './model-session.ts';
import type { Tensor } from './tensors.ts';

/**
 * A candidate model version measured beside the version it would replace,
 * on the candidate's labelled evaluation set, in one process on one node:
 * accuracy of each (top class against the label), how often they agree,
 * and the latency of single-row runs taken in turn (so both see the same
 * machine at the same moments: a busy node slows both alike).
 */
export interface EvaluationFigures {
  rows: number;
  /** Shares from 0 to 1. */
  accuracy: number;
  baselineAccuracy: number;
  /** Rows on which both give the same top class. */
  agreement: number;
  /** Single-row runs, milliseconds, over `latencyRows` rows. */
  latencyRows: number;
  p50Ms: number;
  p99Ms: number;
  baselineP50Ms: number;
  baselineP99Ms: number;
}

export class EvaluationError extends Error {
  override name = 'EvaluationError';
}

/** The output a set's labels score (EvaluationError when the model has none). */
export function scoredOutput(outputs: TensorSpec[], classes: number): string {
  const o = scoredOutputOf(outputs, classes);
  if (!o) throw new EvaluationError(`no output of the model gives ${classes} class scores (outputs: ${outputs.map((t) => `${t.name}[${t.shape.join(',')}]`).join(' ')})`);
  return o;
}

/** Checks that the set feeds the model (EvaluationError saying why not). */
export function checkFeeds(set: Pick<EvalSet, 'input' | 'dims'>, inputs: TensorSpec[], who: string): void {
  const problem = feedProblem(set, inputs, who);
  if (problem) throw new EvaluationError(problem);
}

/** With no labelled set, latency alone, on zeros shaped as the candidate's inputs (both versions must take them). */
export async function evaluateLatency(candidate: ModelSession, baseline: ModelSession, rows = 200): Promise<Pick<EvaluationFigures, 'latencyRows' | 'p50Ms' | 'p99Ms' | 'baselineP50Ms' | 'baselineP99Ms'>> {
  const feeds: Record<string, Tensor> = {};
  for (const spec of candidate.signature.inputs) {
    if (spec.datatype !== 'FP32') throw new EvaluationError(`input "${spec.name}" is ${spec.datatype}: without an evaluation set only FP32 inputs are timed`);
    const dims = spec.shape.map((d) => (d < 0 ? 1 : d));
    feeds[spec.name] = { datatype: 'FP32', dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)) };
  }
  return timeInTurn(candidate, baseline, rows, () => feeds);
}

export async function evaluate(candidate: ModelSession, baseline: ModelSession, set: EvalSet, o: { batch?: number; latencyRows?: number } = {}): Promise<EvaluationFigures> {
  checkFeeds(set, candidate.signature.inputs, 'the candidate');
  checkFeeds(set, baseline.signature.inputs, 'the current version');
  const outC = scoredOutput(candidate.signature.outputs, set.classes);
  const outB = scoredOutput(baseline.signature.outputs, set.classes);
  const per = set.dims.reduce((a, b) => a * b, 1);
  const feed = (from: number, rows: number): Record<string, Tensor> => ({ [set.input]: { datatype: 'FP32', dims: [rows, ...set.dims], data: set.values.subarray(from * per, (from + rows) * per) } });
  const classesOf = async (s: ModelSession, out: string, from: number, rows: number): Promise<number[]> => {
    const t = (await s.run(feed(from, rows)))[out]!;
    const width = t.data.length / rows;
    if (!Number.isInteger(width) || width < 2) throw new EvaluationError(`output "${out}" gives ${t.data.length} values for ${rows} rows`);
    return Array.from({ length: rows }, (_, r) => argmaxRow(t.data as Float32Array, r * width, width));
  };

  const batch = Math.max(1, o.batch ?? 64);
  let right = 0;
  let rightB = 0;
  let agree = 0;
  for (let from = 0; from < set.rows; from += batch) {
    const rows = Math.min(batch, set.rows - from);
    const c = await classesOf(candidate, outC, from, rows);
    const b = await classesOf(baseline, outB, from, rows);
    for (let r = 0; r < rows; r++) {
      const label = set.labels[from + r];
      if (c[r] === label) right++;
      if (b[r] === label) rightB++;
      if (c[r] === b[r]) agree++;
    }
  }

  const latency = await timeInTurn(candidate, baseline, Math.min(set.rows, o.latencyRows ?? 200), (i) => feed(i, 1));
  return { rows: set.rows, accuracy: right / set.rows, baselineAccuracy: rightB / set.rows, agreement: agree / set.rows, ...latency };
}

/** Single-row runs of the two in turn, each first in every other pair, after a warm-up of both. */
async function timeInTurn(candidate: ModelSession, baseline: ModelSession, rows: number, feed: (i: number) => Record<string, Tensor>) {
  const n = Math.max(1, rows);
  const times: [number[], number[]] = [[], []];
  const sessions = [candidate, baseline] as const;
  await candidate.warmUp();
  await baseline.warmUp();
  for (let i = 0; i < n; i++) {
    for (const k of i % 2 ? [1, 0] : [0, 1]) {
      const started = performance.now();
      await sessions[k]!.run(feed(i));
      times[k]!.push(performance.now() - started);
    }
  }
  const [c, b] = times.map((t) => t.sort((x, y) => x - y));
  return { latencyRows: n, p50Ms: rank(c!, 0.5), p99Ms: rank(c!, 0.99), baselineP50Ms: rank(b!, 0.5), baselineP99Ms: rank(b!, 0.99) };
}

/** The nearest-rank quantile of sorted values, rounded to microseconds. */
function rank(sorted: number[], q: number): number {
  const v = sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
  return Math.round(v * 1000) / 1000;
}
