import { useMemo } from 'preact/hooks';
import type { Metadata, Obj } from '../api.ts';
import type { Live } from '../live.ts';
import { useCollection } from '../live.ts';
import type { SchedulingExplanation } from './work-scheduling.tsx';
import type { Service as StoredService } from '../../../core/resources.ts';
import type { Revision, RolloutStatus, WorkloadTemplate as Template } from '../../../core/workload-schema.ts';

/**
 * Services and Instances as the workload pages read them: their specs are
 * core's types (core/workload-schema.ts, core/placement-schema.ts; imported
 * as types only, so nothing of core is bundled), their statuses narrowed to
 * what the pages show.
 */

export const SERVICE_LABEL = 'gedge.io/service';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  at: string;
}

export type { ProbeSpec as Probe, WorkloadTemplate as Template, RolloutStatus, Revision } from '../../../core/workload-schema.ts';
export type { Placement } from '../../../core/placement-schema.ts';
/** A Service's spec as the store keeps it (defaults filled in). */
export type ServiceSpec = StoredService['spec'];

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

/** What runs, in one line: the image, the command line, or the model version served. */
export function runSummary(t: Template): string {
  const what = t.runtime === 'container' ? [t.image ?? '', ...t.command].join(' ') : t.runtime === 'model' ? `model ${t.model ?? ''}` : t.command.join(' ');
  return what.length > 80 ? `${what.slice(0, 79)}…` : what;
}

/** The site of every node, for showing where an instance landed. */
export function useNodeSites(live: Live): Map<string, string> {
  const { items } = useCollection<Obj<{ site: string }>>(live, 'nodes');
  return useMemo(() => new Map(items.map((n) => [n.metadata.name, n.spec.site])), [items]);
}
