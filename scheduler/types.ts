import type { Placement, Resources, SchedulingPolicy, Tier } from '../core/index.ts';
import type { ClientSpots, LatencyEntry } from './latency.ts';

export type { ClientSpots };

export type WeightName = 'latency' | 'leastAllocated' | 'mostAllocated' | 'spread' | 'tier' | 'cost';
export type Weights = Record<WeightName, number>;

/** What one placement needs to know about the instance, computed once before the node loop. */
export interface PodContext {
  key: string;
  project: string;
  /** `project/service`, or undefined for a bare instance. */
  service: string | undefined;
  want: Resources;
  /** The template's runtime: only nodes offering it fit. */
  runtime: string;
  placement: Placement;
  /** placement.maxLatency in ms (the SLA), read once per placement. */
  slaMs: number | undefined;
  /** The clients as the latency estimate takes them: sites (named, plus those of the devices selected) and a location. */
  clients: ClientSpots | undefined;
  policy: SchedulingPolicy;
  weights: Weights;
  priority: number;
  preempt: boolean;
  /** Nodes (by name) and sites holding instances that match each affinity / anti-affinity term. */
  affinity: { nodes: Set<string>; sites: Set<string>; scope: 'node' | 'site' }[];
  antiAffinity: { nodes: Set<string>; sites: Set<string>; scope: 'node' | 'site' }[];
}

/** Why a node was filtered out. `reason` groups rejections in the summary ("5 insufficient cpu"). */
export interface Rejection {
  reason: string;
  /** For SLA rejections: the estimated round trip, so the summary can quote the closest one. */
  latencyMs?: number;
  /** The node's own verdict when it says more than the group, e.g. "latency 42ms > SLA 10ms". */
  detail?: string;
}

export interface SchedulerOptions {
  /** Relative cost of a core per tier, for the cost score (e.g. edge cores cost more than cloud cores). */
  tierCost: Record<Tier, number>;
  /** Latency that scores 0 when a service has clients but no SLA. */
  latencyReferenceMs: number;
  /** List every node in the explanation up to this cluster size; beyond it, the best few and one per rejection. */
  explainAllUpTo: number;
  /** Feasible nodes listed in an explanation of a large cluster. */
  explainTop: number;
}

export const DEFAULT_SCHEDULER_OPTIONS: SchedulerOptions = {
  tierCost: { cloud: 1, region: 1.5, edge: 3 },
  latencyReferenceMs: 200,
  explainAllUpTo: 20,
  explainTop: 5,
};

export type LatencyOf = LatencyEntry | undefined;
