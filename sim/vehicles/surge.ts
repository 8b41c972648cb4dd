import { httpCall } from './http-call.ts';
import type { GeoPoint } from './route.ts';
import type { SiteEndpoints } from './site-endpoints.ts';

export interface SurgeSample {
  ms: number;
  ok: boolean;
  /** Answered by the site's own node (false: offloaded upward). */
  atEdge: boolean;
}

export interface SurgePlan {
  site: string;
  everyMs: number;
  forMs: number;
  rate: number;
}

/**
 * The rush hour at one site: every `everyMs`, for `forMs`, `rate` route
 * lookups a second through the site's endpoint, each on a connection of its
 * own and sent on time whether or not the earlier ones were answered (open
 * loop: a slow edge does not slow the arrivals), as many drivers at once would.
 */
export class Surge {
  active = false;
  /** Surges started so far. */
  started = 0;
  private timer: NodeJS.Timeout | undefined;
  private every: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly plan: SurgePlan,
    private readonly at: GeoPoint,
    private readonly endpoints: SiteEndpoints,
    private readonly onSample: (s: SurgeSample) => void,
    private readonly onChange: (active: boolean) => void,
  ) {}

  start(): void {
    this.every = setInterval(() => this.run(), this.plan.everyMs);
  }

  /** Stops sending (and any surge under way); waits for the requests still out. */
  async stop(): Promise<void> {
    clearInterval(this.every);
    this.end();
    await Promise.all(this.inFlight);
  }

  /** Starts a surge now (none when one is under way). */
  run(): void {
    if (this.active) return;
    this.active = true;
    this.started++;
    this.onChange(true);
    const t0 = performance.now();
    let sent = 0;
    const tick = () => {
      const elapsed = performance.now() - t0;
      if (elapsed >= this.plan.forMs) return this.end();
      for (const due = Math.floor((elapsed / 1000) * this.plan.rate); sent < due; sent++) this.send();
      this.timer = setTimeout(tick, 5);
    };
    tick();
  }

  private end(): void {
    clearTimeout(this.timer);
    if (!this.active) return;
    this.active = false;
    this.onChange(false);
  }

  private send(): void {
    const p = this.lookup().then((s) => this.onSample(s));
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async lookup(): Promise<SurgeSample> {
    const t = performance.now();
    try {
      const e = await this.endpoints.at(this.plan.site);
      const r = await httpCall(e, `/lookup?lat=${this.at.lat}&lon=${this.at.lon}`, { timeoutMs: 30_000 });
      const node = r.status === 200 ? (JSON.parse(r.body) as { node: string }).node : undefined;
      return { ms: performance.now() - t, ok: r.status === 200, atEdge: node !== undefined && node === e.node };
    } catch {
      return { ms: performance.now() - t, ok: false, atEdge: false };
    }
  }
}
