import type { Logger } from 'pino';
import type { DeviceCommand, DeviceCredential, Instance } from '../../core/index.ts';
import type { Store } from '../store/store.ts';
import type { Metrics } from '../metrics.ts';
import { SERVICE_LABEL } from '../../core/index.ts';
import { ClusterState, Scheduler, type RebalanceOptions, type SchedulerOptions } from '../../scheduler/index.ts';
import { ControllerRunner } from './controller.ts';
import { ObjectCache, type Reader } from './object-cache.ts';
import { ServiceController } from './service-controller.ts';
import { PlacementController } from './placement-controller.ts';
import { NodeLifecycleController, type LifecycleOptions } from './node-lifecycle-controller.ts';
import { REBALANCE_KEY, RescheduleController } from './reschedule-controller.ts';
import { DeviceController } from './device-controller.ts';

export interface ManagerOptions extends Omit<LifecycleOptions, 'now'> {
  /** How often node liveness is checked. */
  tickMs: number;
  /** Full resync of every key, in case a notification was missed. */
  resyncMs: number;
  scheduler?: Partial<SchedulerOptions>;
  /** Rescheduling of running instances: period, minimum gain, moves per pass. */
  rebalance: RebalanceOptions & { periodMs: number };
  /** Delivered or Expired DeviceCommands are deleted this long after they finished. */
  commandRetentionMs: number;
}

/** Wires store changes to the controllers' work queues. */
export class ControllerManager {
  private readonly service: ControllerRunner;
  private readonly placement: ControllerRunner;
  private readonly lifecycle: ControllerRunner;
  private readonly reschedule: ControllerRunner;
  private readonly devices: ControllerRunner;
  readonly scheduler: Scheduler;
  private readonly timers: NodeJS.Timeout[] = [];
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
    // Services reconcile four at a time (each its own key): a batch apply's writes then share the store's commits.
    this.service = new ControllerRunner(new ServiceController(store, log, this.cache), log, metrics, 4);
    // Placements decide one at a time (each decision is one synchronous step, assumed before its write) and write four at a time.
    this.placement = new ControllerRunner(new PlacementController(store, this.scheduler, this.cache), log, metrics, 4);
    this.lifecycle = new ControllerRunner(new NodeLifecycleController(store, opts, this.cache), log, metrics);
    this.reschedule = new ControllerRunner(new RescheduleController(store, this.scheduler, opts.rebalance, this.cache), log, metrics);
    this.devices = new ControllerRunner(new DeviceController(store, { commandRetentionMs: opts.commandRetentionMs }, this.cache), log, metrics);
  }

  /** Reads of the kinds the controllers keep in memory; the store itself until the cache has listed them. */
  reader(): Reader {
    return this.cache.started ? this.cache : this.store;
  }

  async start(): Promise<void> {
    // The cache subscribes before the triggers below, so it is current when a reconcile runs.
    await this.cache.start();
    // The scheduler's model follows the cache exactly (replayed, then live).
    this.cache.attach((o, deleted) => this.scheduler.state.apply(o, deleted));
    this.unsubscribe = this.store.subscribe((c) => {
      const o = c.object;
      if (o.kind === 'Service') this.service.enqueue(`${o.metadata.project}/${o.metadata.name}`);
      else if (o.kind === 'Instance') {
        const owner = o.metadata.labels?.[SERVICE_LABEL];
        if (owner) this.service.enqueue(`${o.metadata.project}/${owner}`);
        if (c.type !== 'DELETED' && !(o as Instance).spec.node) this.placement.enqueue(`${o.metadata.project}/${o.metadata.name}`);
        // A freed slot may fit an instance that was waiting.
        if (c.type === 'DELETED' && (o as Instance).spec.node) void this.enqueueUnbound();
      } else if (o.kind === 'Node') {
        if (!c.statusOnly) this.lifecycle.enqueue(o.metadata.name);
        // A node that became Ready, or got room, may fit an instance that was waiting.
        void this.enqueueUnbound();
      } else if (o.kind === 'Device' || o.kind === 'DeviceCredential' || o.kind === 'DeviceCommand') {
        // A command's status change may finish it: its retention starts then.
        if (!c.statusOnly || o.kind !== 'DeviceCredential') this.devices.enqueue(`${o.metadata.project}/${o.kind === 'Device' ? o.metadata.name : o.spec.device}`);
        // Devices are clients too (placement.clients.devices): where they are moves placements.
        if (o.kind === 'Device' && !c.statusOnly) {
          void this.enqueueUnbound();
          this.reschedule.enqueue(REBALANCE_KEY);
        }
      } else if (o.kind === 'SiteLink' || o.kind === 'PriorityClass' || o.kind === 'Site') {
        // Round trips changed: a waiting instance may now meet its SLA, a running one may not.
        void this.enqueueUnbound();
        this.reschedule.enqueue(REBALANCE_KEY);
      }
    });
    this.timers.push(setInterval(() => void this.enqueueNodes(), this.opts.tickMs));
    this.timers.push(setInterval(() => void this.resync(), this.opts.resyncMs));
    await this.resync();
    this.reschedule.enqueueAfter(REBALANCE_KEY, this.opts.rebalance.periodMs);
  }

  /** The hub calls this when an agent connects or reports, so Ready is set without waiting for a tick. */
  nodeSeen(name: string): void {
    this.lifecycle.enqueue(name);
  }

  stop(): void {
    this.unsubscribe?.();
    this.cache.stop();
    for (const t of this.timers) clearInterval(t);
    for (const r of [this.service, this.placement, this.lifecycle, this.reschedule, this.devices]) r.stop();
  }

  private async resync(): Promise<void> {
    for (const s of (await this.cache.list('Service')).items) this.service.enqueue(`${s.metadata.project}/${s.metadata.name}`);
    for (const d of (await this.cache.list('Device')).items) this.devices.enqueue(`${d.metadata.project}/${d.metadata.name}`);
    // Credentials and commands whose device went while the center was down are cleaned up too.
    for (const kind of ['DeviceCredential', 'DeviceCommand'] as const) {
      for (const o of (await this.cache.list(kind)).items as (DeviceCredential | DeviceCommand)[]) this.devices.enqueue(`${o.metadata.project}/${o.spec.device}`);
    }
    await this.enqueueUnbound();
    await this.enqueueNodes();
  }

  private async enqueueNodes(): Promise<void> {
    for (const n of (await this.cache.list('Node')).items) this.lifecycle.enqueue(n.metadata.name);
  }

  private async enqueueUnbound(): Promise<void> {
    for (const i of (await this.cache.list('Instance')).items) {
      if (!i.spec.node) this.placement.enqueue(`${i.metadata.project}/${i.metadata.name}`);
    }
  }
}
