import type { Logger } from 'pino';
import type { Store } from '../store/store.ts';
import type { Metrics } from '../metrics.ts';
import { ClusterState, Scheduler, type RebalanceOptions, type SchedulerOptions } from '../../scheduler/index.ts';
import { ControllerRunner } from './controller.ts';
import { ObjectCache, type Reader } from './object-cache.ts';
import { ServiceController } from './service-controller.ts';
import { PlacementController } from './placement-controller.ts';
import { NodeLifecycleController, type LifecycleOptions } from './node-lifecycle-controller.ts';
import { RescheduleController } from './reschedule-controller.ts';
import { DeviceController } from './device-controller.ts';
import { BurstController } from './burst-controller.ts';

export interface ManagerOptions extends Omit<LifecycleOptions, 'now'> {
  /** Full resync of every key, in case a notification was missed. */
  resyncMs: number;
  scheduler?: Partial<SchedulerOptions>;
  /** Rescheduling of running instances: period, minimum gain, moves per pass. */
  rebalance: RebalanceOptions & { periodMs: number };
  /** Delivered or Expired DeviceCommands are deleted this long after they finished. */
  commandRetentionMs: number;
}

/**
 * Runs the controllers: one cache they read, one store subscription whose
 * changes go to each controller's own watches (each declares what wakes it,
 * controller-runtime's For/Owns/Watches), their resyncs and first runs.
 */
export class ControllerManager {
  private readonly lifecycle: ControllerRunner;
  private readonly runners: ControllerRunner[];
  readonly scheduler: Scheduler;
  private unsubscribe: (() => void) | null = null;
  private readonly cache: ObjectCache;

  constructor(
    private readonly store: Store,
    logger: Logger,
    metrics: Metrics,
    private readonly opts: ManagerOptions,
  ) {
    const log = logger.child({ module: 'controllers' });
    this.cache = new ObjectCache(store, ['Node', 'Site', 'Service', 'Instance', 'SiteLink', 'PriorityClass', 'Device', 'DeviceCredential', 'DeviceCommand']);
    this.scheduler = new Scheduler(new ClusterState(), opts.scheduler);
    this.lifecycle = new ControllerRunner(new NodeLifecycleController(store, opts, this.cache), log, metrics);
    this.runners = [
      // Services reconcile four at a time (each its own key): a batch apply's writes then share the store's commits.
      new ControllerRunner(new ServiceController(store, log, this.cache), log, metrics, 4),
      // Placements decide one at a time (each decision is one synchronous step, assumed before its write) and write four at a time.
      new ControllerRunner(new PlacementController(store, this.scheduler, this.cache), log, metrics, 4),
      this.lifecycle,
      new ControllerRunner(new RescheduleController(store, this.scheduler, opts.rebalance, this.cache), log, metrics),
      new ControllerRunner(new DeviceController(store, { commandRetentionMs: opts.commandRetentionMs }, this.cache), log, metrics),
      new ControllerRunner(new BurstController(store, log, this.cache), log, metrics),
    ];
  }

  /** Reads of the kinds the controllers keep in memory; the store itself until the cache has listed them. */
  reader(): Reader {
    return this.cache.started ? this.cache : this.store;
  }

  async start(): Promise<void> {
    // The cache subscribes before the watches below, so it is current when a reconcile runs.
    await this.cache.start();
    // The scheduler's model follows the cache exactly (replayed, then live).
    this.cache.attach((o, deleted) => this.scheduler.state.apply(o, deleted));
    this.unsubscribe = this.store.subscribe((c) => {
      for (const r of this.runners) r.changed(c, this.cache);
    });
    for (const r of this.runners) await r.start(this.cache, this.opts.resyncMs);
  }

  /** The hub calls this when an agent connects or reports, so Ready is set without waiting for a tick. */
  nodeSeen(name: string): void {
    this.lifecycle.enqueue(name);
  }

  stop(): void {
    this.unsubscribe?.();
    this.cache.stop();
    for (const r of this.runners) r.stop();
  }
}
