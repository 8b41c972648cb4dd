import { NotFoundError, type Device, type GedgeEvent, type Instance, type Node, type Overview, type Resource, type Rule, type Service, type Site } from '../../core/index.ts';
import { assertProject, mayRead, type Caller } from '../auth/access.ts';
import type { Reader } from '../controllers/object-cache.ts';
import type { Store } from '../store/store.ts';
import { RANGE_SECONDS, type Telemetry, type TelemetryRange } from '../telemetry/telemetry.ts';

const WARNINGS = 20;

/**
 * What the dashboard shows beyond objects: the fleet's overview and the
 * telemetry history of a node or an instance, for a caller (who sees only
 * what it may read). Reads go to the controllers' cache once it runs
 * (`reader`), Rules and Events to the store (the cache holds neither).
 */
export class FleetView {
  constructor(
    private readonly reader: () => Reader,
    private readonly store: Store,
    private readonly telemetry: Telemetry,
  ) {}

  overview(caller: Caller | undefined): Promise<Overview> {
    return computeOverview(this.reader(), this.store, (o) => mayRead(caller, o));
  }

  async nodeTelemetry(name: string, range: TelemetryRange) {
    if (!(await this.reader().get('Node', undefined, name))) throw new NotFoundError(`Node "${name}" not found`, { details: [{ path: 'name', message: 'not found' }] });
    return { kind: 'Node', name, range, ...(this.telemetry.node(name, range) ?? empty(range)) };
  }

  async instanceTelemetry(caller: Caller | undefined, project: string, name: string, range: TelemetryRange) {
    assertProject(caller, project);
    if (!(await this.reader().get('Instance', project, name))) throw new NotFoundError(`Instance "${name}" not found`, { details: [{ path: 'name', message: 'not found' }] });
    return { kind: 'Instance', project, name, range, ...(this.telemetry.instance(project, name, range) ?? empty(range)) };
  }
}

function empty(range: TelemetryRange) {
  return { resolutionS: RANGE_SECONDS[range] > 3600 ? 300 : 10, t: [], series: {} };
}

export async function computeOverview(reader: Reader, store: Store, visible: (o: Resource) => boolean): Promise<Overview> {
  const list = async <T extends Resource>(r: Reader | Store, kind: string) => {
    const { items, revision } = await r.list(kind);
    return { items: items.filter(visible) as T[], revision };
  };
  const [sites, nodes, services, instances, devices, rules, events] = await Promise.all([
    list<Site>(reader, 'Site'),
    list<Node>(reader, 'Node'),
    list<Service>(reader, 'Service'),
    list<Instance>(reader, 'Instance'),
    list<Device>(reader, 'Device'),
    list<Rule>(store, 'Rule'),
    list<GedgeEvent>(store, 'Event'),
  ]);

  const perSite = new Map(sites.items.map((s) => [s.metadata.name, { nodes: { total: 0, ready: 0 }, instances: { total: 0, running: 0 } }]));
  const nodeSite = new Map<string, string>();
  const nodeCounts = { total: nodes.items.length, Ready: 0, NotReady: 0, Pending: 0, cordoned: 0 };
  for (const n of nodes.items) {
    const phase = n.status?.phase ?? 'Pending';
    nodeCounts[phase]++;
    if (n.spec.unschedulable) nodeCounts.cordoned++;
    nodeSite.set(n.metadata.name, n.spec.site);
    const s = perSite.get(n.spec.site);
    if (s) {
      s.nodes.total++;
      if (phase === 'Ready') s.nodes.ready++;
    }
  }
  const instanceCounts = { total: instances.items.length, restarts: 0, Pending: 0, Starting: 0, Running: 0, Succeeded: 0, Failed: 0, Unknown: 0 };
  for (const i of instances.items) {
    const phase = i.status?.phase ?? 'Pending';
    instanceCounts[phase]++;
    instanceCounts.restarts += i.status?.restarts ?? 0;
    const s = i.spec.node ? perSite.get(nodeSite.get(i.spec.node) ?? '') : undefined;
    if (s) {
      s.instances.total++;
      if (phase === 'Running') s.instances.running++;
    }
  }
  const tiers = { cloud: 0, region: 0, edge: 0 };
  for (const s of sites.items) tiers[s.spec.tier]++;
  const failing = (r: Rule) => Object.values(r.status?.nodes ?? {}).some((n) => n.phase === 'Failed' || n.sinkErrors > 0);

  return {
    revision: Math.max(sites.revision, nodes.revision, services.revision, instances.revision, devices.revision, rules.revision, events.revision),
    counts: {
      sites: { total: sites.items.length, ...tiers },
      nodes: nodeCounts,
      services: {
        total: services.items.length,
        available: services.items.filter((s) => (s.status?.ready ?? 0) >= s.spec.replicas).length,
        rollingOut: services.items.filter((s) => s.status?.rollout && s.status.rollout.phase === 'Progressing').length,
      },
      instances: instanceCounts,
      devices: { total: devices.items.length, connected: devices.items.filter((d) => d.status?.connected).length },
      rules: { total: rules.items.length, paused: rules.items.filter((r) => r.spec.paused).length, failing: rules.items.filter(failing).length },
    },
    sites: sites.items.map((s) => ({
      name: s.metadata.name,
      tier: s.spec.tier,
      parent: s.spec.parent ?? null,
      location: s.spec.location ?? null,
      ...perSite.get(s.metadata.name)!,
    })),
    warnings: events.items
      .filter((e) => e.spec.type === 'Warning')
      .sort((a, b) => (a.spec.at < b.spec.at ? 1 : a.spec.at > b.spec.at ? -1 : 0))
      .slice(0, WARNINGS)
      .map((e) => ({ name: e.metadata.name, at: e.spec.at, reason: e.spec.reason, message: e.spec.message, involved: e.spec.involved })),
  };
}
