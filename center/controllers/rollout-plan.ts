import { durationMs } from '../../core/index.ts';
import type { RolloutSpec } from '../../core/index.ts';

/**
 * One step of a rollout, decided from what is there now (a pure function, so
 * every reconcile recomputes it from the store and a restarted center picks
 * up where it was).
 *
 * Old instances are replaced site by site, in the given site order: while a
 * site still has old instances, new ones are created for it (pinned to it)
 * within `replicas + maxSurge`, and its old ones are removed only while the
 * service keeps `replicas - maxUnavailable` ready instances. Old instances
 * that are not ready cost no availability and go first. A new instance that
 * crash-loops, is not ready by the progress deadline, or fails its model
 * gate (a new model version measured against the current one at its node)
 * fails the rollout.
 */

export interface PlanInstance {
  name: string;
  /** Made from the service's current revision. */
  current: boolean;
  /** The site of its node; undefined while unplaced. */
  site: string | undefined;
  /** The site a new instance was created for (its rollout pin). */
  forSite: string | undefined;
  /** The old instance a new one was created to replace. */
  replaces?: string;
  ready: boolean;
  restarts: number;
  failed: boolean;
  /** A new model version's instance that failed its model gate at its node: why. */
  gateFailure?: string;
  createdAtMs: number;
}

export interface PlanInput {
  replicas: number;
  maxSurge: number;
  maxUnavailable: number;
  rollout: Pick<RolloutSpec, 'paused' | 'progressDeadline' | 'maxRestarts'>;
  instances: PlanInstance[];
  nowMs: number;
}

export interface SiteProgress {
  site: string;
  /** Current-revision instances there (or created for it). */
  updated: number;
  /** updated + old instances still there. */
  total: number;
  done: boolean;
}

export interface Replacement {
  /** The site to pin it to (undefined: unpinned). */
  site: string | undefined;
  /** The old instance it replaces. */
  replaces: string;
}

export interface RolloutPlan {
  /** New instances to create. */
  create: Replacement[];
  /** Old instances to remove now. */
  remove: string[];
  /** Set when the new revision failed its health gate: why. */
  failure?: string;
  sites: SiteProgress[];
  /** No old instance is left. */
  finished: boolean;
}

/** The unplaced bucket sorts last; it is rolled like a site (replacements unpinned). */
const UNPLACED = '\uffff';

export function planRollout(input: PlanInput): RolloutPlan {
  const { replicas, maxSurge, maxUnavailable, rollout, nowMs } = input;
  const current = input.instances.filter((i) => i.current);
  const old = input.instances.filter((i) => !i.current);
  const sites = siteProgress(input.instances);
  if (old.length === 0) return { create: [], remove: [], sites, finished: true };

  const failure = healthGate(current, rollout, nowMs);
  if (failure) return { create: [], remove: [], failure, sites, finished: false };
  if (rollout.paused) return { create: [], remove: [], sites, finished: false };

  const siteKey = (i: PlanInstance): string => i.site ?? UNPLACED;
  const order = [...new Set(old.map(siteKey))].sort();
  const site = order[0]!;
  const oldHere = old.filter((i) => siteKey(i) === site);

  // Remove: old instances that are not ready cost nothing; ready ones only down to the floor.
  const floor = Math.max(0, replicas - maxUnavailable);
  let ready = input.instances.filter((i) => i.ready).length;
  const remove: string[] = [];
  for (const i of [...oldHere].sort((a, b) => Number(a.ready) - Number(b.ready))) {
    if (i.ready) {
      if (ready - 1 < floor) break;
      ready--;
    }
    remove.push(i.name);
  }
  // Anything old beyond the wanted count anywhere (a scale-in during the rollout) goes too, unready first.
  let total = input.instances.length - remove.length;
  const excess = [...old].filter((i) => !remove.includes(i.name)).sort((a, b) => Number(a.ready) - Number(b.ready));
  for (const i of excess) {
    if (total - current.length <= 0 || total <= replicas + maxSurge) break;
    if (i.ready && ready - 1 < floor) break;
    if (i.ready) ready--;
    remove.push(i.name);
    total--;
  }

  // Create: one replacement for each of this site's old instances that has
  // none yet (those removed in this step first), within the surge room and
  // never more than replicas current instances.
  const replaced = new Set(current.map((i) => i.replaces));
  const unmatched = oldHere.filter((i) => !replaced.has(i.name)).sort((a, b) => Number(!remove.includes(a.name)) - Number(!remove.includes(b.name)));
  const room = Math.max(0, replicas + maxSurge - total);
  const count = Math.max(0, Math.min(room, replicas - current.length, unmatched.length));
  const create = unmatched.slice(0, count).map((i) => ({ site: site === UNPLACED ? undefined : site, replaces: i.name }));
  return { create, remove, sites, finished: false };
}

function healthGate(current: PlanInstance[], rollout: PlanInput['rollout'], nowMs: number): string | undefined {
  for (const i of current) {
    if (i.gateFailure !== undefined) return `instance ${i.name} failed its model gate: ${i.gateFailure}`;
    if (i.ready) continue;
    if (i.failed) return `instance ${i.name} failed`;
    if (i.restarts >= rollout.maxRestarts) return `instance ${i.name} restarted ${i.restarts} times without becoming ready (crash loop)`;
    if (nowMs - i.createdAtMs > durationMs(rollout.progressDeadline)) return `instance ${i.name} not ready within ${rollout.progressDeadline}`;
  }
  return undefined;
}

function siteProgress(instances: PlanInstance[]): SiteProgress[] {
  const by = new Map<string, SiteProgress>();
  for (const i of instances) {
    const site = i.current ? (i.forSite ?? i.site) : i.site;
    if (site === undefined) continue;
    const p = by.get(site) ?? { site, updated: 0, total: 0, done: false };
    p.total++;
    if (i.current) p.updated++;
    by.set(site, p);
  }
  const out = [...by.values()].sort((a, b) => a.site.localeCompare(b.site));
  for (const p of out) p.done = p.updated === p.total;
  return out;
}
