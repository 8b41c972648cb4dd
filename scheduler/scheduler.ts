import { durationMs, projectOf } from '../core/index.ts';
import type { Instance, Placement, SchedulingExplanation } from '../core/index.ts';
import { instanceKey, serviceKey, type BoundInstance, type ClusterState, type NodeInfo, type SiteInfo } from './cluster-state.ts';
import { NODE_FILTERS, fmtMs, prefersNot } from './filters.ts';
import { ClientLatency } from './latency.ts';
import { findPreemption } from './preemption.ts';
import { SCORES, SCORE_NAMES, better, nodeScoreCeiling, policyOf, siteUpperBound, weightsOf } from './scores.ts';
import { BoundHeap, SitePlans, copyCounts, siteVerdict, tally, type Counts } from './site-plan.ts';
import { DEFAULT_SCHEDULER_OPTIONS, type ClientSpots, type LatencyOf, type PodContext, type Rejection, type SchedulerOptions } from './types.ts';

export interface Decision {
  node: string | null;
  explanation: SchedulingExplanation;
  /** Nothing fits, but evicting these lower-priority instances on `node` would make room. */
  preemption?: { node: string; victims: BoundInstance[] };
}

/** One node judged for one instance: why it was filtered out, or its scores. */
export type Judgement =
  | { node: NodeInfo; site: SiteInfo; latency: LatencyOf; rejection: Rejection }
  | { node: NodeInfo; site: SiteInfo; latency: LatencyOf; rejection: null; total: number; soft: boolean };
type Fit = Extract<Judgement, { rejection: null }>;

/**
 * The scheduler: filter -> score -> pick, over the cluster state. Site-level
 * filters (tier, allowed sites, SLA) run once per site, so a far site's nodes
 * cost one check together. Deterministic: ties break by node name.
 */
export class Scheduler {
  readonly opts: SchedulerOptions;
  private readonly plans: SitePlans;

  constructor(
    readonly state: ClusterState,
    opts: Partial<SchedulerOptions> = {},
  ) {
    this.opts = { ...DEFAULT_SCHEDULER_OPTIONS, ...opts };
    this.plans = new SitePlans(state, new ClientLatency(state.latency, state.sites), this.opts);
  }

  place(inst: Instance, at: Date = new Date()): Decision {
    const policy = policyOf(inst.spec.placement);
    const pod = this.context(inst);
    if (typeof pod === 'string') return { node: null, explanation: { at: at.toISOString(), policy, node: null, summary: pod, candidates: [], omitted: 0 } };

    const listAll = this.state.nodes.size <= this.opts.explainAllUpTo;
    const plan = this.plans.of(pod);
    const counts = copyCounts(plan.counts);
    const examples = new Map<string, Judgement>();
    const listed: Judgement[] = [];
    const top: Fit[] = [];
    const roomOnly: NodeInfo[] = [];
    const weightSum = SCORE_NAMES.reduce((a, n) => a + pod.weights[n], 0);
    const total = plan.total;
    let feasible = 0;
    let visitedNodes = 0;
    for (const r of listAll ? plan.rejected : plan.examples) {
      if (listAll) for (const node of r.site.nodes) listed.push({ node, site: r.site, latency: r.latency, rejection: r.rejection });
      else examples.set(r.rejection.reason, { node: r.site.nodes[0]!, site: r.site, latency: r.latency, rejection: r.rejection });
    }
    // The passing sites are visited best bound first: bounds are computed lazily
    // in the plan's order (site-level scores first) as long as a site not yet
    // bounded could beat the best bounded one. Once the best fit beats every
    // remaining bound, the rest is skipped; the result is still exact. Small
    // clusters are evaluated in full.
    const ceiling = nodeScoreCeiling(pod.weights);
    const heap = new BoundHeap();
    const passing = plan.passing;
    let next = 0;
    for (;;) {
      while (next < passing.length && (listAll || !heap.size || passing[next]!.siteSum + ceiling > heap.topUb() * weightSum + 1e-9)) {
        const s = passing[next++]!;
        heap.push(s, listAll ? 0 : siteUpperBound(pod, s.site, s.siteSum, weightSum));
      }
      if (!heap.size) break;
      const lead = top[0];
      if (lead && !lead.soft && !listAll && lead.total > heap.topUb() + 1e-9) break;
      const { site, latency } = heap.pop();
      visitedNodes += site.nodes.length;
      for (const node of site.nodes) {
        const j = this.judgeNode(pod, node, site, latency, weightSum);
        if (j.rejection) {
          tally(counts, j.rejection, 1);
          if (j.rejection.reason.startsWith('insufficient ')) roomOnly.push(node);
          if (listAll) listed.push(j);
          else if (!examples.has(j.rejection.reason)) examples.set(j.rejection.reason, j);
          continue;
        }
        feasible++;
        if (listAll) listed.push(j);
        keepTop(top, j, listAll ? Infinity : this.opts.explainTop);
      }
    }
    const skipped = plan.passingNodes - visitedNodes;

    const best = top[0];
    const summary = !best
      ? `0/${total} nodes: ${describe(counts, pod.slaMs) || 'no nodes'}`
      : skipped
        ? `${feasible}/${total - skipped} nodes evaluated fit; ${skipped} not evaluated (they could not score higher)`
        : `${feasible}/${total} nodes fit`;
    const shown = listAll ? sortListed(listed, top) : [...top, ...examples.values()];
    const explanation: SchedulingExplanation = {
      at: at.toISOString(),
      policy,
      node: best?.node.name ?? null,
      summary,
      candidates: shown.map((j) => this.toVerdict(pod, j)),
      omitted: total - shown.length,
    };
    if (best) return { node: best.node.name, explanation };
    const preemption = pod.preempt ? findPreemption(this.state, pod, roomOnly) : undefined;
    if (preemption) explanation.nominatedNode = preemption.node;
    return preemption ? { node: null, explanation, preemption } : { node: null, explanation };
  }

  /**
   * How the instance's current node compares with the best other place, as if
   * the instance were not there: the rescheduler's question. `current` is the
   * node's judgement now (it may fail a filter, e.g. the SLA after latency rose).
   */
  evaluate(inst: Instance): { current: Judgement | undefined; best: Decision } {
    const key = instanceKey(inst);
    const bound = this.state.instances.get(key);
    if (bound) this.state.apply(inst, true);
    try {
      const unbound = { ...inst, spec: { ...inst.spec, node: undefined } };
      const pod = this.context(unbound);
      const node = inst.spec.node ? this.state.nodes.get(inst.spec.node) : undefined;
      const site = node && this.state.sites.get(node.site);
      let current: Judgement | undefined;
      if (typeof pod !== 'string' && node && site) {
        const latency = this.plans.latencyTo(pod, site);
        const rejection = siteVerdict(pod, site, latency);
        current = rejection ? { node, site, latency, rejection } : this.judgeNode(pod, node, site, latency, SCORE_NAMES.reduce((a, n) => a + pod.weights[n], 0));
      }
      return { current, best: this.place(unbound) };
    } finally {
      if (bound) this.state.apply(inst);
    }
  }

  private judgeNode(pod: PodContext, node: NodeInfo, site: SiteInfo, latency: LatencyOf, weightSum: number): Judgement {
    for (let i = 0; i < NODE_FILTERS.length; i++) {
      const rejection = NODE_FILTERS[i]![1](pod, node, site);
      if (rejection) return { node, site, latency, rejection };
    }
    let sum = 0;
    for (let i = 0; i < SCORE_NAMES.length; i++) {
      const w = pod.weights[SCORE_NAMES[i]!];
      if (w) sum += w * SCORES[SCORE_NAMES[i]!](pod, node, site, latency, this.opts);
    }
    return { node, site, latency, rejection: null, total: weightSum ? sum / weightSum : 0, soft: prefersNot(pod, node) };
  }

  /** Each score plugin's figure for one fitting node, for the explanation (computed only for the nodes shown). */
  private breakdown(pod: PodContext, j: Fit): Record<string, number> {
    const scores: Record<string, number> = {};
    for (const name of SCORE_NAMES) {
      if (pod.weights[name]) scores[name] = Math.round(SCORES[name](pod, j.node, j.site, j.latency, this.opts) * 10) / 10;
    }
    return scores;
  }

  private toVerdict(pod: PodContext, j: Judgement): SchedulingExplanation['candidates'][number] {
    const latencyMs = j.latency ? Math.round(j.latency.rttMs * 100) / 100 : null;
    if (j.rejection) return { node: j.node.name, site: j.site.name, verdict: j.rejection.detail ?? j.rejection.reason, latencyMs };
    const verdict = j.soft ? 'fit (untolerated PreferNoSchedule taint)' : 'fit';
    return { node: j.node.name, site: j.site.name, verdict, latencyMs, scores: this.breakdown(pod, j), total: Math.round(j.total * 10) / 10 };
  }

  /** The clients' sites: those named, and those of the project's devices the selector matches (sorted, without repeats). */
  private clientSpots(project: string, c: Placement['clients']): ClientSpots | undefined {
    if (!c) return undefined;
    if (!c.devices) return c;
    const sites = new Set(c.sites);
    for (const d of this.state.devices.values()) {
      if (d.project !== project) continue;
      let match = true;
      for (const k in c.devices) if (d.labels[k] !== c.devices[k]) match = false;
      if (match) sites.add(d.site);
    }
    return { ...(sites.size ? { sites: [...sites].sort() } : {}), ...(c.location ? { location: c.location } : {}) };
  }

  /** Everything about the instance the node loop needs, or why it cannot be scheduled at all. */
  private context(inst: Instance): PodContext | string {
    const p = inst.spec.placement;
    const prio = this.state.priority(p.priorityClass);
    if (!prio) return `priority class "${p.priorityClass}" not found`;
    const key = instanceKey(inst);
    const project = projectOf(inst);
    const terms = (list: typeof p.affinity) =>
      (list ?? []).map((t) => {
        const nodes = new Set<string>();
        const sites = new Set<string>();
        for (const b of this.state.instances.values()) {
          if (b.key === key || b.project !== project) continue;
          let match = true;
          for (const k in t.selector) if (b.labels[k] !== t.selector[k]) match = false;
          if (!match) continue;
          nodes.add(b.node);
          const site = this.state.nodes.get(b.node)?.site;
          if (site) sites.add(site);
        }
        return { nodes, sites, scope: t.scope };
      });
    return {
      key,
      project,
      clients: this.clientSpots(project, p.clients),
      service: serviceKey(project, inst.spec.service),
      want: inst.spec.template.resources,
      runtime: inst.spec.template.runtime,
      placement: p,
      slaMs: p.maxLatency === undefined ? undefined : durationMs(p.maxLatency),
      policy: policyOf(p),
      weights: weightsOf(p),
      priority: prio.value,
      preempt: prio.preempt,
      affinity: terms(p.affinity),
      antiAffinity: terms(p.antiAffinity),
    };
  }
}

/** "5 insufficient cpu, 7 latency 42ms > SLA 10ms": most common first; the latency quoted is the closest rejected. */
function describe(counts: Counts, sla: number | undefined): string {
  return [...counts]
    .sort(([a, x], [b, y]) => y.n - x.n || a.localeCompare(b))
    .map(([reason, c]) => (reason === 'latency > SLA' ? `${c.n} latency ${fmtMs(c.minLatency)} > SLA ${fmtMs(sla ?? 0)}` : `${c.n} ${reason}`))
    .join(', ');
}


function keepTop(top: Fit[], j: Fit, k: number): void {
  let i = top.length;
  while (i > 0 && better(fitKey(j), fitKey(top[i - 1]!))) i--;
  if (i >= k) return;
  top.splice(i, 0, j);
  if (top.length > k) top.pop();
}

const fitKey = (j: Fit) => ({ total: j.total, name: j.node.name, soft: j.soft });

/** Small clusters list every node: fitting ones best first, then the rejected by name. */
function sortListed(listed: Judgement[], top: Fit[]): Judgement[] {
  const rejected = listed.filter((j) => j.rejection).sort((a, b) => a.node.name.localeCompare(b.node.name));
  return [...top, ...rejected];
}
