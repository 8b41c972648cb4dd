import { durationMs, TimeoutError, type SplitSpec } from '../../core/index.ts';
import { argmaxRow, encodeCut, ExitThreshold, normalizedEntropy, temperatureScale, type ThresholdGoal } from '../../inference/early-exit.ts';
import type { ModelEndpoint } from './model-bridge.ts';
import { postInfer, type InferResponse, type NodeModels } from './model-client.ts';
import { OffloadFailedError, type OffloadClient } from './offload-client.ts';

/** Where each row of a split answer came from. */
export type ExitPlace = 'edge' | 'cloud' | 'fallback';

/** A split Service's figures on this node since the agent started. */
export interface SplitCounters {
  rows: number;
  local: number;
  offloaded: number;
  /** Hard rows answered by the exit because the tail could not be reached. */
  fallbacks: number;
  /** Cut bytes sent to the cloud. */
  bytesUp: number;
  threshold: number;
}

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
    const exit = head.body.outputs?.find((o) => o.name === split.exitOutput);
    const cut = head.body.outputs?.find((o) => o.name === split.cutOutput);
    if (!exit || !cut || exit.shape.length !== 2 || cut.shape.length !== 2 || exit.shape[0] !== cut.shape[0]) {
      return { status: 500, body: { error: `model "${at.model}" is not a split head: it needs outputs "${split.exitOutput}" [rows, classes] and "${split.cutOutput}" [rows, width]` } };
    }
    const [rows, classes] = exit.shape as [number, number];
    const width = cut.shape[1]!;
    const s = this.service(project, at);
    const t = s.threshold.value;
    const scaled = new Float64Array(classes);
    const entropy: number[] = [];
    const hard: number[] = [];
    for (let r = 0; r < rows; r++) {
      temperatureScale(exit.data, r * classes, classes, split.temperature, scaled);
      const h = normalizedEntropy(scaled, 0, classes);
      entropy.push(h);
      if (h >= t) hard.push(r);
    }
    const probs = exit.data.slice();
    const exits: ExitPlace[] = entropy.map((h) => (h < t ? 'edge' : 'cloud'));
    const localMs = performance.now() - began;
    s.counters.rows += rows;
    s.counters.local += rows - hard.length;
    if (hard.length) {
      const values = new Float32Array(hard.length * width);
      hard.forEach((r, i) => values.set(cut.data.slice(r * width, (r + 1) * width), i * width));
      const wire = encodeCut(values, hard.length, width);
      try {
        const outputs = await this.offloads.offload(project, at.instance, wire, { timeoutMs: durationMs(split.timeout), wait: split.whenUnreachable === 'wait' });
        const answer = outputs[0];
        if (!answer || answer.data.length !== hard.length * classes) throw new OffloadFailedError(502, `the tail answered ${answer?.data.length ?? 0} values for ${hard.length} rows of ${classes} classes`);
        hard.forEach((r, i) => probs.splice(r * classes, classes, ...answer.data.slice(i * classes, (i + 1) * classes)));
        s.counters.offloaded += hard.length;
        s.counters.bytesUp += wire.length;
        // An uplink budget is turned into a share with what an offloaded row has cost so far.
        if (s.goal.kind === 'uplink-bytes') s.goal.bytesPerOffload = s.counters.bytesUp / s.counters.offloaded;
      } catch (err) {
        if (split.whenUnreachable === 'wait') return { status: err instanceof TimeoutError ? 504 : err instanceof OffloadFailedError ? err.code : 503, body: { error: `the split's tail did not answer: ${(err as Error).message}` } };
        for (const r of hard) exits[r] = 'fallback';
        s.counters.fallbacks += hard.length;
      }
    }
    const total = performance.now() - began;
    entropy.forEach((h, r) => s.threshold.observe(h, { offloaded: exits[r] === 'cloud', ms: exits[r] === 'cloud' ? total : localMs }));
    s.counters.threshold = s.threshold.value;
    return {
      status: 200,
      body: {
        ...(head.body.id !== undefined ? { id: head.body.id } : {}),
        model_name: at.model,
        model_version: head.body.model_version,
        outputs: [{ name: 'probs', datatype: 'FP32', shape: [rows, classes], data: probs }],
        parameters: { split: { exits, entropy, threshold: t, classes: probs.length ? Array.from({ length: rows }, (_, r) => argmaxRow(probs, r * classes, classes)) : [] } },
      },
    };
  }

  /** This node's figures for a split Service, when it has served one. */
  counters(project: string, instance: string): SplitCounters | undefined {
    return this.services.get(`${project}/${instance}`)?.counters;
  }

  private service(project: string, at: ModelEndpoint & { split: SplitSpec }): { threshold: ExitThreshold; goal: ThresholdGoal; counters: SplitCounters } {
    const id = `${project}/${at.instance}`;
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
export function nodeModels(endpoint: NodeModels['endpoint'], split: SplitInference): NodeModels {
  return {
    endpoint,
    infer: (project, at, body, timeoutMs) => (at.split ? split.infer(project, { ...at, split: at.split }, body, timeoutMs) : postInfer(at, body, timeoutMs)),
  };
}
