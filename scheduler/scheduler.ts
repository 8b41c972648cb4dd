import type { Instance, SchedulingExplanation } from '../core/index.ts';
import { instanceKey, serviceKey, type BoundInstance, type ClusterState, type NodeInfo, type SiteInfo } from './cluster-state.ts';
import { NODE_FILTERS, SITE_FILTERS, fmtMs, prefersNot } from './filters.ts';
import { ClientLatency } from './latency.ts';
import { findPreemption } from './preemption.ts';
import { SCORES, SCORE_NAMES, better, policyOf, siteUpperBound, weightsOf } from './scores.ts';
import { DEFAULT_SCHEDULER_OPTIONS, type LatencyOf, type PodContext, type Rejection, type SchedulerOptions } from './types.ts';

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
  private readonly clients: ClientLatency;

  constructor(
    readonly state: ClusterState,
    opts: Partial<SchedulerOptions> = {},
  ) {
    this.opts = { ...DEFAULT_SCHEDULER_OPTIONS, ...opts };
    this.clients = new ClientLatency(state.latency, state.sites);
  }

  place(inst: Instance, at: Date = new Date()): Decision {
    const policy = policyOf(inst.spec.placement);
    const pod = this.context(inst);
    if (typeof pod === 'string') return { node: null, explanation: { at: at.toISOString(), policy, node: null, summary: pod, candidates: [], omitted: 0 } };

    const listAll = this.state.nodes.size <= this.opts.explainAllUpTo;
    const counts = new Map<string, { n: number; minLatency: number }>();
    const examples = new Map<string, Judgement>();
    const listed: Judgement[] = [];
    const top: Fit[] = [];
    const roomOnly: NodeInfo[] = [];
    const weightSum = SCORE_NAMES.reduce((a, n) => a + pod.weights[n], 0);
    let total = 0;
    let feasible = 0;
    let skipped = 0;
    // Site filters first, once per site; the surviving sites are visited best
    // bound first, so that once a fit beats a site's bound, that site and every
    // later one can be skipped (small clusters are always evaluated in full).
    const plan: { site: SiteInfo; latency: LatencyOf; ub: number }[] = [];
    for (const site of this.state.sites.values()) {
      if (!site.nodes.length) continue;
      total += site.nodes.length;
      const latency = this.latencyTo(pod, site);
      const siteRejection = siteVerdict(pod, site, latency);
      if (!siteRejection) {
        plan.push({ site, latency, ub: listAll ? Infinity : siteUpperBound(pod, site, latency, this.opts, weightSum) });
        continue;
      }
      tally(counts, siteRejection, site.nodes.length);
      if (listAll) for (const node of site.nodes) listed.push({ node, site, latency, rejection: siteRejection });
      else if (!examples.has(siteRejection.reason)) examples.set(siteRejection.reason, { node: site.nodes[0]!, site, latency, rejection: siteRejection });
    }
    for (let visited = 0; visited < plan.length; visited++) {
      // The next site by bound: picked by a scan while few are visited (usually a
      // handful before the rest is skipped), sorted once if many are.
      if (visited === SCAN_VISITS && !listAll) plan.splice(0, plan.length, ...plan.slice(0, visited), ...plan.slice(visited).sort((a, b) => b.ub - a.ub));
      if (visited < SCAN_VISITS && !listAll) swapBestInto(plan, visited);
      const { site, latency, ub } = plan[visited]!;
      const lead = top[0];
      if (lead && !lead.soft && lead.total > ub + 1e-9) {
        for (let k = visited; k < plan.length; k++) skipped += plan[k]!.site.nodes.length;
        break;
      }
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

    const best = top[0];
    const summary = !best
      ? `0/${total} nodes: ${describe(counts, pod.placement.maxLatencyMs) || 'no nodes'}`
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
        const latency = this.latencyTo(pod, site);
        const rejection = siteVerdict(pod, site, latency);
        current = rejection ? { node, site, latency, rejection } : this.judgeNode(pod, node, site, latency, SCORE_NAMES.reduce((a, n) => a + pod.weights[n], 0));
      }
      return { current, best: this.place(unbound) };
    } finally {
      if (bound) this.state.apply(inst);
    }
  }

  private latencyTo(pod: PodContext, site: SiteInfo): LatencyOf {
    const clients = pod.placement.clients;
    return clients ? this.clients.estimate(clients, site.name, this.state.siteVersion) : undefined;
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

  /** Everything about the instance the node loop needs, or why it cannot be scheduled at all. */
  private context(inst: Instance): PodContext | string {
    const p = inst.spec.placement;
    const prio = this.state.priority(p.priorityClass);
    if (!prio) return `priority class "${p.priorityClass}" not found`;
    const key = instanceKey(inst);
    const project = inst.metadata.project ?? 'default';
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
      service: serviceKey(project, inst.spec.service),
      want: inst.spec.template.resources,
      placement: p,
      policy: policyOf(p),
      weights: weightsOf(p),
      priority: prio.value,
      preempt: prio.preempt,
      affinity: terms(p.affinity),
      antiAffinity: terms(p.antiAffinity),
    };
  }
}

const SCAN_VISITS = 8;

/** Moves the highest-bound entry at or after `from` to `from`. */
function swapBestInto(plan: { ub: number }[], from: number): void {
  let best = from;
  for (let k = from + 1; k < plan.length; k++) if (plan[k]!.ub > plan[best]!.ub) best = k;
  if (best !== from) [plan[from], plan[best]] = [plan[best]!, plan[from]!];
}

function siteVerdict(pod: PodContext, site: SiteInfo, latency: LatencyOf): Rejection | null {
  for (const [, f] of SITE_FILTERS) {
    const r = f(pod, site, latency);
    if (r) return r;
  }
  return null;
}

function tally(counts: Map<string, { n: number; minLatency: number }>, r: Rejection, n: number): void {
  const c = counts.get(r.reason);
  if (c) {
    c.n += n;
    if (r.latencyMs !== undefined) c.minLatency = Math.min(c.minLatency, r.latencyMs);
  } else counts.set(r.reason, { n, minLatency: r.latencyMs ?? Infinity });
}

/** "5 insufficient cpu, 7 latency 42ms > SLA 10ms": most common first; the latency quoted is the closest rejected. */
function describe(counts: Map<string, { n: number; minLatency: number }>, sla: number | undefined): string {
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
