import { durationMs, nameKey, splitNameKey, TimeoutError, type InferenceStatus, type SplitSpec } from '../../core/index.ts';
import { argmaxRow, encodeCut, ExitThreshold, normalizedEntropy, temperatureScale, type ThresholdGoal } from '../../inference/early-exit.ts';
import { postInfer, type InferResponse, type ModelEndpoint, type NodeModels } from './model-client.ts';
import { OffloadFailedError, type OffloadClient } from './offload-client.ts';

/** Where each row of a split answer came from. */
export type ExitPlace = 'edge' | 'cloud' | 'fallback';

/** A split head's figures on this node since the agent started (status.inference.split). */
export type SplitCounters = NonNullable<InferenceStatus['split']>;

/**
 * Split inference at the edge (BranchyNet, DDNN): the head's model server
 * answers with the exit's class probabilities and the cut tensor; a row
 * whose exit is sure enough (normalized entropy, after temperature scaling,
 * below T) is answered here, the others' cut rows go, quantized, to the
 * split's tail through the center in one offload, and their answers take
 * their place. The answer is the protocol's, with one output: the class
 * probabilities of every row, and parameters saying where each came from.
 */
export class SplitInference {
  private readonly services = new Map<string, { threshold: ExitThreshold; goal: ThresholdGoal; key: string; counters: SplitCounters }>();

  constructor(private readonly offloads: OffloadClient) {}

  async infer(project: string, at: ModelEndpoint & { split: SplitSpec }, request: string, timeoutMs: number): Promise<{ status: number; body: InferResponse }> {
    const split = at.split;
    const began = performance.now();
    const head = await postInfer(at, request, timeoutMs);
    if (head.status !== 200) return head;
    const parts = headParts(head.body, split);
    if (typeof parts === 'string') return { status: parts.startsWith('a split request') ? 413 : 500, body: { error: parts.replace('MODEL', at.model) } };
    const { rows, classes, width, exit, cut } = parts;
    const s = this.service(project, at);
    const t = s.threshold.value;
    const scaled = new Float64Array(classes);
    const entropy: number[] = [];
    const hard: number[] = [];
    for (let r = 0; r < rows; r++) {
      temperatureScale(exit, r * classes, classes, split.temperature, scaled);
      const h = normalizedEntropy(scaled, 0, classes);
      entropy.push(h);
      if (h >= t) hard.push(r);
    }
    const probs = exit.slice();
    const exits: ExitPlace[] = entropy.map((h) => (h < t ? 'edge' : 'cloud'));
    const localMs = performance.now() - began;
    let bytes = 0;
    if (hard.length) {
      try {
        const values = new Float32Array(hard.length * width);
        hard.forEach((r, i) => values.set(cut.slice(r * width, (r + 1) * width), i * width));
        const wire = encodeCut(values, hard.length, width);
        const answer = tailAnswer(await this.offloads.offload(project, at.instance, wire, { timeoutMs: durationMs(split.timeout), wait: split.whenUnreachable === 'wait' }), hard.length, classes);
        hard.forEach((r, i) => probs.splice(r * classes, classes, ...answer.slice(i * classes, (i + 1) * classes)));
        bytes = wire.length;
      } catch (err) {
        if (split.whenUnreachable === 'wait') return { status: err instanceof TimeoutError ? 504 : err instanceof OffloadFailedError ? err.code : 503, body: { error: `the split's tail did not answer: ${(err as Error).message}` } };
        for (const r of hard) exits[r] = 'fallback';
      }
    }
    const total = performance.now() - began;
    const c = s.counters;
    c.rows += rows;
    c.local += rows - hard.length;
    if (bytes) {
      c.offloaded += hard.length;
      c.bytesUp += bytes;
      // An uplink budget is turned into a share with what an offloaded row has cost so far.
      if (s.goal.kind === 'uplink-bytes') s.goal.bytesPerOffload = c.bytesUp / c.offloaded;
    } else c.fallbacks += hard.length;
    s.threshold.observeMany(entropy, exits.map((e) => ({ offloaded: e === 'cloud', ms: e === 'cloud' ? total : localMs })));
    c.threshold = s.threshold.value;
    return {
      status: 200,
      body: {
        ...(head.body.id !== undefined ? { id: head.body.id } : {}),
        model_name: at.model,
        model_version: head.body.model_version,
        outputs: [{ name: 'probs', datatype: 'FP32', shape: [rows, classes], data: probs }],
        parameters: { split: { exits, entropy, threshold: t, classes: Array.from({ length: rows }, (_, r) => argmaxRow(probs, r * classes, classes)) } },
      },
    };
  }

  /** Every split head's figures on this node (the agent's /metrics). */
  all(): { project: string; instance: string; counters: SplitCounters }[] {
    return [...this.services].map(([id, s]) => {
      const [project, instance] = splitNameKey(id);
      return { project, instance, counters: s.counters };
    });
  }

  /** This node's figures for a split Service, when it has served one. */
  counters(project: string, instance: string): SplitCounters | undefined {
    return this.services.get(nameKey(project, instance))?.counters;
  }

  private service(project: string, at: ModelEndpoint & { split: SplitSpec }): { threshold: ExitThreshold; goal: ThresholdGoal; counters: SplitCounters } {
    const id = nameKey(project, at.instance);
    // A changed split (a new T or goal) is a new template, so a new instance; the key guards a reused name.
    const key = JSON.stringify(at.split);
    let s = this.services.get(id);
    if (!s || s.key !== key) {
      const goal = goalOf(at.split);
      s = { threshold: new ExitThreshold(at.split.threshold, goal), goal, key, counters: { rows: 0, local: 0, offloaded: 0, fallbacks: 0, bytesUp: 0, threshold: at.split.threshold } };
      this.services.delete(id);
      this.services.set(id, s);
      // Instances come and go with rollouts: the oldest figures go first.
      if (this.services.size > 1000) this.services.delete(this.services.keys().next().value!);
    }
    return s;
  }
}

function goalOf(split: SplitSpec): ThresholdGoal {
  const g = split.goal;
  if (!g) return { kind: 'fixed' };
  if ('offloadShare' in g) return { kind: 'offload-share', max: g.offloadShare };
  // Until something was offloaded, a row is taken to cost the cut's 16-byte header and a byte a value of a 48-wide cut.
  if ('uplinkBytesPerSecond' in g) return { kind: 'uplink-bytes', perSecond: g.uplinkBytesPerSecond, bytesPerOffload: 64 };
  return { kind: 'latency', meanMs: durationMs(g.meanLatency) };
}

/** The node's models for inference over MQTT and rules: a split head's requests go through `split`, the others straight to their model server. */
export function nodeModels(endpoint: NodeModels['endpoint'], split: SplitInference, shadow?: (project: string, at: ModelEndpoint, body: string, answer: InferResponse) => void): NodeModels {
  return {
    endpoint,
    infer: async (project, at, body, timeoutMs) => {
      const res = at.split ? await split.infer(project, { ...at, split: at.split }, body, timeoutMs) : await postInfer(at, body, timeoutMs);
      // A gated rollout's candidate on this node may compare its answer with this one.
      if (res.status === 200) shadow?.(project, at, body, res.body);
      return res;
    },
  };
}

/** A split answer holds at most this many values (what an offload's answer may carry: core/protocol.ts). */
export const SPLIT_MAX_VALUES = 65_536;

/** The head's exit and cut, checked against each other; a string says what is wrong (MODEL stands for its name). */
export function headParts(body: InferResponse, split: Pick<SplitSpec, 'exitOutput' | 'cutOutput'>): { rows: number; classes: number; width: number; exit: number[]; cut: number[] } | string {
  const exit = body.outputs?.find((o) => o.name === split.exitOutput);
  const cut = body.outputs?.find((o) => o.name === split.cutOutput);
  if (!exit || !cut || exit.shape.length !== 2 || cut.shape.length !== 2 || exit.shape[0] !== cut.shape[0]) {
    return `model "MODEL" is not a split head: it needs outputs "${split.exitOutput}" [rows, classes] and "${split.cutOutput}" [rows, width]`;
  }
  const [rows, classes] = exit.shape as [number, number];
  const width = cut.shape[1]!;
  if (exit.data.length !== rows * classes || cut.data.length !== rows * width) return 'model "MODEL" answered outputs whose data does not match their shapes';
  if (rows * classes > SPLIT_MAX_VALUES || rows > 0xffff || width > 0xffff) return `a split request holds at most ${Math.floor(SPLIT_MAX_VALUES / Math.max(1, classes))} rows`;
  return { rows, classes, width, exit: exit.data, cut: cut.data };
}

/** The tail's class probabilities for `rows` rows, or OffloadFailedError when its answer is not that. */
export function tailAnswer(outputs: { shape: number[]; data: number[] }[], rows: number, classes: number): number[] {
  const a = outputs[0];
  if (!a || a.shape.length !== 2 || a.shape[0] !== rows || a.shape[1] !== classes || a.data.length !== rows * classes) {
    throw new OffloadFailedError(502, `the tail answered [${a?.shape.join(', ') ?? ''}] for ${rows} rows of ${classes} classes`);
  }
  if (!a.data.every((v) => v >= 0 && v <= 1)) throw new OffloadFailedError(502, 'the tail answered values that are not probabilities');
  return a.data;
}
