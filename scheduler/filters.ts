import type { Resources, Taint, Toleration } from '../core/index.ts';
import type { NodeInfo, SiteInfo } from './cluster-state.ts';
import type { LatencyOf, PodContext, Rejection } from './types.ts';

/**
 * Filters: small pure functions, each returning null (pass) or why not.
 * Site filters run once per site and reject all of its nodes together; node
 * filters run per node, in order, and the first rejection is the node's
 * verdict. Resources come last, so a node rejected only for room is one where
 * preempting lower priorities could help.
 */
export type SiteFilter = (pod: PodContext, site: SiteInfo, latency: LatencyOf) => Rejection | null;
export type NodeFilter = (pod: PodContext, node: NodeInfo, site: SiteInfo) => Rejection | null;

const r = (reason: string): Rejection => ({ reason });
const TIER = r('tier not allowed');
const SITE = r('site not allowed');
const NOT_READY = r('not Ready');
const CORDONED = r('cordoned');
const NODE = r('node not allowed');
const LABELS = r('labels do not match');
const AFFINITY = r('affinity not satisfied');
const ANTI_AFFINITY = r('anti-affinity conflict');
const LATENCY_UNKNOWN = r('latency unknown');
const insufficient = new Map<string, Rejection>();

export const tierFilter: SiteFilter = (pod, site) => {
  const tiers = pod.placement.tiers;
  return tiers && !(site.known && tiers.includes(site.tier)) ? TIER : null;
};

export const siteFilter: SiteFilter = (pod, site) => {
  const sites = pod.placement.sites;
  return sites && !sites.includes(site.name) ? SITE : null;
};

/** SLA: the clients' estimated round trip to the site must not exceed maxLatency; unknown cannot be promised. */
export const slaFilter: SiteFilter = (pod, _site, latency) => {
  const sla = pod.slaMs;
  if (sla === undefined) return null;
  if (!latency) return LATENCY_UNKNOWN;
  return latency.rttMs > sla ? { reason: 'latency > SLA', latencyMs: latency.rttMs, detail: `latency ${fmtMs(latency.rttMs)} > SLA ${fmtMs(sla)}` } : null;
};

export const fmtMs = (ms: number): string => `${ms >= 10 ? Math.round(ms) : Math.round(ms * 10) / 10}ms`;

export const readyFilter: NodeFilter = (_pod, node) => (node.ready ? null : NOT_READY);

export const cordonFilter: NodeFilter = (_pod, node) => (node.unschedulable ? CORDONED : null);

const noRuntime = new Map<string, Rejection>();
/** The node's agent must offer the template's runtime (e.g. no podman: no containers). */
export const runtimeFilter: NodeFilter = (pod, node) => {
  if (node.runtimes.includes(pod.runtime)) return null;
  let rej = noRuntime.get(pod.runtime);
  if (!rej) noRuntime.set(pod.runtime, (rej = r(`no ${pod.runtime} runtime`)));
  return rej;
};

export const pinnedNodeFilter: NodeFilter = (pod, node) => {
  const nodes = pod.placement.nodes;
  return nodes && !nodes.includes(node.name) ? NODE : null;
};

export const nodeSelectorFilter: NodeFilter = (pod, node) => {
  const sel = pod.placement.nodeSelector;
  if (!sel) return null;
  for (const k in sel) if (node.labels[k] !== sel[k]) return LABELS;
  return null;
};

export function tolerates(tolerations: readonly Toleration[] | undefined, t: Taint): boolean {
  return (tolerations ?? []).some(
    (tol) => tol.key === t.key && (tol.effect === undefined || tol.effect === t.effect) && (tol.operator === 'Exists' || tol.value === t.value),
  );
}

export const taintFilter: NodeFilter = (pod, node) => {
  for (const t of node.taints) {
    if (t.effect === 'NoSchedule' && !tolerates(pod.placement.tolerations, t)) return r(`untolerated taint ${t.key}${t.value ? `=${t.value}` : ''}`);
  }
  return null;
};

/** A node with an untolerated PreferNoSchedule taint fits, but only when nothing better does. */
export function prefersNot(pod: PodContext, node: NodeInfo): boolean {
  return node.taints.some((t) => t.effect === 'PreferNoSchedule' && !tolerates(pod.placement.tolerations, t));
}

export const affinityFilter: NodeFilter = (pod, node) => {
  for (const t of pod.affinity) if (!(t.scope === 'node' ? t.nodes.has(node.name) : t.sites.has(node.site))) return AFFINITY;
  return null;
};

export const antiAffinityFilter: NodeFilter = (pod, node) => {
  for (const t of pod.antiAffinity) if (t.scope === 'node' ? t.nodes.has(node.name) : t.sites.has(node.site)) return ANTI_AFFINITY;
  return null;
};

export const resourceFilter: NodeFilter = (pod, node) => {
  const missing = shortfall(node.capacity, reservedUsage(pod, node), pod.want);
  if (!missing) return null;
  let rej = insufficient.get(missing);
  if (!rej) insufficient.set(missing, (rej = r(`insufficient ${missing}`)));
  return rej;
};

/** What is taken on the node from this pod's point of view: bound requests plus those held for preemptors it may not pass. */
export function reservedUsage(pod: PodContext, node: NodeInfo): Resources {
  if (!node.nominated.size) return node.used;
  const used = { ...node.used, accelerators: { ...node.used.accelerators } };
  for (const [key, n] of node.nominated) {
    if (key === pod.key || n.priority < pod.priority) continue;
    used.cpu += n.resources.cpu;
    used.memoryMiB += n.resources.memoryMiB;
    used.diskMiB += n.resources.diskMiB;
    for (const [k, v] of Object.entries(n.resources.accelerators)) used.accelerators[k] = (used.accelerators[k] ?? 0) + v;
  }
  return used;
}

/** The first resource that does not fit, or undefined. A capacity of 0 means "not reported": no limit. */
export function shortfall(cap: Resources, used: Resources, want: Resources): string | undefined {
  if (cap.cpu > 0 && used.cpu + want.cpu > cap.cpu + 1e-9) return 'cpu';
  if (cap.memoryMiB > 0 && used.memoryMiB + want.memoryMiB > cap.memoryMiB + 1e-9) return 'memory';
  if (cap.diskMiB > 0 && used.diskMiB + want.diskMiB > cap.diskMiB + 1e-9) return 'disk';
  for (const k in want.accelerators) {
    if ((cap.accelerators[k] ?? 0) - (used.accelerators[k] ?? 0) < want.accelerators[k]!) return k;
  }
  return undefined;
}

export const SITE_FILTERS: readonly [string, SiteFilter][] = [
  ['tier', tierFilter],
  ['site', siteFilter],
  ['sla', slaFilter],
];

export const NODE_FILTERS: readonly [string, NodeFilter][] = [
  ['ready', readyFilter],
  ['cordon', cordonFilter],
  ['runtime', runtimeFilter],
  ['pinned', pinnedNodeFilter],
  ['nodeSelector', nodeSelectorFilter],
  ['taints', taintFilter],
  ['affinity', affinityFilter],
  ['antiAffinity', antiAffinityFilter],
  ['resources', resourceFilter],
];
