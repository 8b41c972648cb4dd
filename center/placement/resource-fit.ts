import type { Instance, Resources } from '../../core/index.ts';
import { matchesSelector } from '../../core/index.ts';
import type { Candidate, Decision, Placement } from './placement.ts';

/**
 * Filter then score (the Kubernetes scheduler's shape), pure: filter out
 * nodes that are not Ready, cordoned, outside the allowed tiers/sites,
 * without the selected labels or without room; then prefer the node with the
 * fewest replicas of the same service, then the least allocated, then the
 * fewest instances (so workloads without requests spread too). Ties break by
 * name so the result is deterministic.
 */
export class ResourceFitPlacement implements Placement {
  readonly name = 'resource-fit';

  place(instance: Instance, candidates: Candidate[]): Decision {
    const want = instance.spec.template.resources;
    const rejected: Record<string, number> = {};
    const reject = (why: string) => (rejected[why] = (rejected[why] ?? 0) + 1);
    const fits: { c: Candidate; free: number }[] = [];
    const p = instance.spec.placement;
    for (const c of candidates) {
      if (c.node.status?.phase !== 'Ready') reject('not Ready');
      else if (c.node.spec.unschedulable) reject('cordoned');
      else if (p.tiers && !(c.site && p.tiers.includes(c.site.spec.tier))) reject('tier not allowed');
      else if (p.sites && !p.sites.includes(c.node.spec.site)) reject('site not allowed');
      else if (p.nodeSelector && !matchesSelector(Object.entries(p.nodeSelector).map(([key, value]) => ({ key, op: 'eq' as const, value })), c.node.metadata.labels)) reject('labels do not match');
      else {
        const missing = shortfall(c.node.spec.capacity, c.allocated, want);
        if (missing) reject(`insufficient ${missing}`);
        else fits.push({ c, free: freeShare(c.node.spec.capacity, c.allocated, want) });
      }
    }
    if (!fits.length) {
      const why = Object.entries(rejected).map(([r, n]) => `${n} node(s) ${r}`);
      return { node: null, reasons: why.length ? why : ['no nodes'] };
    }
    fits.sort(
      (a, b) =>
        a.c.sameService - b.c.sameService || b.free - a.free || a.c.instances - b.c.instances || a.c.node.metadata.name.localeCompare(b.c.node.metadata.name),
    );
    const best = fits[0]!;
    return {
      node: best.c.node.metadata.name,
      reasons: [`${fits.length}/${candidates.length} nodes fit`, `chose ${best.c.node.metadata.name}: ${best.c.sameService} replica(s) of this service there, ${Math.round(best.free * 100)}% free after placement`],
    };
  }
}

function shortfall(cap: Resources, used: Resources, want: Resources): string | undefined {
  // A capacity of 0 means "not reported": do not block on it.
  if (cap.cpu > 0 && used.cpu + want.cpu > cap.cpu) return 'cpu';
  if (cap.memoryMiB > 0 && used.memoryMiB + want.memoryMiB > cap.memoryMiB) return 'memory';
  if (cap.diskMiB > 0 && used.diskMiB + want.diskMiB > cap.diskMiB) return 'disk';
  for (const [k, n] of Object.entries(want.accelerators)) if ((cap.accelerators[k] ?? 0) - (used.accelerators[k] ?? 0) < n) return k;
  return undefined;
}

function freeShare(cap: Resources, used: Resources, want: Resources): number {
  const share = (c: number, u: number, w: number) => (c > 0 ? Math.max(0, 1 - (u + w) / c) : 1);
  return (share(cap.cpu, used.cpu, want.cpu) + share(cap.memoryMiB, used.memoryMiB, want.memoryMiB)) / 2;
}
