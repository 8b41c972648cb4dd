import type { Placement, SchedulingPolicy, Tier } from '../core/index.ts';
import { scoredCpu, scoredMemory, siteBounds, type NodeInfo, type ScoredUsage, type SiteInfo } from './cluster-state.ts';
import type { LatencyOf, PodContext, SchedulerOptions, WeightName, Weights } from './types.ts';

/** Scores: small pure functions from a fitting node to 0..100 (higher is better). */
export type Score = (pod: PodContext, node: NodeInfo, site: SiteInfo, latency: LatencyOf, opts: SchedulerOptions) => number;

/** Lowest round trip to the clients: 100 at 0 ms, 0 at the SLA (or the reference latency without one). */
export const latencyScore: Score = (pod, _node, _site, latency, opts) => {
  if (!pod.placement.clients) return 0;
  if (!latency) return 0;
  const ref = pod.slaMs ?? opts.latencyReferenceMs;
  return 100 * Math.max(0, 1 - latency.rttMs / ref);
};

// Module-level helpers, not closures: the scores run for every fitting node of every placement.
const freeShare = (c: number, u: number, w: number): number => (c > 0 ? Math.max(0, 1 - (u + w) / c) : 1);
const usedShare = (c: number, u: number, w: number): number => (c > 0 ? Math.min(1, (u + w) / c) : 0);

/** The node's load from this pod's point of view, as the load scores count it (SCORING_DEFAULT for requests of nothing): bound plus held for preemptors it may not pass. */
function scoredUsage(pod: PodContext, node: NodeInfo): ScoredUsage {
  if (!node.nominated.size) return node.scored;
  let { cpu, memoryMiB } = node.scored;
  for (const [key, n] of node.nominated) {
    if (key === pod.key || n.priority < pod.priority) continue;
    cpu += scoredCpu(n.resources.cpu);
    memoryMiB += scoredMemory(n.resources.memoryMiB);
  }
  return { cpu, memoryMiB };
}

/** Share of cpu and memory left free after placing (spreads load). Unreported capacity counts as free. */
export const leastAllocatedScore: Score = (pod, node) => {
  const used = scoredUsage(pod, node);
  return 50 * (freeShare(node.capacity.cpu, used.cpu, scoredCpu(pod.want.cpu)) + freeShare(node.capacity.memoryMiB, used.memoryMiB, scoredMemory(pod.want.memoryMiB)));
};

/** Share of cpu and memory in use after placing: the fullest node that still fits wins (bin-packing). */
export const mostAllocatedScore: Score = (pod, node) => {
  const used = scoredUsage(pod, node);
  return 50 * (usedShare(node.capacity.cpu, used.cpu, scoredCpu(pod.want.cpu)) + usedShare(node.capacity.memoryMiB, used.memoryMiB, scoredMemory(pod.want.memoryMiB)));
};

/** Fewer replicas of the same service on the node (60%) and in its site (40%). */
export const spreadScore: Score = (pod, node, site) => {
  if (!pod.service) return 100;
  return 60 / (1 + (node.perService.get(pod.service) ?? 0)) + 40 / (1 + (site.perService.get(pod.service) ?? 0));
};

const TIER_RANK: Record<Tier, number> = { edge: 100, region: 50, cloud: 0 };

/** Edge, then region, then cloud: the tiered fallback, within whatever the filters (the SLA) allow. */
export const tierScore: Score = (_pod, _node, site) => TIER_RANK[site.tier];

/** Cheaper cores score higher: 100 for the cheapest tier, 0 for the dearest. */
export const costScore: Score = (_pod, _node, site, _l, opts) => {
  const { cloud, region, edge } = opts.tierCost;
  const max = Math.max(cloud, region, edge);
  const min = Math.min(cloud, region, edge);
  return max === min ? 100 : (100 * (max - opts.tierCost[site.tier])) / (max - min);
};

/**
 * The weighted sum of the site-level scores (latency, tier, cost): the same
 * for every node of the site, and fixed while the latency table and the
 * sites are, so a site plan computes it once.
 */
export function siteScore(pod: PodContext, site: SiteInfo, latency: LatencyOf, opts: SchedulerOptions): number {
  const w = pod.weights;
  const n = site.nodes[0]!;
  let sum = 0;
  if (w.latency) sum += w.latency * latencyScore(pod, n, site, latency, opts);
  if (w.tier) sum += w.tier * tierScore(pod, n, site, latency, opts);
  if (w.cost) sum += w.cost * costScore(pod, n, site, latency, opts);
  return sum;
}

/** The most the node-level scores (spread, least-, most-allocated) can add, weighted, on any node. */
export const nodeScoreCeiling = (w: Weights): number => 100 * (w.spread + w.leastAllocated + w.mostAllocated);

/**
 * The most any node of the site could score for this pod, given its
 * `siteScore`: bounded by the site's bounds for the node-level scores. A site
 * whose bound is below the best found so far is skipped; -1 when no node of
 * the site has the room.
 */
export function siteUpperBound(pod: PodContext, site: SiteInfo, siteSum: number, weightSum: number): number {
  const w = pod.weights;
  const b = site.bounds ?? (site.bounds = siteBounds(site));
  if (pod.want.cpu > b.maxRoomCpu + 1e-9 || pod.want.memoryMiB > b.maxRoomMemoryMiB + 1e-9) return -1;
  let sum = siteSum;
  if (w.spread) sum += w.spread * (pod.service ? 60 + 40 / (1 + (site.perService.get(pod.service) ?? 0)) : 100);
  if (w.leastAllocated) sum += w.leastAllocated * b.maxFree;
  if (w.mostAllocated && b.nominated) sum += w.mostAllocated * 100;
  else if (w.mostAllocated) {
    const add = 50 * ((b.minCpu > 0 ? scoredCpu(pod.want.cpu) / b.minCpu : 0) + (b.minMemoryMiB > 0 ? scoredMemory(pod.want.memoryMiB) / b.minMemoryMiB : 0));
    sum += w.mostAllocated * Math.min(100, b.maxUsed + add);
  }
  return weightSum ? sum / weightSum : 0;
}

export const SCORES: Record<WeightName, Score> = {
  latency: latencyScore,
  leastAllocated: leastAllocatedScore,
  mostAllocated: mostAllocatedScore,
  spread: spreadScore,
  tier: tierScore,
  cost: costScore,
};

const NONE: Weights = { latency: 0, leastAllocated: 0, mostAllocated: 0, spread: 0, tier: 0, cost: 0 };

/**
 * Each policy's default weights; a service's `weights` override them.
 * latency: the round trip dominates, the tier breaks near-ties toward the edge.
 * spread: replicas apart, then load. binpack: fill the fullest node first.
 * pinned: only the named sites or nodes (a filter), spread among them.
 */
export const POLICY_WEIGHTS: Record<SchedulingPolicy, Weights> = {
  latency: { ...NONE, latency: 10, tier: 4, spread: 2, leastAllocated: 1 },
  spread: { ...NONE, spread: 10, leastAllocated: 3, latency: 2 },
  binpack: { ...NONE, mostAllocated: 10, latency: 2 },
  pinned: { ...NONE, spread: 10, leastAllocated: 3 },
};

export function policyOf(p: Placement): SchedulingPolicy {
  return p.policy ?? (p.maxLatency !== undefined || p.clients ? 'latency' : 'spread');
}

export function weightsOf(p: Placement): Weights {
  return { ...POLICY_WEIGHTS[policyOf(p)], ...p.weights };
}

export const SCORE_NAMES = Object.keys(SCORES) as WeightName[];

/** Compares fitting nodes: higher total first, then name, so the result does not depend on order. */
export function better(a: { total: number; name: string; soft: boolean }, b: { total: number; name: string; soft: boolean }): boolean {
  if (a.soft !== b.soft) return !a.soft;
  if (Math.abs(a.total - b.total) > 1e-9) return a.total > b.total;
  return a.name < b.name;
}

