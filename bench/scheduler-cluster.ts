import type { Instance, Node, Placement, Site, Tier } from '../core/index.ts';
import { ClusterState } from '../scheduler/index.ts';

/** The scheduler benchmark's synthetic cluster and workload, seeded so every run is the same. */
const NODES_PER_SITE = 10;
const CLIENT_SITES = 100;
export const SLA_MS = 15;

/** mulberry32: a small seeded PRNG so every run builds the same cluster. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Cluster {
  objects: (Site | Node)[];
  links: [string, string, number][];
  clientSites: string[];
}

/**
 * Sites on a 1000 km square (one cloud, 10% region, the rest edge), round
 * trips from distance (1 ms per 100 km of fiber, plus 1-3 ms of equipment);
 * the table holds the rows the workload needs: from each client site to every site.
 */
export function buildCluster(nodes: number, seed = 42): Cluster {
  const rand = rng(seed);
  const siteCount = Math.ceil(nodes / NODES_PER_SITE);
  const sites: { name: string; tier: Tier; x: number; y: number }[] = [];
  for (let i = 0; i < siteCount; i++) {
    const tier: Tier = i === 0 ? 'cloud' : i % 10 === 1 ? 'region' : 'edge';
    sites.push({ name: `site-${i}`, tier, x: rand() * 1000, y: rand() * 1000 });
  }
  const capacity = { edge: { cpu: 8, memoryMiB: 16384 }, region: { cpu: 32, memoryMiB: 65536 }, cloud: { cpu: 64, memoryMiB: 262144 } };
  const objects: (Site | Node)[] = sites.map((s) => ({ apiVersion: 'gedge.io/v1', kind: 'Site', metadata: { name: s.name, labels: {} }, spec: { tier: s.tier, description: '' } }));
  for (let i = 0; i < nodes; i++) {
    const s = sites[Math.floor(i / NODES_PER_SITE)]!;
    objects.push({
      apiVersion: 'gedge.io/v1',
      kind: 'Node',
      metadata: { name: `node-${i}`, labels: { zone: `z${i % 3}` } },
      spec: { site: s.name, capacity: { ...capacity[s.tier], diskMiB: 0, accelerators: {} }, unschedulable: false, taints: [] },
      status: { phase: 'Ready', conditions: [] },
    });
  }
  const edges = sites.filter((s) => s.tier === 'edge');
  const clientSites = edges.slice(0, CLIENT_SITES);
  const links: [string, string, number][] = [];
  for (const c of clientSites) {
    for (const s of sites) {
      if (s === c) continue;
      const km = Math.hypot(s.x - c.x, s.y - c.y);
      links.push([c.name, s.name, km / 100 + 1 + rand() * 2]);
    }
  }
  return { objects, links, clientSites: clientSites.map((c) => c.name) };
}

export function stateFor(c: Cluster): ClusterState {
  const state = new ClusterState();
  for (const o of c.objects) state.apply(o);
  for (const [a, b, rtt] of c.links) state.latency.set(a, b, rtt, 'measured');
  return state;
}

export function workload(count: number, policy: 'latency' | 'binpack', clientSites: string[], seed = 7): Instance[] {
  const rand = rng(seed);
  const out: Instance[] = [];
  for (let i = 0; i < count; i++) {
    const svc = `svc-${i % 500}`;
    const placement: Placement =
      policy === 'latency' ? { policy, clients: { sites: [clientSites[(i % 500) % clientSites.length]!] }, maxLatency: `${SLA_MS}ms` } : { policy };
    out.push({
      apiVersion: 'gedge.io/v1',
      kind: 'Instance',
      metadata: { name: `${svc}-${i}`, project: 'default', labels: { 'gedge.io/service': svc } },
      spec: {
        service: svc,
        template: { runtime: 'process', command: ['run'], env: {}, ports: [], volumes: [], resources: { cpu: 0.05 * (1 + Math.floor(rand() * 4)), memoryMiB: 64 * (1 + Math.floor(rand() * 4)), diskMiB: 0, accelerators: {} }, restartPolicy: 'Always', stopGracePeriod: '5s' },
        placement,
        templateHash: 'h',
      },
    });
  }
  return out;
}

