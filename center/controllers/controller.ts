import type { Logger } from 'pino';
import type { KindName, KindOf } from '../../core/index.ts';
import type { Metrics } from '../metrics.ts';
import type { Change } from '../store/store.ts';
import type { Reader } from './object-cache.ts';

/** A store change as a watch sees it: the object (as last stored, when deleted). */
export interface WatchEvent<K extends KindName = KindName> {
  object: KindOf<K>;
  deleted: boolean;
  statusOnly: boolean;
}

/**
 * What wakes a reconciler (controller-runtime's For, Owns and Watches):
 * changes to objects of `kind`, mapped to the keys to reconcile. `keys` may
 * read the controllers' cache (room freed on a node: every waiting instance).
 */
export interface Watch {
  readonly kind: KindName;
  keys(e: WatchEvent, reader: Reader): Iterable<string> | Promise<Iterable<string>>;
}

/** A watch of one kind, its event typed as that kind. */
export function watch<K extends KindName>(kind: K, keys: (e: WatchEvent<K>, reader: Reader) => Iterable<string> | Promise<Iterable<string>>): Watch {
  // Of `kind`, checked: so the event is that kind's (TypeScript cannot narrow a generic by its tag).
  return { kind, keys: (e, reader) => (e.object.kind === kind ? keys(e as unknown as WatchEvent<K>, reader) : []) };
}

/**
 * Level-based reconcilers (controller-runtime's contract): `reconcile(key)`
 * reads desired and observed state and takes one step toward the desired
 * one. It is idempotent; it may ask to be called again after a delay; a
 * thrown error retries with backoff (100 ms doubling, at most 30 s). It
 * declares what wakes it; the manager only wires the store to the watches.
 */
export interface Reconciler {
  readonly name: string;
  readonly watches: readonly Watch[];
  /** Every key to look at again, at start and every `resyncMs` (default: the manager's): a missed notification is caught up. */
  resync?(reader: Reader): Promise<Iterable<string>>;
  readonly resyncMs?: number;
  /** A key to reconcile this long after start (a periodic pass that requeues itself). */
  readonly firstRun?: { key: string; afterMs: number };
  reconcile(key: string): Promise<{ requeueAfterMs?: number } | void>;
}

/**
 * A deduplicating work queue (controller-runtime's): at most `concurrency`
 * reconciles at once, never two of one key; a key enqueued while it is being
 * reconciled runs again after.
 */
export class ControllerRunner {
  private readonly queue = new Set<string>();
  private readonly active = new Set<string>();
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; at: number }>();
  private readonly failures = new Map<string, number>();
  private resyncTimer: NodeJS.Timeout | undefined;
  private workers = 0;
  private stopped = false;

  constructor(
    private readonly reconciler: Reconciler,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly concurrency = 1,
  ) {}

  /** A store change: the keys its watches map it to are queued. */
  changed(c: Change, reader: Reader): void {
    const e: WatchEvent = { object: c.object, deleted: c.type === 'DELETED', statusOnly: c.statusOnly };
    for (const w of this.reconciler.watches) {
      if (w.kind === c.object.kind) void this.enqueueAll(() => w.keys(e, reader));
    }
  }

  /** Queues the keys `list` gives (now or when it resolves); a failure is logged, the next resync catches up. */
  private async enqueueAll(list: () => Iterable<string> | Promise<Iterable<string>>): Promise<void> {
    try {
      for (const key of await list()) this.enqueue(key);
    } catch (err) {
      this.logger.error({ controller: this.reconciler.name, err }, 'cannot list the keys to reconcile');
    }
  }

  enqueue(key: string): void {
    if (this.stopped) return;
    this.queue.add(key);
    void this.drain();
  }

  /** Runs `key` after `ms`, or sooner if it is already due sooner (the earlier of the two wins). */
  enqueueAfter(key: string, ms: number): void {
    if (this.stopped) return;
    const at = Date.now() + ms;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.enqueue(key);
    }, ms);
    this.timers.set(key, { timer, at });
  }

  /** The first resync (awaited), then one every `resyncMs` (the reconciler's own period first), and its first run. */
  async start(reader: Reader, resyncMs: number): Promise<void> {
    const { resync, firstRun } = this.reconciler;
    if (resync) {
      this.resyncTimer = setInterval(() => void this.enqueueAll(() => resync.call(this.reconciler, reader)), this.reconciler.resyncMs ?? resyncMs);
      await this.enqueueAll(() => resync.call(this.reconciler, reader));
    }
    if (firstRun) this.enqueueAfter(firstRun.key, firstRun.afterMs);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    this.queue.clear();
  }

  private async drain(): Promise<void> {
    if (this.workers >= this.concurrency) return;
    this.workers++;
    try {
      for (let key = this.next(); key !== undefined && !this.stopped; key = this.next()) {
        this.queue.delete(key);
        this.active.add(key);
        try {
          await this.runOne(key);
        } finally {
          this.active.delete(key);
        }
        // Let I/O run between reconciles: SQLite calls are synchronous, and without
        // this a batch would hold every change back from agents until it is done.
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      this.workers--;
    }
  }

  /** The first queued key no worker is reconciling. */
  private next(): string | undefined {
    for (const key of this.queue) if (!this.active.has(key)) return key;
    return undefined;
  }

  private async runOne(key: string): Promise<void> {
    const end = this.metrics.reconcileSeconds.startTimer({ controller: this.reconciler.name });
    try {
      const r = await this.reconciler.reconcile(key);
      this.failures.delete(key);
      this.metrics.reconciles.inc({ controller: this.reconciler.name, result: 'ok' });
      if (r?.requeueAfterMs !== undefined) this.enqueueAfter(key, r.requeueAfterMs);
    } catch (err) {
      this.metrics.reconciles.inc({ controller: this.reconciler.name, result: 'error' });
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      const delay = Math.min(30_000, 100 * 2 ** n);
      this.logger.warn({ controller: this.reconciler.name, key, err: (err as Error).message, retryInMs: delay }, 'reconcile failed; retrying');
      this.enqueueAfter(key, delay);
    } finally {
      end();
    }
  }
}
