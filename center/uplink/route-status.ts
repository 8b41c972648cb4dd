import type { Logger } from 'pino';
import { nameKey, nowIso, type Route } from '../../core/index.ts';
import type { Store } from '../store/store.ts';

interface Outcome {
  project: string;
  route: string;
  uid: string;
  lastDeliveredAt?: string;
  error?: string;
}

/**
 * Route status (delivered, lastDeliveredAt, error) with a status-only write
 * per route at most every `everyMs`, however many batches arrive. The count
 * comes from the progress table, so it is exact even after a center crash.
 */
export class RouteStatusWriter {
  private readonly pending = new Map<string, Outcome>();
  private flushing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    everyMs: number,
  ) {
    this.timer = setInterval(() => void this.flush(), everyMs).unref();
  }

  delivered(route: Route, landed: number): void {
    const o = this.outcome(route);
    if (landed) o.lastDeliveredAt = nowIso();
    delete o.error;
  }

  failed(route: Route, error: string): void {
    this.outcome(route).error = error;
  }

  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private outcome(route: Route): Outcome {
    const project = route.metadata.project!;
    const key = nameKey(project, route.metadata.name);
    let o = this.pending.get(key);
    if (!o || o.uid !== route.metadata.uid) {
      o = { project, route: route.metadata.name, uid: route.metadata.uid ?? '' };
      this.pending.set(key, o);
    }
    return o;
  }

  private async write(): Promise<void> {
    const outcomes = [...this.pending.values()];
    this.pending.clear();
    for (const o of outcomes) {
      try {
        const current = await this.store.get('Route', o.project, o.route);
        if (!current || current.metadata.uid !== o.uid) continue;
        const { error: _previous, ...status } = current.status ?? { delivered: 0 };
        const delivered = await this.store.uplink.delivered(o.project, o.route, o.uid);
        await this.store.updateStatus('Route', o.project, o.route, {
          ...status,
          delivered,
          ...(o.lastDeliveredAt ? { lastDeliveredAt: o.lastDeliveredAt } : {}),
          ...(o.error ? { error: o.error } : {}),
        });
      } catch (err) {
        this.log.warn({ err, project: o.project, route: o.route }, 'route status write failed');
      }
    }
  }
}
