import { useMemo } from 'preact/hooks';
import type { Metadata, Obj } from '../api.ts';
import type { Live } from '../live.ts';
import { useCollection } from '../live.ts';
import type { SchedulingExplanation } from './work-scheduling.tsx';

/**
 * The parts of Services and Instances the workload pages show, narrowed from
 * core/workload-schema.ts and core/placement-schema.ts (the dashboard is a
 * browser build and does not import core/).
 */

export const SERVICE_LABEL = 'gedge.io/service';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  at: string;
}

export interface Probe {
  tcp?: { port: string | number };
  http?: { port: string | number; path: string };
  exec?: { command: string[] };
  initialDelay: string;
  period: string;
  timeout: string;
  failureThreshold: number;
}

export interface Template {
  runtime: 'process' | 'container';
  image?: string;
  command: string[];
  cwd?: string;
  env: Record<string, string>;
  ports: { name: string; port: number; containerPort?: number }[];
  volumes: { name: string; mountPath?: string; readOnly: boolean }[];
  resources: { cpu: number; memoryMiB: number; diskMiB: number; accelerators: Record<string, number> };
  restartPolicy: string;
  readiness?: Probe;
  liveness?: Probe;
}

interface AffinityTerm {
  selector: Record<string, string>;
  scope: 'node' | 'site';
}

export interface Placement {
  policy?: string;
  tiers?: string[];
  sites?: string[];
  nodes?: string[];
  nodeSelector?: Record<string, string>;
  clients?: { sites?: string[]; location?: { lat: number; lon: number }; devices?: Record<string, string> };
  maxLatency?: string;
  weights?: Record<string, number>;
  affinity?: AffinityTerm[];
  antiAffinity?: AffinityTerm[];
  tolerations?: { key: string; operator: string; value: string; effect?: string }[];
  priorityClass?: string;
}

export interface RolloutStatus {
  revision: number;
  phase: string;
  stableRevision?: number;
  sites: { site: string; updated: number; total: number; done: boolean }[];
  updated: number;
  ready: number;
  message: string;
  startedAt: string;
  finishedAt?: string;
}

export interface Revision {
  revision: number;
  hash: string;
  template: Template;
  placement: Placement;
  createdAt: string;
}

export type ServiceSpec = {
  replicas: number;
  maxUnavailable: number;
  maxSurge: number;
  template: Template;
  placement: Placement;
  rollout: { paused: boolean; progressDeadline: string; maxRestarts: number; autoRollback: boolean };
};

export type ServiceStatus = {
  replicas?: number;
  ready?: number;
  conditions?: Condition[];
  revision?: number;
  revisions?: Revision[];
  rollout?: RolloutStatus;
};

export type InstanceSpec = {
  service?: string;
  node?: string;
  template: Template;
  revision?: number;
};

export type InstanceStatus = {
  phase?: string;
  ready?: boolean;
  restarts?: number;
  pid?: number;
  exitCode?: number | null;
  signal?: string | null;
  startedAt?: string;
  ports?: Record<string, number>;
  message?: string;
  conditions?: Condition[];
  scheduling?: SchedulingExplanation;
};

export type Service = Obj<ServiceSpec, ServiceStatus>;
export type Instance = Obj<InstanceSpec, InstanceStatus>;

export const projectOf = (o: { metadata: Metadata }) => o.metadata.project ?? 'default';

/** What runs, in one line: the image, or the command line. */
export function runSummary(t: Template): string {
  const what = t.runtime === 'container' ? [t.image ?? '', ...t.command].join(' ') : t.command.join(' ');
  return what.length > 80 ? `${what.slice(0, 79)}…` : what;
}

/** The site of every node, for showing where an instance landed. */
export function useNodeSites(live: Live): Map<string, string> {
  const { items } = useCollection<Obj<{ site: string }>>(live, 'nodes');
  return useMemo(() => new Map(items.map((n) => [n.metadata.name, n.spec.site])), [items]);
}
