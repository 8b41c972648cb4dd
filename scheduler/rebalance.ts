import { isBurst, RETIRING_LABEL, type Instance } from '../core/index.ts';
import { instanceKey, serviceKey } from './cluster-state.ts';
import type { Scheduler } from './scheduler.ts';

/**
 * Rescheduling of running instances, make-before-break: an instance to move
 * is marked retiring (label gedge.io/retiring); its service then creates a
 * replacement, which the scheduler places where it is best now; the retiring
 * one is deleted only once the replacement is ready (see retirementsDue). So a
 * move never lowers availability, and at most max(1, maxUnavailable) moves per
 * service are in flight.
 */
export interface Move {
  instance: string;
  from: string;
  to: string;
  reason: 'sla' | 'rebalance';
  detail: string;
}

/** A running instance whose SLA no longer holds, with no compliant node to move to: it stays (degraded beats down). */
export interface Stranded {
  instance: string;
  node: string;
  detail: string;
}

export interface RebalancePlan {
  moves: Move[];
  stranded: Stranded[];
}

export interface RebalanceOptions {
  /** A fitting current node moves only if another scores this many points (0-100) better. */
  minGain: number;
  /** At most this many moves per pass (the next pass sees their effect). */
  maxMoves: number;
}

export const DEFAULT_REBALANCE: RebalanceOptions = { minGain: 25, maxMoves: 20 };

/**
 * Which running instances to move now: those whose node violates their SLA
 * while a compliant node exists, then those with a much better place; and
 * those that violate their SLA with nowhere compliant to go (stranded).
 * Instances on nodes that are not Ready are left to the node lifecycle (evicted
 * after the grace period); other filters that stopped passing (a new taint, a
 * cordon) do not move running work.
 */
export function planMoves(scheduler: Scheduler, instances: Instance[], opts: RebalanceOptions = DEFAULT_REBALANCE): RebalancePlan {
  const state = scheduler.state;
  const inFlight = new Map<string, number>();
  for (const b of state.instances.values()) if (b.retiring && b.service) inFlight.set(b.service, (inFlight.get(b.service) ?? 0) + 1);
  const sla: Move[] = [];
  const stranded: Stranded[] = [];
  const gains: { move: Move; gain: number }[] = [];
  for (const inst of instances) {
    const svc = serviceKey(inst.metadata.project, inst.spec.service);
    const node = inst.spec.node;
    // Burst instances (added upward while sites overflow) are the burst controller's to add and remove: never moved.
    if (!svc || !node || RETIRING_LABEL in inst.metadata.labels || isBurst(inst) || !state.nodes.get(node)?.ready) continue;
    const info = state.services.get(svc);
    if (!info || (inFlight.get(svc) ?? 0) >= Math.max(1, info.maxUnavailable)) continue;
    const { current, best } = scheduler.evaluate(inst);
    if (current?.rejection?.reason === 'latency > SLA' && !best.node) {
      stranded.push({ instance: instanceKey(inst), node, detail: `${current.rejection.detail} on ${node}; no compliant node (${best.explanation.summary})` });
      continue;
    }
    if (!current || !best.node || best.node === node) continue;
    const top = best.explanation.candidates[0];
    const move = (reason: Move['reason'], detail: string): Move => ({ instance: instanceKey(inst), from: node, to: best.node!, reason, detail });
    if (current.rejection) {
      if (current.rejection.reason !== 'latency > SLA') continue;
      sla.push(move('sla', `${current.rejection.detail} on ${node}; ${best.node} meets it (${top?.latencyMs ?? '?'}ms)`));
    } else {
      const gain = (top?.total ?? 0) - current.total;
      if (gain < opts.minGain) continue;
      gains.push({ move: move('rebalance', `${best.node} scores ${top?.total} vs ${Math.round(current.total * 10) / 10} on ${node}`), gain });
    }
    inFlight.set(svc, (inFlight.get(svc) ?? 0) + 1);
  }
  gains.sort((a, b) => b.gain - a.gain || a.move.instance.localeCompare(b.move.instance));
  return { moves: [...sla, ...gains.map((g) => g.move)].slice(0, opts.maxMoves), stranded };
}

export interface ReplicaView {
  name: string;
  ready: boolean;
  retiring: boolean;
}

/**
 * Retiring instances that may be deleted now: a not-ready one at once (it
 * serves nobody); a ready one only while the others that are ready still
 * number at least `replicas` (its replacement is up). Availability never
 * drops because of a move.
 */
export function retirementsDue(replicas: ReplicaView[], want: number): string[] {
  let ready = replicas.filter((r) => r.ready).length;
  const due: string[] = [];
  for (const r of replicas) {
    if (!r.retiring) continue;
    if (!r.ready) due.push(r.name);
    else if (ready - 1 >= want) {
      due.push(r.name);
      ready--;
    }
  }
  return due;
}
