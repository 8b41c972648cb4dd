import type { Resources } from '../core/index.ts';
import { addInto, type BoundInstance, type ClusterState, type NodeInfo } from './cluster-state.ts';
import { reservedUsage, shortfall } from './filters.ts';
import type { PodContext } from './types.ts';

/**
 * Preemption: where nothing fits, find the node where evicting the fewest,
 * lowest-priority instances makes room, never taking a victim's service below
 * its floor (replicas - maxUnavailable ready). The candidates are the nodes
 * that failed only for room (every other filter passed).
 *
 * Per node: take every lower-priority instance away; if the pod still does not
 * fit, the node cannot help. Otherwise give instances back, most important
 * first (higher priority, then ready, then older), keeping each one whose
 * return still leaves room: what remains is a minimal set of victims
 * (no single victim can be spared).
 */
export function findPreemption(state: ClusterState, pod: PodContext, roomOnly: NodeInfo[]): { node: string; victims: BoundInstance[] } | undefined {
  let best: { node: string; victims: BoundInstance[]; maxPriority: number } | undefined;
  const budget = disruptionBudget(state);
  for (const node of roomOnly) {
    const victims = victimsOn(state, pod, node, budget);
    if (!victims) continue;
    const maxPriority = Math.max(...victims.map((v) => priorityOf(state, v)));
    const cand = { node: node.name, victims, maxPriority };
    if (!best || maxPriority < best.maxPriority || (maxPriority === best.maxPriority && (victims.length < best.victims.length || (victims.length === best.victims.length && node.name < best.node)))) best = cand;
  }
  return best && { node: best.node, victims: best.victims };
}

function victimsOn(state: ClusterState, pod: PodContext, node: NodeInfo, budget: Map<string, number>): BoundInstance[] | undefined {
  const lower = [...node.bound.values()].filter((b) => priorityOf(state, b) < pod.priority);
  if (!lower.length) return undefined;
  const used = cloneResources(reservedUsage(pod, node));
  for (const b of lower) addInto(used, b.resources, -1);
  if (shortfall(node.capacity, used, pod.want)) return undefined;
  // Most important first: these are the ones we try hardest to spare.
  lower.sort((a, b) => priorityOf(state, b) - priorityOf(state, a) || Number(b.ready) - Number(a.ready) || a.createdAt.localeCompare(b.createdAt) || a.key.localeCompare(b.key));
  const victims: BoundInstance[] = [];
  for (const b of lower) {
    addInto(used, b.resources, 1);
    if (!shortfall(node.capacity, used, pod.want)) continue; // spared
    addInto(used, b.resources, -1);
    victims.push(b);
  }
  // The floor: a ready victim spends one of its service's allowed disruptions.
  const spend = new Map<string, number>();
  for (const v of victims) {
    if (!v.ready || !v.service) continue;
    spend.set(v.service, (spend.get(v.service) ?? 0) + 1);
  }
  for (const [svc, n] of spend) if (n > (budget.get(svc) ?? Infinity)) return undefined;
  return victims;
}

/** Ready instances each service can lose now without going below replicas - maxUnavailable. */
export function disruptionBudget(state: ClusterState): Map<string, number> {
  const ready = new Map<string, number>();
  for (const b of state.instances.values()) if (b.service && b.ready) ready.set(b.service, (ready.get(b.service) ?? 0) + 1);
  const out = new Map<string, number>();
  for (const [svc, info] of state.services) out.set(svc, Math.max(0, (ready.get(svc) ?? 0) - Math.max(0, info.replicas - info.maxUnavailable)));
  return out;
}

export function priorityOf(state: ClusterState, b: BoundInstance): number {
  return state.priority(b.priorityClass)?.value ?? 0;
}

function cloneResources(r: Resources): Resources {
  return { ...r, accelerators: { ...r.accelerators } };
}
