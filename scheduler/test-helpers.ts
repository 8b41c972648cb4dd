import type { GeoPoint, Instance, Node, Placement, Resources, Service, Site, Taint, Tier } from '../core/index.ts';
import { siteLinkName } from '../core/index.ts';
import { ClusterState } from './cluster-state.ts';

/** Compact builders for scheduler tests: real resource objects, fed through ClusterState.apply like the center does. */
export const res = (r: Partial<Resources> = {}): Resources => ({ cpu: 0, memoryMiB: 0, diskMiB: 0, accelerators: {}, ...r });

export function site(name: string, tier: Tier = 'edge', location?: GeoPoint): Site {
  return { apiVersion: 'gedge.io/v1', kind: 'Site', metadata: { name, labels: {} }, spec: { tier, description: '', ...(location ? { location } : {}) } };
}

export interface NodeOpts {
  site?: string;
  ready?: boolean;
  unschedulable?: boolean;
  labels?: Record<string, string>;
  taints?: Taint[];
  capacity?: Partial<Resources>;
  /** What the agent reports; absent: process only. */
  runtimes?: string[];
}

export function node(name: string, o: NodeOpts = {}): Node {
  return {
    apiVersion: 'gedge.io/v1',
    kind: 'Node',
    metadata: { name, labels: o.labels ?? {} },
    spec: { site: o.site ?? 'site-a', capacity: res(o.capacity ?? { cpu: 4, memoryMiB: 4096 }), unschedulable: o.unschedulable ?? false, taints: o.taints ?? [] },
    status: { phase: o.ready === false ? 'NotReady' : 'Ready', conditions: [], ...(o.runtimes ? { runtimes: o.runtimes } : {}) },
  };
}

export interface InstOpts {
  runtime?: 'process' | 'container';
  service?: string;
  project?: string;
  want?: Partial<Resources>;
  placement?: Placement;
  node?: string;
  ready?: boolean;
  labels?: Record<string, string>;
  createdAt?: string;
}

export function instance(name: string, o: InstOpts = {}): Instance {
  const service = o.service ?? 'web';
  return {
    apiVersion: 'gedge.io/v1',
    kind: 'Instance',
    metadata: { name, project: o.project ?? 'default', labels: { 'gedge.io/service': service, ...o.labels }, createdAt: o.createdAt ?? '2026-01-01T00:00:00.000Z' },
    spec: {
      service,
      ...(o.node ? { node: o.node } : {}),
      template: { runtime: o.runtime ?? 'process', ...(o.runtime === 'container' ? { image: 'localhost/app:1' } : {}), command: ['run'], env: {}, ports: [], volumes: [], resources: res(o.want), restartPolicy: 'Always', stopGracePeriod: '5s' },
      placement: o.placement ?? {},
      templateHash: 'h',
    },
    status: { phase: o.ready ? 'Running' : 'Pending', ready: o.ready ?? false, restarts: 0, ports: {}, conditions: [] },
  };
}

export function service(name: string, replicas: number, maxUnavailable = 1, project = 'default'): Service {
  return {
    apiVersion: 'gedge.io/v1',
    kind: 'Service',
    metadata: { name, project, labels: {} },
    spec: { replicas, maxUnavailable, maxSurge: 1, rollout: { paused: false, progressDeadline: '2m', maxRestarts: 3, autoRollback: true }, placement: {}, template: { runtime: 'process', command: ['run'], env: {}, ports: [], volumes: [], resources: res(), restartPolicy: 'Always', stopGracePeriod: '5s' } },
  };
}

/** A measured link between two sites. */
export function link(a: string, b: string, rttMs: number, state: 'Up' | 'Stale' | 'Down' = 'Up') {
  const sites = (a < b ? [a, b] : [b, a]) as [string, string];
  return {
    apiVersion: 'gedge.io/v1' as const,
    kind: 'SiteLink' as const,
    metadata: { name: siteLinkName(a, b), labels: {} },
    spec: { sites },
    status: { state, rttMs, jitterMs: 0, samples: 10, directions: 2, measuredAt: '2026-01-01T00:00:00.000Z' },
  };
}

export function stateOf(objects: Parameters<ClusterState['apply']>[0][]): ClusterState {
  const s = new ClusterState();
  for (const o of objects) s.apply(o);
  return s;
}
