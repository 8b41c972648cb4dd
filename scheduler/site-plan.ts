import type { ClusterState, SiteInfo } from './cluster-state.ts';
import { SITE_FILTERS } from './filters.ts';
import type { ClientLatency } from './latency.ts';
import { siteScore } from './scores.ts';
import type { LatencyOf, PodContext, Rejection, SchedulerOptions } from './types.ts';

/** Rejected nodes per reason; `minLatency` is the closest round trip among SLA rejections. */
export type Counts = Map<string, { n: number; minLatency: number }>;

export interface PlannedSite {
  site: SiteInfo;
  latency: LatencyOf;
  /** The weighted site-level scores (`siteScore`). */
  siteSum: number;
}

export interface RejectedSite {
  site: SiteInfo;
  latency: LatencyOf;
  rejection: Rejection;
}

/**
 * What every placement of the same shape (clients, SLA, tiers, sites, weights)
 * shares: the site filters' verdicts and the site-level scores. It holds while
 * the layout (sites, their node counts, the latency table) does not change.
 */
export interface SitePlan {
  version: number;
  /** Nodes in every site that has any. */
  total: number;
  /** Sites that pass the site filters, highest `siteSum` first. */
  passing: PlannedSite[];
  /** Nodes in the passing sites. */
  passingNodes: number;
  rejected: RejectedSite[];
  /** The rejected sites' nodes per reason, and the first rejected site of each reason. */
  counts: Counts;
  examples: RejectedSite[];
}

const MAX_PLANS = 512;

/** Site plans per placement shape, rebuilt when the layout changes. */
export class SitePlans {
  private plans = new Map<string, SitePlan>();

  constructor(
    private readonly state: ClusterState,
    private readonly clients: ClientLatency,
    private readonly opts: SchedulerOptions,
  ) {}

  of(pod: PodContext): SitePlan {
    const p = pod.placement;
    const w = pod.weights;
    const key = JSON.stringify([pod.clients, pod.slaMs, p.tiers, p.sites, w.latency, w.tier, w.cost]);
    const version = this.state.layoutVersion;
    const hit = this.plans.get(key);
    if (hit && hit.version === version) return hit;
    if (this.plans.size >= MAX_PLANS) this.plans.clear();
    const plan = this.build(pod, version);
    this.plans.set(key, plan);
    return plan;
  }

  /** The clients' estimated round trip to the site (undefined without clients, or when it is unknown). */
  latencyTo(pod: PodContext, site: SiteInfo): LatencyOf {
    return pod.clients ? this.clients.estimate(pod.clients, site.name, this.state.siteVersion) : undefined;
  }

  private build(pod: PodContext, version: number): SitePlan {
    const plan: SitePlan = { version, total: 0, passing: [], passingNodes: 0, rejected: [], counts: new Map(), examples: [] };
    for (const site of this.state.sites.values()) {
      if (!site.nodes.length) continue;
      plan.total += site.nodes.length;
      const latency = this.latencyTo(pod, site);
      const rejection = siteVerdict(pod, site, latency);
      if (!rejection) {
        plan.passing.push({ site, latency, siteSum: siteScore(pod, site, latency, this.opts) });
        plan.passingNodes += site.nodes.length;
        continue;
      }
      const r = { site, latency, rejection };
      plan.rejected.push(r);
      if (!plan.counts.has(rejection.reason)) plan.examples.push(r);
      tally(plan.counts, rejection, site.nodes.length);
    }
    plan.passing.sort((a, b) => b.siteSum - a.siteSum || (a.site.name < b.site.name ? -1 : 1));
    return plan;
  }
}

export function siteVerdict(pod: PodContext, site: SiteInfo, latency: LatencyOf): Rejection | null {
  for (const [, f] of SITE_FILTERS) {
    const r = f(pod, site, latency);
    if (r) return r;
  }
  return null;
}

export function tally(counts: Counts, r: Rejection, n: number): void {
  const c = counts.get(r.reason);
  if (c) {
    c.n += n;
    if (r.latencyMs !== undefined) c.minLatency = Math.min(c.minLatency, r.latencyMs);
  } else counts.set(r.reason, { n, minLatency: r.latencyMs ?? Infinity });
}

export function copyCounts(counts: Counts): Counts {
  const out: Counts = new Map();
  for (const [k, c] of counts) out.set(k, { n: c.n, minLatency: c.minLatency });
  return out;
}

/**
 * A max-heap of passing sites by upper bound: the scheduler visits sites best
 * bound first, computing bounds lazily in the plan's order.
 */
export class BoundHeap {
  private items: PlannedSite[] = [];
  private ubs: number[] = [];

  get size(): number {
    return this.items.length;
  }

  topUb(): number {
    return this.ubs[0]!;
  }

  push(item: PlannedSite, ub: number): void {
    let i = this.items.length;
    this.items.push(item);
    this.ubs.push(ub);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.ubs[parent]! >= ub) break;
      this.move(parent, i);
      i = parent;
    }
    this.items[i] = item;
    this.ubs[i] = ub;
  }

  pop(): PlannedSite {
    const top = this.items[0]!;
    const lastItem = this.items.pop()!;
    const lastUb = this.ubs.pop()!;
    const n = this.items.length;
    if (!n) return top;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.ubs[child + 1]! > this.ubs[child]!) child++;
      if (this.ubs[child]! <= lastUb) break;
      this.move(child, i);
      i = child;
    }
    this.items[i] = lastItem;
    this.ubs[i] = lastUb;
    return top;
  }

  private move(from: number, to: number): void {
    this.items[to] = this.items[from]!;
    this.ubs[to] = this.ubs[from]!;
  }
}
