import http from 'node:http';
import { nearestSite, positionAt, type GeoPoint, type Waypoint } from './route.ts';
import { httpCall } from './http-call.ts';
import type { SiteEndpoints } from './site-endpoints.ts';
import type { HandoverCounts } from './handover-probe.ts';

/** One answer of the assistant to a vehicle, as the vehicle saw it. */
export interface Answer {
  vehicle: string;
  site: string;
  ms: number;
  ok: boolean;
  /** The count the assistant answered; what it should have been (null for the vehicle's first answer). */
  count?: number;
  expected?: number | null;
  node?: string;
  error?: string;
}

/** A vehicle's move from one site's endpoint to the next. */
export interface Handover {
  vehicle: string;
  from: string;
  to: string;
  /** From the vehicle's last answer at the old site to its first at the new one. */
  interruptionMs: number;
  /** The session was copied to the new node ahead of the vehicle (null: its node's counts cannot tell). */
  predicted: boolean | null;
  /** The first answer at the new site counted on from the last at the old one. */
  counterOk: boolean;
  /** The node that answered at the new site. */
  node: string;
  /** When the first answer at the new site came (ms since the epoch). */
  at: number;
}

export interface VehicleContext {
  loop: readonly Waypoint[];
  sites: readonly Waypoint[];
  legMs: number;
  intervalMs: number;
  startedAt: number;
  endpoints: SiteEndpoints;
  /** The node's hand-over counts, to tell a predicted hand-over (undefined: cannot read them). */
  counts: (node: string) => Promise<HandoverCounts | undefined>;
  predicted: (before: HandoverCounts | undefined, after: HandoverCounts | undefined) => boolean | null;
  onAnswer: (a: Answer) => void;
  onHandover: (h: Handover) => void;
}

interface Pending {
  from: string;
  to: string;
  since: number;
  /** The count of the last answer at the old site. */
  lastCount?: number;
  node?: string;
  before?: HandoverCounts;
}

/**
 * A vehicle driving the loop, attached to its nearest site, asking that
 * site's endpoint for guidance every `intervalMs` (one request at a time, on
 * a kept-alive connection: it stays with the instance it was sent to). At a
 * site boundary it asks the old site once more, then the new one at once:
 * the interruption is from the one answer to the other.
 */
export class Vehicle {
  site: string | undefined;
  position: GeoPoint;
  /** The last count answered, and by which node. */
  count: number | undefined;
  node: string | undefined;
  private pending: Pending | undefined;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  private stopped = false;
  private wake: (() => void) | undefined;

  constructor(
    readonly name: string,
    private readonly offset: number,
    private readonly c: VehicleContext,
  ) {
    this.position = positionAt(c.loop, c.legMs, offset, 0);
  }

  async drive(): Promise<void> {
    while (!this.stopped) {
      const tick = Date.now();
      this.position = positionAt(this.c.loop, this.c.legMs, this.offset, tick - this.c.startedAt);
      const want = nearestSite(this.position, this.c.sites);
      if (this.site !== undefined && want !== this.site && !this.pending) {
        const node = await this.c.endpoints.at(want).then((e) => e.node, () => undefined);
        const before = node ? await this.c.counts(node) : undefined;
        await this.ask(this.site);
        this.pending = { from: this.site, to: want, since: Date.now(), lastCount: this.count, node, before };
      } else if (this.pending && want !== this.pending.to) {
        this.pending.to = want;
      }
      this.site = want;
      await this.ask(want);
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, Math.max(0, tick + this.c.intervalMs - Date.now()));
      });
    }
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
    this.agent.destroy();
  }

  private async ask(site: string): Promise<void> {
    const t = performance.now();
    let answer: Answer;
    try {
      const at = await this.c.endpoints.at(site);
      // seq: the count expected, so a request that failed here but was counted there is not counted twice when asked again.
      const body = JSON.stringify({ vehicle: this.name, ...(this.count === undefined ? {} : { seq: this.count + 1 }), at: this.position, route: this.c.loop });
      const r = await httpCall(at, '/guide', { method: 'POST', body, agent: this.agent, timeoutMs: 15_000 });
      if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.body.slice(0, 200)}`);
      const a = JSON.parse(r.body) as { count: number; node: string };
      const expected = this.count === undefined ? null : this.count + 1;
      answer = { vehicle: this.name, site, ms: performance.now() - t, ok: true, count: a.count, expected, node: a.node };
      this.count = a.count;
      this.node = a.node;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ECONNREFUSED') this.c.endpoints.forget(site);
      answer = { vehicle: this.name, site, ms: performance.now() - t, ok: false, error: (e as Error).message };
    }
    // A request cut short by stop() is the simulator's doing, not the platform's.
    if (this.stopped) return;
    this.c.onAnswer(answer);
    const p = this.pending;
    if (answer.ok && p && site === p.to) {
      this.pending = undefined;
      const at = Date.now();
      const h = { vehicle: this.name, from: p.from, to: p.to, interruptionMs: at - p.since, counterOk: p.lastCount === undefined || answer.count === p.lastCount + 1, node: answer.node!, at };
      // The hand-over is counted by its node once it answered: read after, without holding the vehicle up.
      void (p.node && p.before ? this.c.counts(p.node) : Promise.resolve(undefined)).then((after) => this.c.onHandover({ ...h, predicted: this.c.predicted(p.before, after) }));
    }
  }
}
