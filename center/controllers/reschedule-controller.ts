import { ConflictError, NotFoundError, nowIso, RETIRING_LABEL, type Instance, projectOf, projectKey, splitNameKey } from '../../core/index.ts';
import { planMoves, type RebalanceOptions, type Scheduler, type Stranded } from '../../scheduler/index.ts';
import type { Store } from '../store/store.ts';
import { watch, type Reconciler } from './controller.ts';
import type { Reader } from './object-cache.ts';
import { recordEvent } from '../events.ts';

export const REBALANCE_KEY = 'all';

/**
 * Moves running instances when their SLA no longer holds (latency rose) while
 * a compliant node exists, and periodically when another node is much better.
 * It only marks instances retiring; the service controller then adds a
 * replacement and deletes the retiring one once the replacement is ready
 * (make-before-break), so a service never drops below its floor. An
 * instance that violates its SLA with no compliant node anywhere stays put
 * and gets one Warning event (SLAViolated) when that starts and a Normal one
 * (SLARestored) when its SLA holds again. Runs on every link change
 * (debounced by the work queue) and every `periodMs`.
 */
export class RescheduleController implements Reconciler {
  readonly name = 'reschedule';
  readonly watches = [
    // Devices are clients too: where they are moves placements.
    watch('Device', (e) => (e.statusOnly ? [] : [REBALANCE_KEY])),
    // Round trips, priorities or sites changed: a running instance may no longer meet its SLA.
    ...(['SiteLink', 'PriorityClass', 'Site'] as const).map((kind) => watch(kind, () => [REBALANCE_KEY])),
  ];
  readonly firstRun: { key: string; afterMs: number };
  /** Instances reported stranded (SLA violated, nowhere compliant), by key. */
  private readonly stranded = new Set<string>();
  constructor(
    private readonly store: Store,
    private readonly scheduler: Scheduler,
    private readonly opts: RebalanceOptions & { periodMs: number },
    private readonly reader: Reader = store,
  ) {
    this.firstRun = { key: REBALANCE_KEY, afterMs: opts.periodMs };
  }

  async reconcile(): Promise<{ requeueAfterMs: number }> {
    const running = (await this.reader.list('Instance')).items.filter((i) => i.spec.node && i.status?.phase === 'Running');
    const { moves, stranded } = planMoves(this.scheduler, running, this.opts);
    await this.reportStranded(running, stranded, new Set(moves.map((m) => m.instance)));
    for (const m of moves) {
      const [project, name] = splitNameKey(m.instance);
      const inst = await this.reader.get('Instance', project, name);
      if (!inst) continue;
      try {
        await this.store.update({ ...inst, metadata: { ...inst.metadata, labels: { ...inst.metadata.labels, [RETIRING_LABEL]: m.reason } } }, { expectRevision: inst.metadata.revision });
      } catch (e) {
        // Changed or gone since the plan: the next pass looks again.
        if (e instanceof ConflictError || e instanceof NotFoundError) continue;
        throw e;
      }
      const reason = m.reason === 'sla' ? 'SLAViolated' : 'Rebalancing';
      await this.record(inst, reason, `moving off ${m.from} (replacement expected on ${m.to}): ${m.detail}`, m.reason === 'sla' ? 'Warning' : 'Normal');
    }
    return { requeueAfterMs: this.opts.periodMs };
  }

  private async reportStranded(running: Instance[], stranded: Stranded[], moving: Set<string>): Promise<void> {
    const byKey = new Map(running.map((i) => [projectKey(i), i]));
    const now = new Set<string>();
    for (const s of stranded) {
      now.add(s.instance);
      if (this.stranded.has(s.instance)) continue;
      this.stranded.add(s.instance);
      await this.record(byKey.get(s.instance)!, 'SLAViolated', `staying on ${s.node}: ${s.detail}`, 'Warning');
    }
    for (const key of this.stranded) {
      if (now.has(key)) continue;
      const inst = byKey.get(key);
      // Gone, stopped, or being moved: those tell their own story.
      if (!inst || moving.has(key) || RETIRING_LABEL in inst.metadata.labels) {
        this.stranded.delete(key);
        continue;
      }
      // Not stranded may also mean not looked at this pass (a move of the service in flight).
      const { current } = this.scheduler.evaluate(inst);
      if (current && current.rejection) continue;
      this.stranded.delete(key);
      await this.record(inst, 'SLARestored', `the SLA holds again on ${inst.spec.node}`, 'Normal');
    }
  }

  private async record(inst: Instance, reason: string, message: string, type: 'Normal' | 'Warning'): Promise<void> {
    const project = projectOf(inst);
    const involved = [{ kind: 'Instance', name: inst.metadata.name, project }, ...(inst.spec.service ? [{ kind: 'Service', name: inst.spec.service, project }] : [])];
    for (const i of involved) await recordEvent(this.store, { involved: i, reason, message, type, at: nowIso(), source: 'scheduler' });
  }
}
