import type { EvaluationStatus, Instance, ModelGate } from '../../core/index.ts';
import { durationMs } from '../../core/index.ts';
import { argmaxRow } from '../../inference/early-exit.ts';
import type { InferResponse, ModelEndpoint } from './model-client.ts';

/** What the center asks of a gated rollout's new model instance (Instance spec.evaluation). */
export type GateSpec = NonNullable<Instance['spec']['evaluation']>;

/** What the candidate's model server measured (GET /v2/models/{name}/evaluation; inference/evaluation.ts). */
export interface MeasuredFigures {
  rows?: number;
  accuracy?: number;
  baselineAccuracy?: number;
  p50Ms?: number;
  baselineP50Ms?: number;
  p99Ms?: number;
  baselineP99Ms?: number;
  error?: string;
}

const pct = (v: number) => `${(v * 100).toFixed(2)} %`;

/** Why the figures fail the gate, or undefined when they pass it. */
export function judge(f: MeasuredFigures, gate: ModelGate, baseline: string): string | undefined {
  if (f.error) return `it could not be measured against ${baseline}: ${f.error}`;
  if (f.accuracy !== undefined && f.baselineAccuracy !== undefined) {
    // In points, to a millionth of one: 88.1 % against 87.1 % is a drop of 1, not of 1.0000000000000009.
    const drop = Math.round((f.baselineAccuracy - f.accuracy) * 1e8) / 1e6;
    if (drop > gate.accuracyTolerance) return `accuracy ${pct(f.accuracy)} on ${f.rows} labelled rows against ${pct(f.baselineAccuracy)} for ${baseline}: ${drop.toFixed(2)} points lower, more than the ${gate.accuracyTolerance} allowed`;
  }
  if (f.p99Ms !== undefined && gate.maxP99 !== undefined && f.p99Ms > durationMs(gate.maxP99)) return `p99 latency ${f.p99Ms} ms is above the bound of ${gate.maxP99}`;
  // The slowdown on the median: a p99 of 200 sub-millisecond runs is one or two pauses of the machine, not the model.
  if (f.p50Ms !== undefined && f.baselineP50Ms !== undefined && f.p50Ms > f.baselineP50Ms * gate.maxSlowdown) {
    return `median latency ${f.p50Ms} ms against ${f.baselineP50Ms} ms for ${baseline}: ${(f.p50Ms / Math.max(f.baselineP50Ms, 1e-6)).toFixed(1)}x slower, more than the ${gate.maxSlowdown}x allowed`;
  }
  return undefined;
}

/** The top class of an answer's output `name` (default: its first), row 0; undefined when it has none. */
export function topClass(body: InferResponse | undefined, name?: string): number | undefined {
  const o = name === undefined ? body?.outputs?.[0] : body?.outputs?.find((x) => x.name === name);
  if (!o?.data?.length) return undefined;
  return argmaxRow(o.data, 0, Math.min(o.shape.at(-1) ?? o.data.length, o.data.length));
}

/**
 * One gated model instance on this node, from measured to judged: the
 * model server measures the candidate against the current version before
 * it is ready (Evaluating); the agent judges the figures; with
 * `shadowRequests`, live requests served by the current version on this
 * node are mirrored to it and their top classes compared (Shadowing);
 * then Passed (it may serve: the instance is reported ready) or Failed
 * (it never serves; the center rolls the Service back). The agent
 * reports the instance not ready until Passed.
 */
export class InstanceGate {
  private state: EvaluationStatus;
  private measuring = false;

  constructor(
    private readonly spec: GateSpec,
    private readonly changed: (event?: { reason: string; message: string; type: 'Normal' | 'Warning' }) => void,
  ) {
    const b = spec.baseline;
    this.state = { phase: 'Evaluating', baseline: { model: b.model, version: b.version }, rows: 0, accuracy: null, baselineAccuracy: null, p50Ms: null, baselineP50Ms: null, p99Ms: null, baselineP99Ms: null, message: `measuring against ${this.baselineName}` };
  }

  get status(): EvaluationStatus {
    return this.state;
  }

  get passed(): boolean {
    return this.state.phase === 'Passed';
  }

  get shadowing(): boolean {
    return this.state.phase === 'Shadowing';
  }

  private get baselineName(): string {
    return `${this.spec.baseline.model} version ${this.spec.baseline.version}`;
  }

  /** The model server is ready, so it has measured: read and judge its figures once. `serving` says whether the current version serves live requests on this node (shadow needs them). */
  async measured(read: () => Promise<MeasuredFigures>, serving: () => boolean): Promise<void> {
    if (this.state.phase !== 'Evaluating' || this.measuring) return;
    this.measuring = true;
    let f: MeasuredFigures;
    try {
      f = await read();
    } catch (e) {
      f = { error: `its figures cannot be read: ${(e as Error).message}` };
    } finally {
      this.measuring = false;
    }
    const round = (v: number | undefined) => (v === undefined ? null : Math.round(v * 1e4) / 1e4);
    this.state = { ...this.state, rows: f.rows ?? 0, accuracy: round(f.accuracy), baselineAccuracy: round(f.baselineAccuracy), p50Ms: f.p50Ms ?? null, baselineP50Ms: f.baselineP50Ms ?? null, p99Ms: f.p99Ms ?? null, baselineP99Ms: f.baselineP99Ms ?? null };
    const why = judge(f, this.spec.gate, this.baselineName);
    if (why) return this.fail(why);
    const labelled = f.accuracy !== undefined ? `accuracy ${pct(f.accuracy)} against ${pct(f.baselineAccuracy!)} on ${f.rows} labelled rows, ` : 'no labelled evaluation set, ';
    const measuredText = `${labelled}p50 ${f.p50Ms} ms against ${f.baselineP50Ms} ms, p99 ${f.p99Ms} ms against ${f.baselineP99Ms} ms`;
    const wanted = this.spec.gate.shadowRequests;
    if (wanted > 0 && serving()) {
      this.state = { ...this.state, phase: 'Shadowing', shadow: { requests: 0, agreed: 0, wanted }, message: `${measuredText}; comparing ${wanted} live requests with ${this.baselineName}` };
      return this.changed();
    }
    this.pass(`${measuredText}${wanted > 0 ? `; no live requests to ${this.baselineName} on this node to shadow` : ''}`);
  }

  /** A live request answered by the current version was answered by this one too: `agreed` when both gave the same top class. */
  shadowed(agreed: boolean): void {
    const s = this.state.shadow;
    if (this.state.phase !== 'Shadowing' || !s) return;
    const shadow = { ...s, requests: s.requests + 1, agreed: s.agreed + Number(agreed) };
    this.state = { ...this.state, shadow };
    if (shadow.requests < shadow.wanted) return this.changed();
    const share = shadow.agreed / shadow.requests;
    const text = `the top class agreed with ${this.baselineName} on ${shadow.agreed} of ${shadow.requests} live requests (${pct(share)})`;
    if (share < this.spec.gate.minAgreement) return this.fail(`${text}, below the ${pct(this.spec.gate.minAgreement)} required`);
    this.pass(`${this.state.message.split(';')[0]}; ${text}`);
  }

  /** The current version stopped serving on this node while shadowing: what was compared stands. */
  noMoreTraffic(): void {
    if (this.state.phase !== 'Shadowing') return;
    const s = this.state.shadow!;
    if (s.requests > 0 && s.agreed / s.requests < this.spec.gate.minAgreement) return this.fail(`the top class agreed with ${this.baselineName} on ${s.agreed} of ${s.requests} live requests before it stopped serving here`);
    this.pass(`${this.state.message.split(';')[0]}; ${this.baselineName} stopped serving here after ${s.requests} shadowed requests`);
  }

  private pass(message: string): void {
    this.state = { ...this.state, phase: 'Passed', message };
    this.changed({ reason: 'ModelGatePassed', message: `passed its model gate: ${message}`, type: 'Normal' });
  }

  private fail(message: string): void {
    this.state = { ...this.state, phase: 'Failed', message };
    this.changed({ reason: 'ModelGateFailed', message: `failed its model gate: ${message}`, type: 'Warning' });
  }
}

/** The figures a candidate's model server measured (inference/server.ts): a small JSON object of numbers (and an error), or a thrown error saying what came instead. */
export async function readEvaluation(at: Pick<ModelEndpoint, 'port' | 'model'>): Promise<MeasuredFigures> {
  const res = await fetch(`http://127.0.0.1:${at.port}/v2/models/${encodeURIComponent(at.model)}/evaluation`, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const text = await res.text();
  if (text.length > 16_384) throw new Error(`an answer of ${text.length} bytes is not figures`);
  const raw = JSON.parse(text) as Record<string, unknown>;
  const out: MeasuredFigures = {};
  for (const k of ['rows', 'accuracy', 'baselineAccuracy', 'p50Ms', 'baselineP50Ms', 'p99Ms', 'baselineP99Ms'] as const) {
    const v = raw[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (k.endsWith('ccuracy') && v > 1)) throw new Error(`${k} is not a figure: ${JSON.stringify(v)?.slice(0, 40)}`);
    out[k] = v;
  }
  if (raw.error !== undefined) out.error = String(raw.error).slice(0, 500);
  return out;
}
