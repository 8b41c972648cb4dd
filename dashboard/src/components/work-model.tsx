import { useMemo } from 'preact/hooks';
import type { Obj } from '../api.ts';
import type { Live } from '../live.ts';
import { useCollection } from '../live.ts';
import type { DEFAULT_PROJECT as CORE_DEFAULT_PROJECT, Instance as StoredInstance, SERVICE_LABEL as CORE_SERVICE_LABEL, Service as StoredService } from '../../../core/resources.ts';
import type { WorkloadTemplate as Template } from '../../../core/workload-schema.ts';

/**
 * Services and Instances as the workload pages read them: core's types
 * (core/resources.ts, core/workload-schema.ts, core/placement-schema.ts;
 * imported as types only, so nothing of core is bundled).
 */

/** core's SERVICE_LABEL; its type holds it to core's value (see DEFAULT_PROJECT below). */
export const SERVICE_LABEL: typeof CORE_SERVICE_LABEL = 'gedge.io/service';

export type { Condition, ServiceStatus, InstanceStatus } from '../../../core/resources.ts';
export type { ProbeSpec as Probe, WorkloadTemplate as Template, RolloutStatus, Revision } from '../../../core/workload-schema.ts';
export type { Placement } from '../../../core/placement-schema.ts';
/** A Service's spec as the store keeps it (defaults filled in). */
export type ServiceSpec = StoredService['spec'];
export type InstanceSpec = StoredInstance['spec'];

export type Service = StoredService;
export type Instance = StoredInstance;

/** core's DEFAULT_PROJECT, kept here because importing core/resources.ts at run time would bundle zod and every schema; its type holds it to core's value. */
export const DEFAULT_PROJECT: typeof CORE_DEFAULT_PROJECT = 'default';
/** core's projectOf (core/resources.ts), for the same reason. */
export const projectOf = (o: { metadata: { project?: string } }): string => o.metadata.project ?? DEFAULT_PROJECT;

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
