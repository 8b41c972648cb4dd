import { ConflictError, NotFoundError, nowIso, RETIRING_LABEL, type Instance } from '../../core/index.ts';
import { planMoves, type RebalanceOptions, type Scheduler } from '../../scheduler/index.ts';
import type { Store } from '../store/store.ts';
import type { Reconciler } from './controller.ts';
import type { Reader } from './object-cache.ts';
import { recordEvent } from '../events.ts';

export const REBALANCE_KEY = 'all';

/**
 * Moves running instances when their SLA no longer holds (latency rose) while
 * a compliant node exists, and periodically when another node is much better.
 * It only marks instances retiring; the service controller then adds a
 * replacement and deletes the retiring one once the replacement is ready
 * (make-before-break), so a service never drops below its floor. Runs on
 * every link change (debounced by the work queue) and every `periodMs`.
 */
export class RescheduleController implements Reconciler {
  readonly name = 'reschedule';
  constructor(
    private readonly store: Store,
    private readonly scheduler: Scheduler,
    private readonly opts: RebalanceOptions & { periodMs: number },
    private readonly reader: Reader = store,
  ) {}

  async reconcile(): Promise<{ requeueAfterMs: number }> {
    const running = ((await this.reader.list('Instance')).items as Instance[]).filter((i) => i.spec.node && i.status?.phase === 'Running');
    const moves = planMoves(this.scheduler, running, this.opts);
    for (const m of moves) {
      const [project, name] = m.instance.split('/') as [string, string];
      const inst = (await this.reader.get('Instance', project, name)) as Instance | undefined;
      if (!inst) continue;
      try {
        await this.store.update({ ...inst, metadata: { ...inst.metadata, labels: { ...inst.metadata.labels, [RETIRING_LABEL]: m.reason } } }, { expectRevision: inst.metadata.revision });
      } catch (e) {
        // Changed or gone since the plan: the next pass looks again.
        if (e instanceof ConflictError || e instanceof NotFoundError) continue;
        throw e;
      }
      const reason = m.reason === 'sla' ? 'SLAViolated' : 'Rebalancing';
      const message = `moving off ${m.from} (replacement expected on ${m.to}): ${m.detail}`;
      for (const involved of [{ kind: 'Instance', name, project }, ...(inst.spec.service ? [{ kind: 'Service', name: inst.spec.service, project }] : [])]) {
        await recordEvent(this.store, { involved, reason, message, type: m.reason === 'sla' ? 'Warning' : 'Normal', at: nowIso(), source: 'scheduler' });
      }
    }
    return { requeueAfterMs: this.opts.periodMs };
  }
}
