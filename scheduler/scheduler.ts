import type { Instance, SchedulingExplanation } from '../core/index.ts';
import { instanceKey, serviceKey, type BoundInstance, type ClusterState, type NodeInfo, type SiteInfo } from './cluster-state.ts';
import { NODE_FILTERS, SITE_FILTERS, fmtMs, prefersNot } from './filters.ts';
import { ClientLatency } from './latency.ts';
import { findPreemption } from './preemption.ts';
import { SCORES, SCORE_NAMES, better, policyOf, weightsOf } from './scores.ts';
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
  | { node: NodeInfo; site: SiteInfo; latency: LatencyOf; rejection: null; scores: Record<string, number>; total: number; soft: boolean };
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
    let total = 0;
    let feasible = 0;
    for (const site of this.state.sites.values()) {
      if (!site.nodes.length) continue;
      total += site.nodes.length;
      const latency = this.latencyTo(pod, site);
      const siteRejection = siteVerdict(pod, site, latency);
      if (siteRejection) {
        tally(counts, siteRejection, site.nodes.length);
        if (listAll) for (const node of site.nodes) listed.push({ node, site, latency, rejection: siteRejection });
        else if (!examples.has(siteRejection.reason)) examples.set(siteRejection.reason, { node: site.nodes[0]!, site, latency, rejection: siteRejection });
        continue;
      }
      for (const node of site.nodes) {
        const j = this.judgeNode(pod, node, site, latency);
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
    const summary = best ? `${feasible}/${total} nodes fit` : `0/${total} nodes: ${describe(counts, pod.placement.maxLatencyMs) || 'no nodes'}`;
    const shown = listAll ? sortListed(listed, top) : [...top, ...examples.values()];
    const explanation: SchedulingExplanation = {
      at: at.toISOString(),
      policy,
      node: best?.node.name ?? null,
      summary,
      candidates: shown.map(toVerdict),
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
        current = rejection ? { node, site, latency, rejection } : this.judgeNode(pod, node, site, latency);
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

  private judgeNode(pod: PodContext, node: NodeInfo, site: SiteInfo, latency: LatencyOf): Judgement {
    for (const [, f] of NODE_FILTERS) {
      const rejection = f(pod, node, site);
      if (rejection) return { node, site, latency, rejection };
    }
    const scores: Record<string, number> = {};
    let sum = 0;
    let weight = 0;
    for (const name of SCORE_NAMES) {
      const w = pod.weights[name];
      if (!w) continue;
      const s = SCORES[name](pod, node, site, latency, this.opts);
      scores[name] = Math.round(s * 10) / 10;
      sum += w * s;
      weight += w;
    }
    return { node, site, latency, rejection: null, scores, total: weight ? sum / weight : 0, soft: prefersNot(pod, node) };
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

function toVerdict(j: Judgement): SchedulingExplanation['candidates'][number] {
  const latencyMs = j.latency ? Math.round(j.latency.rttMs * 100) / 100 : null;
  if (j.rejection) {
    return { node: j.node.name, site: j.site.name, verdict: j.rejection.detail ?? j.rejection.reason, latencyMs };
  }
  return { node: j.node.name, site: j.site.name, verdict: j.soft ? 'fit (untolerated PreferNoSchedule taint)' : 'fit', latencyMs, scores: j.scores, total: Math.round(j.total * 10) / 10 };
}
