import { RETIRING_LABEL, SERVICE_LABEL, type GeoPoint, type Instance, type SiteLink, type Node, type PriorityClass, type Resource, type Resources, type Service, type Taint, type Tier, durationMs, projectOf, projectKey, nameKey } from '../core/index.ts';
import { LatencyTable } from './latency.ts';

/** An instance bound to a node, as the scheduler accounts for it. */
export interface BoundInstance {
  key: string;
  project: string;
  name: string;
  /** `project/service`, or undefined for a bare instance. */
  service: string | undefined;
  node: string;
  resources: Resources;
  labels: Record<string, string>;
  priorityClass: string | undefined;
  ready: boolean;
  /** Marked for replacement by the rescheduler (label gedge.io/retiring). */
  retiring: boolean;
  createdAt: string;
}

export interface SiteInfo {
  name: string;
  /** False while nodes name a site that has no Site object: it offers no tier to match. */
  known: boolean;
  tier: Tier;
  location: GeoPoint | undefined;
  nodes: NodeInfo[];
  /** Bound instances per `project/service` across the site's nodes. */
  perService: Map<string, number>;
  /** Bounds over the site's nodes, for the scheduler to skip sites that cannot score higher; recomputed when stale. */
  bounds: SiteBounds | null;
}

export interface SiteBounds {
  /** Highest share (0-100, cpu and memory averaged) in use on any node. */
  maxUsed: number;
  /** Highest share free on any node. */
  maxFree: number;
  /** Smallest reported cpu and memory capacity (0: none reported). */
  minCpu: number;
  minMemoryMiB: number;
  /** Room held for preemptors on some node: usage bounds do not hold then. */
  nominated: boolean;
  /** The most cpu and memory free on any one node (Infinity where capacity is unreported). */
  maxRoomCpu: number;
  maxRoomMemoryMiB: number;
}

/** Computes a site's bounds from its nodes. */
export function siteBounds(site: SiteInfo): SiteBounds {
  let maxUsed = 0;
  let maxFree = 0;
  let minCpu = Infinity;
  let minMemoryMiB = Infinity;
  let nominated = false;
  let maxRoomCpu = 0;
  let maxRoomMemoryMiB = 0;
  for (const n of site.nodes) {
    if (n.nominated.size) nominated = true;
    maxRoomCpu = Math.max(maxRoomCpu, n.capacity.cpu > 0 ? n.capacity.cpu - n.used.cpu : Infinity);
    maxRoomMemoryMiB = Math.max(maxRoomMemoryMiB, n.capacity.memoryMiB > 0 ? n.capacity.memoryMiB - n.used.memoryMiB : Infinity);
    const c = n.capacity;
    const u = n.scored;
    const used = 50 * ((c.cpu > 0 ? u.cpu / c.cpu : 0) + (c.memoryMiB > 0 ? u.memoryMiB / c.memoryMiB : 0));
    const free = 50 * ((c.cpu > 0 ? Math.max(0, 1 - u.cpu / c.cpu) : 1) + (c.memoryMiB > 0 ? Math.max(0, 1 - u.memoryMiB / c.memoryMiB) : 1));
    if (used > maxUsed) maxUsed = used;
    if (free > maxFree) maxFree = free;
    if (c.cpu > 0 && c.cpu < minCpu) minCpu = c.cpu;
    if (c.memoryMiB > 0 && c.memoryMiB < minMemoryMiB) minMemoryMiB = c.memoryMiB;
  }
  return { maxUsed, maxFree, minCpu: minCpu === Infinity ? 0 : minCpu, minMemoryMiB: minMemoryMiB === Infinity ? 0 : minMemoryMiB, nominated, maxRoomCpu, maxRoomMemoryMiB };
}

export interface NodeInfo {
  name: string;
  site: string;
  ready: boolean;
  unschedulable: boolean;
  /** Workload runtimes the node offers. */
  runtimes: readonly string[];
  labels: Record<string, string>;
  taints: Taint[];
  capacity: Resources;
  /** Sum of the requests of everything bound here. */
  used: Resources;
  /** The same as the load scores count it: zero cpu or memory requests as SCORING_DEFAULT (see there). */
  scored: ScoredUsage;
  /** Requests held for preemptors that evicted lower priorities here: key -> (priority, requests). */
  nominated: Map<string, { priority: number; resources: Resources }>;
  bound: Map<string, BoundInstance>;
  perService: Map<string, number>;
}

export interface ServiceInfo {
  replicas: number;
  maxUnavailable: number;
}


export const emptyResources = (): Resources => ({ cpu: 0, memoryMiB: 0, diskMiB: 0, accelerators: {} });

export interface ScoredUsage {
  cpu: number;
  memoryMiB: number;
}

/**
 * What a request of nothing counts as in the load scores (never in the
 * filters, which fit what is asked): 0.1 core and 200 MiB, as Kubernetes'
 * scheduler counts containers without requests. Otherwise workloads that
 * declare no resources leave every node's load at 0: all score alike and
 * all land on the first node.
 */
export const SCORING_DEFAULT: Readonly<ScoredUsage> = { cpu: 0.1, memoryMiB: 200 };
export const scoredCpu = (cpu: number): number => (cpu > 0 ? cpu : SCORING_DEFAULT.cpu);
export const scoredMemory = (memoryMiB: number): number => (memoryMiB > 0 ? memoryMiB : SCORING_DEFAULT.memoryMiB);

/**
 * The scheduler's model of the cluster, kept current incrementally from store
 * changes (and from the scheduler's own bindings, assumed at once so that two
 * placements in a row never double-book a node). Pure data: no I/O.
 */
export class ClusterState {
  readonly nodes = new Map<string, NodeInfo>();
  readonly sites = new Map<string, SiteInfo>();
  readonly instances = new Map<string, BoundInstance>();
  readonly services = new Map<string, ServiceInfo>();
  readonly priorityClasses = new Map<string, { value: number; preempt: boolean }>();
  readonly latency = new LatencyTable();
  /** Bumped when sites change, so cached per-site derivations can be dropped. */
  siteVersion = 0;
  /** Bumped when a site gains or loses a node. */
  private membershipVersion = 0;
  /** Devices by `project/name`: where clients selected by device labels are. */
  readonly devices = new Map<string, { project: string; site: string; labels: Record<string, string> }>();
  private deviceVersion = 0;
  private readonly nominations = new Map<string, string>();
  /** Instances bound to a node the state does not know (yet, or any more), accounted when it (re)appears. */
  private readonly orphans = new Map<string, Set<BoundInstance>>();

  /**
   * Changes whenever sites, their node counts, the latency table or devices change:
   * what a per-site plan (site filters, site-level scores) depends on.
   */
  get layoutVersion(): number {
    return this.siteVersion + this.membershipVersion + this.latency.version + this.deviceVersion;
  }

  /** Applies one stored object (or its deletion). Unknown kinds are ignored. */
  apply(obj: Resource, deleted = false): void {
    switch (obj.kind) {
      case 'Node':
        return deleted ? this.removeNode(obj.metadata.name) : this.putNode(obj);
      case 'Site':
        return deleted ? this.removeSite(obj.metadata.name) : this.putSite(obj.metadata.name, obj.spec.tier, obj.spec.location);
      case 'Instance':
        return deleted ? this.unbind(instanceKey(obj)) : this.putInstance(obj);
      case 'Service':
        if (deleted) this.services.delete(serviceKey(obj.metadata.project, obj.metadata.name)!);
        else this.services.set(serviceKey(obj.metadata.project, obj.metadata.name)!, { replicas: obj.spec.replicas, maxUnavailable: (obj as Service).spec.maxUnavailable });
        return;
      case 'SiteLink':
        return this.putLink(obj, deleted);
      case 'PriorityClass':
        if (deleted) this.priorityClasses.delete(obj.metadata.name);
        else this.priorityClasses.set(obj.metadata.name, priorityOf(obj));
        return;
      case 'Device': {
        const key = projectKey(obj);
        const prev = this.devices.get(key);
        if (deleted) this.devices.delete(key);
        else this.devices.set(key, { project: projectOf(obj), site: obj.spec.site, labels: obj.metadata.labels });
        // Only where devices are (and which labels they carry) matters to placements.
        if (deleted || !prev || JSON.stringify(prev.labels) !== JSON.stringify(obj.metadata.labels)) this.deviceVersion++;
        return;
      }
      default:
        return;
    }
  }

  /** Accounts a binding the scheduler just made, before the store reports it back. */
  assume(inst: Instance, node: string): void {
    this.putInstance({ ...inst, spec: { ...inst.spec, node } });
  }

  priority(name: string | undefined): { value: number; preempt: boolean } | undefined {
    return name === undefined ? { value: 0, preempt: false } : this.priorityClasses.get(name);
  }

  /** Holds room on a node for a preemptor until it is bound (or gone), so lower priorities do not take it meanwhile. */
  nominate(node: string, key: string, priority: number, resources: Resources): void {
    this.clearNomination(key);
    const n = this.nodes.get(node);
    if (!n) return;
    n.nominated.set(key, { priority, resources });
    this.nominations.set(key, node);
    const site = this.sites.get(n.site);
    if (site) site.bounds = null;
  }

  private clearNomination(key: string): void {
    const at = this.nominations.get(key);
    if (at === undefined) return;
    const n = this.nodes.get(at);
    n?.nominated.delete(key);
    this.nominations.delete(key);
    const site = n && this.sites.get(n.site);
    if (site) site.bounds = null;
  }

  private putNode(n: Node): void {
    const prev = this.nodes.get(n.metadata.name);
    const info: NodeInfo = {
      name: n.metadata.name,
      site: n.spec.site,
      ready: n.status?.phase === 'Ready',
      unschedulable: n.spec.unschedulable,
      runtimes: n.status?.runtimes ?? ['process'],
      labels: n.metadata.labels,
      taints: n.spec.taints ?? [],
      capacity: n.spec.capacity,
      used: prev?.used ?? emptyResources(),
      scored: prev?.scored ?? { cpu: 0, memoryMiB: 0 },
      nominated: prev?.nominated ?? new Map(),
      bound: prev?.bound ?? new Map(),
      perService: prev?.perService ?? new Map(),
    };
    if (prev && prev.site !== info.site) this.detach(prev);
    this.nodes.set(info.name, info);
    const site = this.siteFor(info.site);
    site.bounds = null;
    const at = site.nodes.findIndex((x) => x.name === info.name);
    if (at >= 0) site.nodes[at] = info;
    else {
      site.nodes.push(info);
      this.membershipVersion++;
      for (const [svc, k] of info.perService) bump(site.perService, svc, k);
    }
    const waiting = this.orphans.get(info.name);
    this.orphans.delete(info.name);
    for (const b of waiting ?? []) this.account(b, 1);
  }

  private removeNode(name: string): void {
    const n = this.nodes.get(name);
    if (!n) return;
    this.detach(n);
    this.nodes.delete(name);
    // Its instances stay in `instances` and are accounted again if the node comes back.
    if (n.bound.size) this.orphans.set(name, new Set(n.bound.values()));
  }

  private detach(n: NodeInfo): void {
    const site = this.sites.get(n.site);
    if (!site) return;
    site.nodes = site.nodes.filter((x) => x.name !== n.name);
    site.bounds = null;
    this.membershipVersion++;
    for (const [svc, k] of n.perService) bump(site.perService, svc, -k);
  }

  private putSite(name: string, tier: Tier, location: GeoPoint | undefined): void {
    const s = this.sites.get(name);
    if (s) Object.assign(s, { known: true, tier, location });
    else this.sites.set(name, { name, known: true, tier, location, nodes: [], perService: new Map(), bounds: null });
    this.siteVersion++;
  }

  private removeSite(name: string): void {
    const s = this.sites.get(name);
    // Deleted under live nodes: the entry stays (they still point at it) but no longer qualifies for a tier.
    if (s?.nodes.length) s.known = false;
    else this.sites.delete(name);
    this.siteVersion++;
  }

  /** Nodes may name a site before (or without) its Site object: such a site has no tier constraint to offer. */
  private siteFor(name: string): SiteInfo {
    let s = this.sites.get(name);
    if (!s) {
      s = { name, known: false, tier: 'edge', location: undefined, nodes: [], perService: new Map(), bounds: null };
      this.sites.set(name, s);
      this.siteVersion++;
    }
    return s;
  }

  private putInstance(inst: Instance): void {
    const key = instanceKey(inst);
    const node = inst.spec.node;
    if (!node) return this.unbind(key);
    const prev = this.instances.get(key);
    const b: BoundInstance = {
      key,
      project: projectOf(inst),
      name: inst.metadata.name,
      service: serviceKey(inst.metadata.project, inst.spec.service ?? inst.metadata.labels[SERVICE_LABEL]),
      node,
      resources: inst.spec.template.resources,
      labels: inst.metadata.labels,
      priorityClass: inst.spec.placement.priorityClass,
      ready: inst.status?.ready ?? false,
      retiring: RETIRING_LABEL in inst.metadata.labels,
      createdAt: inst.metadata.createdAt ?? '',
    };
    if (prev && prev.node === node) {
      // Same binding: refresh what may change (readiness, labels) without re-accounting.
      Object.assign(prev, { ready: b.ready, retiring: b.retiring, labels: b.labels });
      return;
    }
    if (prev) this.unbind(key);
    this.instances.set(key, b);
    this.clearNomination(key);
    this.account(b, 1);
  }

  private unbind(key: string): void {
    const b = this.instances.get(key);
    if (!b) return this.clearNomination(key);
    this.instances.delete(key);
    this.account(b, -1);
  }

  private account(b: BoundInstance, sign: 1 | -1): void {
    const n = this.nodes.get(b.node);
    if (!n) {
      let set = this.orphans.get(b.node);
      if (!set) this.orphans.set(b.node, (set = new Set()));
      if (sign > 0) set.add(b);
      else if (set.delete(b) && !set.size) this.orphans.delete(b.node);
      return;
    }
    addInto(n.used, b.resources, sign);
    n.scored.cpu += sign * scoredCpu(b.resources.cpu);
    n.scored.memoryMiB += sign * scoredMemory(b.resources.memoryMiB);
    const site = this.sites.get(n.site);
    if (site) site.bounds = null;
    if (sign > 0) n.bound.set(b.key, b);
    else n.bound.delete(b.key);
    if (b.service) {
      bump(n.perService, b.service, sign);
      bump(this.siteFor(n.site).perService, b.service, sign);
    }
  }

  private putLink(l: SiteLink, deleted: boolean): void {
    const [a, b] = l.spec.sites;
    if (deleted) return this.latency.delete(a, b);
    const measured = l.status && l.status.rttMs !== null && l.status.state !== 'Down' ? l.status.rttMs : undefined;
    const rtt = measured ?? (l.spec.declaredRtt === undefined ? undefined : durationMs(l.spec.declaredRtt));
    if (rtt === undefined) this.latency.delete(a, b);
    else this.latency.set(a, b, rtt, measured === undefined ? 'declared' : l.status!.state === 'Stale' ? 'stale' : 'measured');
  }
}

export function instanceKey(i: { metadata: { project?: string | undefined; name: string } }): string {
  return projectKey(i);
}

export function serviceKey(project: string | undefined, service: string | undefined): string | undefined {
  return service ? nameKey(project, service) : undefined;
}

function priorityOf(pc: PriorityClass): { value: number; preempt: boolean } {
  return { value: pc.spec.value, preempt: pc.spec.preemptionPolicy !== 'Never' };
}

function bump(m: Map<string, number>, k: string, by: number): void {
  const v = (m.get(k) ?? 0) + by;
  if (v > 0) m.set(k, v);
  else m.delete(k);
}

export function addInto(acc: Resources, r: Resources, sign: 1 | -1 = 1): void {
  acc.cpu += sign * r.cpu;
  acc.memoryMiB += sign * r.memoryMiB;
  acc.diskMiB += sign * r.diskMiB;
  for (const [k, n] of Object.entries(r.accelerators)) {
    const v = (acc.accelerators[k] ?? 0) + sign * n;
    if (v) acc.accelerators[k] = v;
    else delete acc.accelerators[k];
  }
}
