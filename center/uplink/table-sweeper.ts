import type { Logger } from 'pino';
import { DEFAULT_TABLE_MAX_AGE, type TableRetention, durationMs, nameKey } from '../../core/index.ts';
import type { Store } from '../store/store.ts';

/** Rows per DELETE: a few milliseconds of SQLite work, so API requests and agents are never held up for long. */
const DELETE_CHUNK = 1000;
/** Index entries skipped per step when counting a route's newest rows down to its maxMessages. */
const COUNT_STEP = 10_000;

export interface SweeperOptions {
  /** How often every route is swept. */
  everyMs: number;
  /** The clock (tests move it forward). */
  now?: () => number;
  /** Rows per DELETE and index entries per counting step (tests make them small). */
  deleteChunk?: number;
  countStep?: number;
}

/** What one sweep deleted, per `project/route` (routes where nothing went are left out). */
export type SweepReport = Map<string, number>;

/**
 * Enforces table-sink retention (core/device-schema.ts tableRetentionSchema):
 * every `everyMs` it deletes, per route, rows that landed before the Route's
 * maxAge and rows beyond its maxMessages, oldest first, in chunks with a
 * turn of the event loop between them. Rows of a route that is gone, or no
 * longer a table sink, get the default age. Only rows go; the uplink progress
 * (exactly-once) stays.
 */
export class TableSweeper {
  private readonly timer: NodeJS.Timeout;
  private running: Promise<SweepReport> | undefined;
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly o: SweeperOptions,
  ) {
    this.timer = setInterval(() => void this.sweep(), o.everyMs).unref();
  }

  /** One pass over every route; a pass already under way is joined, not doubled. */
  sweep(): Promise<SweepReport> {
    this.running ??= this.pass()
      .catch((err: unknown) => {
        this.log.error({ err }, 'table sink retention sweep failed');
        return new Map() as SweepReport;
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }

  /** Stops the timer and waits for a pass under way (it stops at its next chunk). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.running;
  }

  private async pass(): Promise<SweepReport> {
    const report: SweepReport = new Map();
    for (const { project, route } of await this.store.uplink.uplinkRoutes()) {
      if (this.closed) break;
      const deleted = await this.sweepRoute(project, route, await this.retentionOf(project, route));
      if (deleted) {
        report.set(nameKey(project, route), deleted);
        this.log.info({ project, route, deleted }, 'table sink rows past retention deleted');
      }
    }
    return report;
  }

  private async retentionOf(project: string, route: string): Promise<TableRetention> {
    const r = await this.store.get('Route', project, route);
    return (r?.spec.sink.type === 'table' && r.spec.sink.retention) || { maxAge: DEFAULT_TABLE_MAX_AGE };
  }

  private async sweepRoute(project: string, route: string, retention: TableRetention): Promise<number> {
    const now = (this.o.now ?? Date.now)();
    const receivedBefore = new Date(now - durationMs(retention.maxAge)).toISOString();
    // Ids grow with landing time, so the expired rows are the oldest: stop at the first chunk with none.
    const limit = this.o.deleteChunk ?? DELETE_CHUNK;
    let deleted = await this.chunks(() => this.store.uplink.prune(project, route, { limit, receivedBefore }));
    if (retention.maxMessages !== undefined && !this.closed) {
      const keepFrom = await this.nthNewest(project, route, retention.maxMessages);
      if (keepFrom !== undefined) deleted += await this.chunks(() => this.store.uplink.prune(project, route, { limit, belowId: keepFrom }));
    }
    return deleted;
  }

  /** Runs `step` until it deletes nothing (or the sweeper closes), yielding to I/O between steps. */
  private async chunks(step: () => Promise<number>): Promise<number> {
    let total = 0;
    for (let n = -1; n !== 0 && !this.closed; ) {
      n = await step();
      total += n;
      await new Promise((r) => setImmediate(r));
    }
    return total;
  }

  /** The id of the route's n-th newest row, counted down in bounded index walks; undefined when it has fewer. */
  private async nthNewest(project: string, route: string, n: number): Promise<number | undefined> {
    let below: number | undefined;
    for (let left = n; left > 0; ) {
      if (this.closed) return undefined;
      const step = Math.min(left, this.o.countStep ?? COUNT_STEP);
      below = await this.store.uplink.nthNewestId(project, route, step, below);
      if (below === undefined) return undefined;
      left -= step;
      await new Promise((r) => setImmediate(r));
    }
    return below;
  }
}
