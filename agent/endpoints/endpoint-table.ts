import { nameKey, portNamed, type CenterMessage, type EndpointBackend, type EndpointSet } from '../../core/index.ts';

export type EndpointsMessage = Extract<CenterMessage, { t: 'endpoints' }>;

/** Where this agent stands, and what it knows better than the center: its own instances and its round trips. */
export interface Vantage {
  node: string;
  site: string | undefined;
  /** An instance of this node as it is now (ready, ports), or undefined when it does not run here. */
  local: (project: string, instance: string) => { ready: boolean; ports: Record<string, number> } | undefined;
  /** The round trip to a site as this agent measured it lately, ms. */
  rttMs: (site: string) => number | undefined;
  /** Until when (ms since the epoch) an instance is passed over after a failed connection. */
  failedUntil: (project: string, instance: string) => number;
}

/** One way to reach an instance for a port: on this node (its host port) or through its node's gateway. */
export interface Candidate {
  backend: EndpointBackend;
  local: boolean;
  port: number;
  /** Why it ranks where it does, for the resolver's answer and the tests. */
  rank: { node: boolean; site: boolean; rttMs: number | undefined; tier: string | undefined; failed: boolean };
}

const TIER_ORDER: Record<string, number> = { edge: 0, region: 1, cloud: 2 };

/**
 * The endpoint directory as this agent holds it (from the center, kept in
 * local state so it resolves with the center out of reach), and the order in
 * which a connection tries an endpoint's instances: ready ones only; those on
 * this node first, then this site's, then by the round trip this agent
 * measured to their site, then by tier (region before cloud) where nothing
 * was measured; an instance that failed a connection lately goes last (it is
 * still tried when nothing else is left).
 */
export class EndpointTable {
  private readonly sets = new Map<string, EndpointSet>();
  /** The platform's nodes as the center last said (none known before its first message: no caller is taken). */
  private readonly platformNodes = new Set<string>();

  /** Applies the center's message; returns whether anything changed. */
  apply(m: Pick<EndpointsMessage, 'full' | 'sets' | 'gone' | 'nodes' | 'nodesAdded' | 'nodesGone'>): boolean {
    const before = this.signature();
    if (m.full) {
      this.sets.clear();
      this.platformNodes.clear();
    }
    for (const s of m.sets) this.sets.set(key(s.project, s.service), s);
    for (const g of m.gone) this.sets.delete(key(g.project, g.service));
    for (const n of [...(m.nodes ?? []), ...(m.nodesAdded ?? [])]) this.platformNodes.add(n);
    for (const n of m.nodesGone ?? []) this.platformNodes.delete(n);
    return this.signature() !== before;
  }

  /** Whether a node is one of the platform's now (a gateway takes its certificate). */
  isNode(name: string): boolean {
    return this.platformNodes.has(name);
  }

  nodes(): string[] {
    return [...this.platformNodes].sort();
  }

  private signature(): string {
    return JSON.stringify([this.all(), this.nodes()]);
  }

  all(): EndpointSet[] {
    return [...this.sets.values()].sort((a, b) => key(a.project, a.service).localeCompare(key(b.project, b.service)));
  }

  get(project: string, service: string): EndpointSet | undefined {
    return this.sets.get(key(project, service));
  }

  /** The instances to try for `port` of the Service's endpoint, best first. */
  candidates(project: string, service: string, port: string, v: Vantage, now = Date.now()): Candidate[] {
    const set = this.sets.get(key(project, service));
    if (!set?.ports.includes(port)) return [];
    const out: Candidate[] = [];
    for (const b of set.backends) {
      const onNode = b.node === v.node;
      // This node's own instances: what it sees now beats what the center last said.
      const local = onNode ? v.local(project, b.instance) : undefined;
      const ready = onNode ? (local?.ready ?? false) : b.ready;
      const hostPort = onNode ? (portNamed(local?.ports, port) ?? portNamed(b.ports, port)) : portNamed(b.ports, port);
      if (!ready || !hostPort || (!onNode && !b.gateway)) continue;
      const rttMs = b.site && b.site !== v.site ? v.rttMs(b.site) : undefined;
      out.push({ backend: b, local: onNode, port: hostPort, rank: { node: onNode, site: !!b.site && b.site === v.site, rttMs, tier: b.tier, failed: v.failedUntil(project, b.instance) > now } });
    }
    return out.sort((a, b) => compare(a.rank, b.rank) || a.backend.instance.localeCompare(b.backend.instance));
  }
}

function compare(a: Candidate['rank'], b: Candidate['rank']): number {
  if (a.failed !== b.failed) return a.failed ? 1 : -1;
  if (a.node !== b.node) return a.node ? -1 : 1;
  if (a.site !== b.site) return a.site ? -1 : 1;
  const ra = a.rttMs ?? Infinity;
  const rb = b.rttMs ?? Infinity;
  if (ra !== rb) return ra - rb;
  return (TIER_ORDER[a.tier ?? ''] ?? 3) - (TIER_ORDER[b.tier ?? ''] ?? 3);
}

const key = nameKey;
