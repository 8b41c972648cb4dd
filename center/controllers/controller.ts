import type { Logger } from 'pino';
import type { Metrics } from '../metrics.ts';

/**
 * Level-based reconcilers (controller-runtime's contract): `reconcile(key)`
 * reads desired and observed state and takes one step toward the desired
 * one. It is idempotent; it may ask to be called again after a delay; a
 * thrown error retries with backoff (100 ms doubling, at most 30 s).
 */
export interface Reconciler {
  readonly name: string;
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
  private workers = 0;
  private stopped = false;

  constructor(
    private readonly reconciler: Reconciler,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly concurrency = 1,
  ) {}

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

  stop(): void {
    this.stopped = true;
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
