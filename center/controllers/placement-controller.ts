import type { Instance, InstanceStatus, SchedulingExplanation } from '../../core/index.ts';
import { NotFoundError, nowIso, projectKey, splitNameKey } from '../../core/index.ts';
import type { Decision, Scheduler } from '../../scheduler/index.ts';
import type { Store } from '../store/store.ts';
import { watch, type Reconciler } from './controller.ts';
import type { Reader } from './object-cache.ts';
import { recordEvent } from '../events.ts';

const RETRY_UNSCHEDULABLE_MS = 5000;
const RETRY_AFTER_PREEMPTION_MS = 200;

/** The instances waiting for a node. */
async function waiting(reader: Reader): Promise<string[]> {
  return (await reader.list('Instance')).items.filter((i) => !i.spec.node).map(projectKey);
}

const pendingStatus = (): InstanceStatus => ({ phase: 'Pending', ready: false, restarts: 0, ports: {}, conditions: [] });

/**
 * Binds unbound instances where the scheduler says, with the explanation in
 * the instance's status and an event. Binding is set once. When nothing fits
 * but preemption would, the victims are deleted (their services recreate them
 * elsewhere) and the room is held for this instance until it binds.
 */
export class PlacementController implements Reconciler {
  readonly name = 'placement';
  readonly watches = [
    // An instance to place; one that went frees room a waiting one may fit.
    watch('Instance', (e, reader) => (e.deleted ? (e.object.spec.node ? waiting(reader) : []) : e.object.spec.node ? [] : [projectKey(e.object)])),
    // A node that became Ready, or got room, may fit an instance that was waiting.
    watch('Node', (_e, reader) => waiting(reader)),
    // Devices are clients too (placement.clients.devices): where they are moves placements.
    watch('Device', (e, reader) => (e.statusOnly ? [] : waiting(reader))),
    // Round trips, priorities or sites changed: a waiting instance may now meet its SLA.
    ...(['SiteLink', 'PriorityClass', 'Site'] as const).map((kind) => watch(kind, (_e, reader) => waiting(reader))),
  ];
  readonly resync = waiting;

  constructor(
    private readonly store: Store,
    private readonly scheduler: Scheduler,
    private readonly reader: Reader = store,
  ) {}

  async reconcile(key: string): Promise<{ requeueAfterMs?: number } | void> {
    const [project, name] = splitNameKey(key);
    const inst = await this.reader.get('Instance', project, name);
    if (!inst || inst.spec.node) return;
    const d = this.scheduler.place(inst);
    if (d.node) return this.bind(inst, d.node, d.explanation);
    if (d.preemption) return this.preempt(inst, d);
    const message = `unschedulable: ${d.explanation.summary}`;
    if (inst.status?.message !== message) {
      await this.store.updateStatus('Instance', project, name, { ...(inst.status ?? pendingStatus()), message, scheduling: d.explanation }, { expectRevision: inst.metadata.revision });
      await this.event(inst, 'FailedScheduling', message, 'Warning');
    }
    return { requeueAfterMs: RETRY_UNSCHEDULABLE_MS };
  }

  /**
   * Decides and binds: the decision is accounted at once, before the write
   * (the Kubernetes scheduler's assume), so placements running meanwhile
   * (the runner reconciles several instances at a time, each decision in
   * one synchronous step) see the room taken. A write that loses puts the
   * stored instance in the scheduler's state instead.
   */
  private async bind(inst: Instance, node: string, explanation: SchedulingExplanation): Promise<void> {
    const { message: _, ...status } = inst.status ?? pendingStatus();
    const bound = { ...inst, spec: { ...inst.spec, node }, status: { ...status, scheduling: explanation } };
    this.scheduler.state.assume(inst, node);
    try {
      await this.store.update(bound, { expectRevision: inst.metadata.revision, withStatus: true });
    } catch (err) {
      const stored = await this.store.get('Instance', inst.metadata.project, inst.metadata.name);
      this.scheduler.state.apply(stored ?? inst, !stored);
      throw err;
    }
    const top = explanation.candidates[0];
    const why = top?.scores ? `score ${top.total}${top.latencyMs !== null && top.latencyMs !== undefined ? `, client latency ${top.latencyMs}ms` : ''}` : '';
    await this.event(inst, 'Scheduled', `bound to ${node} by policy ${explanation.policy}: ${explanation.summary}${why ? `; ${why}` : ''}`, 'Normal');
  }

  private async preempt(inst: Instance, d: Decision): Promise<{ requeueAfterMs: number }> {
    const { node, victims } = d.preemption!;
    const prio = this.scheduler.state.priority(inst.spec.placement.priorityClass)?.value ?? 0;
    this.scheduler.state.nominate(node, projectKey(inst), prio, inst.spec.template.resources);
    for (const v of victims) {
      try {
        await this.store.delete('Instance', v.project, v.name);
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
      }
      await recordEvent(this.store, {
        involved: { kind: 'Instance', name: v.name, project: v.project },
        reason: 'Preempted',
        message: `evicted from ${node} to make room for ${inst.metadata.name} (priority ${prio}); its service places a replacement`,
        type: 'Warning',
        at: nowIso(),
        source: 'scheduler',
      });
    }
    const message = `preempting ${victims.length} lower-priority instance(s) on ${node}: ${victims.map((v) => v.name).join(', ')}`;
    await this.store.updateStatus('Instance', inst.metadata.project, inst.metadata.name, { ...(inst.status ?? pendingStatus()), message, scheduling: d.explanation });
    await this.event(inst, 'Preempting', message, 'Normal');
    return { requeueAfterMs: RETRY_AFTER_PREEMPTION_MS };
  }

  private event(inst: Instance, reason: string, message: string, type: 'Normal' | 'Warning'): Promise<void> {
    return recordEvent(this.store, { involved: { kind: 'Instance', name: inst.metadata.name, project: inst.metadata.project }, reason, message, type, at: nowIso(), source: 'scheduler' });
  }
}
