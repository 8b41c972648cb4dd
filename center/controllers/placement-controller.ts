import type { Instance, Node, Resources, Site } from '../../core/index.ts';
import { nowIso } from '../../core/index.ts';
import type { Store } from '../store/store.ts';
import type { Placement, Candidate } from '../placement/placement.ts';
import type { Reconciler } from './controller.ts';
import type { Reader } from './object-cache.ts';
import { recordEvent } from '../events.ts';

const RETRY_UNSCHEDULABLE_MS = 5000;

/** Binds unbound instances to a node chosen by the Placement. Binding is set once. */
export class PlacementController implements Reconciler {
  readonly name = 'placement';
  constructor(
    private readonly store: Store,
    private readonly placement: Placement,
    private readonly reader: Reader = store,
  ) {}

  async reconcile(key: string): Promise<{ requeueAfterMs?: number } | void> {
    const [project, name] = key.split('/') as [string, string];
    const inst = (await this.reader.get('Instance', project, name)) as Instance | undefined;
    if (!inst || inst.spec.node) return;
    const candidates = await this.candidates(inst);
    const decision = this.placement.place(inst, candidates);
    if (!decision.node) {
      const message = `unschedulable: ${decision.reasons.join('; ')}`;
      if (inst.status?.message !== message) {
        await this.store.updateStatus('Instance', project, name, { ...(inst.status ?? { phase: 'Pending', ready: false, restarts: 0, ports: {}, conditions: [] }), message });
        await recordEvent(this.store, { involved: { kind: 'Instance', name, project }, reason: 'FailedScheduling', message, type: 'Warning', at: nowIso(), source: this.placement.name });
      }
      return { requeueAfterMs: RETRY_UNSCHEDULABLE_MS };
    }
    await this.store.update({ ...inst, spec: { ...inst.spec, node: decision.node } }, { expectRevision: inst.metadata.revision });
    await recordEvent(this.store, {
      involved: { kind: 'Instance', name, project },
      reason: 'Scheduled',
      message: `bound to ${decision.node} by ${this.placement.name}: ${decision.reasons.join('; ')}`,
      type: 'Normal',
      at: nowIso(),
      source: this.placement.name,
    });
  }

  private async candidates(inst: Instance): Promise<Candidate[]> {
    const nodes = (await this.reader.list('Node')).items as Node[];
    const sites = new Map(((await this.reader.list('Site')).items as Site[]).map((s) => [s.metadata.name, s]));
    const bound = ((await this.reader.list('Instance')).items as Instance[]).filter((i) => i.spec.node);
    return nodes.map((node) => {
      const mine = bound.filter((i) => i.spec.node === node.metadata.name);
      return {
        node,
        site: sites.get(node.spec.site),
        allocated: mine.reduce(addResources, { cpu: 0, memoryMiB: 0, diskMiB: 0, accelerators: {} }),
        instances: mine.length,
        sameService: mine.filter((i) => i.spec.service && i.spec.service === inst.spec.service && i.metadata.project === inst.metadata.project).length,
      };
    });
  }
}

function addResources(acc: Resources, i: Instance): Resources {
  const r = i.spec.template.resources;
  const accelerators = { ...acc.accelerators };
  for (const [k, n] of Object.entries(r.accelerators)) accelerators[k] = (accelerators[k] ?? 0) + n;
  return { cpu: acc.cpu + r.cpu, memoryMiB: acc.memoryMiB + r.memoryMiB, diskMiB: acc.diskMiB + r.diskMiB, accelerators };
}
