import { quantile } from '../traffic/stats.ts';
import type { AssistWindow } from './reporter.ts';
import type { SurgeSample } from './surge.ts';
import type { Answer, Handover } from './vehicle.ts';

/** What the vehicle simulation saw so far (stats(), and `-o json` lines). */
export interface VehicleStats {
  elapsedMs: number;
  vehicles: number;
  requests: number;
  errors: number;
  /** The most frequent failures, by message. */
  failures: Record<string, number>;
  /** Answers whose count was not the last one + 1: skipped ahead, or the same or lower again. */
  counter: { checked: number; skipped: number; repeated: number };
  handovers: { total: number; predicted: number; unpredicted: number; unknown: number; counterOk: number; p50: number | null; p99: number | null; max: number | null };
  surge: { started: number; active: boolean; requests: number; errors: number; atEdge: number };
  /** By site: the newest window's response times as the vehicles saw them. */
  sites: Record<string, { requests: number; p50: number | null; p99: number | null }>;
}

const q = (sorted: number[], p: number) => (sorted.length ? Math.round(quantile(sorted, p) * 10) / 10 : null);

/** Counts every answer and hand-over, and cuts each site's response times into windows. */
export class VehicleCounters {
  requests = 0;
  errors = 0;
  private readonly failures = new Map<string, number>();
  readonly counter = { checked: 0, skipped: 0, repeated: 0 };
  readonly handovers: Handover[] = [];
  readonly surge = { requests: 0, errors: 0, atEdge: 0 };
  private readonly window = new Map<string, { ms: number[]; errors: number; surge: SurgeSample[] }>();
  private readonly last = new Map<string, AssistWindow>();

  answer(a: Answer): void {
    this.requests++;
    const w = this.slot(a.site);
    if (!a.ok) {
      this.errors++;
      w.errors++;
      const why = `${a.site}: ${(a.error ?? '').slice(0, 100)}`;
      this.failures.set(why, (this.failures.get(why) ?? 0) + 1);
      return;
    }
    w.ms.push(a.ms);
    if (a.expected === null || a.expected === undefined) return;
    this.counter.checked++;
    if (a.count! > a.expected) this.counter.skipped++;
    else if (a.count! < a.expected) this.counter.repeated++;
  }

  handover(h: Handover): void {
    this.handovers.push(h);
  }

  surgeSample(site: string, s: SurgeSample): void {
    this.surge.requests++;
    if (!s.ok) this.surge.errors++;
    if (s.atEdge) this.surge.atEdge++;
    this.slot(site).surge.push(s);
  }

  /** Closes every site's window: its response times, for the reporters. */
  cut(sites: readonly string[], surgeSite: string | undefined): AssistWindow[] {
    const windowEnd = Date.now();
    return sites.map((site) => {
      const w = this.slot(site);
      this.window.delete(site);
      const ms = w.ms.sort((a, b) => a - b);
      const sm = w.surge.filter((s) => s.ok).map((s) => s.ms).sort((a, b) => a - b);
      const out: AssistWindow = {
        site,
        windowEnd,
        requests: ms.length,
        errors: w.errors,
        p50: q(ms, 0.5),
        p99: q(ms, 0.99),
        surge: site === surgeSite ? { requests: w.surge.length, errors: w.surge.filter((s) => !s.ok).length, atEdge: w.surge.filter((s) => s.atEdge).length, p99: q(sm, 0.99) } : null,
      };
      this.last.set(site, out);
      return out;
    });
  }

  stats(startedAt: number, vehicles: number, surge: { started: number; active: boolean }): VehicleStats {
    const gaps = this.handovers.map((h) => h.interruptionMs).sort((a, b) => a - b);
    return {
      elapsedMs: Date.now() - startedAt,
      vehicles,
      requests: this.requests,
      errors: this.errors,
      failures: Object.fromEntries([...this.failures].sort((a, b) => b[1] - a[1]).slice(0, 5)),
      counter: { ...this.counter },
      handovers: {
        total: this.handovers.length,
        predicted: this.handovers.filter((h) => h.predicted === true).length,
        unpredicted: this.handovers.filter((h) => h.predicted === false).length,
        unknown: this.handovers.filter((h) => h.predicted === null).length,
        counterOk: this.handovers.filter((h) => h.counterOk).length,
        p50: q(gaps, 0.5),
        p99: q(gaps, 0.99),
        max: gaps.at(-1) ?? null,
      },
      surge: { ...surge, ...this.surge },
      sites: Object.fromEntries([...this.last].map(([s, w]) => [s, { requests: w.requests, p50: w.p50, p99: w.p99 }])),
    };
  }

  private slot(site: string) {
    let w = this.window.get(site);
    if (!w) this.window.set(site, (w = { ms: [], errors: 0, surge: [] }));
    return w;
  }
}

/** One line for a terminal. */
export function formatVehicleStats(s: VehicleStats): string {
  const h = s.handovers;
  const sites = Object.entries(s.sites).map(([site, w]) => `${site} p99 ${w.p99 ?? '-'} ms`).join(', ');
  return `${(s.elapsedMs / 1000).toFixed(0)} s: ${s.vehicles} vehicles, ${s.requests} requests (${s.errors} failed), counters ${s.counter.skipped} skipped / ${s.counter.repeated} repeated of ${s.counter.checked} | hand-overs ${h.total} (${h.predicted} predicted, ${h.unpredicted} not), interruption p50 ${h.p50 ?? '-'} / p99 ${h.p99 ?? '-'} ms | surge ${s.surge.active ? 'ON' : 'off'} (${s.surge.started} so far, ${s.surge.requests} lookups, ${s.surge.requests - s.surge.atEdge - s.surge.errors} offloaded) | ${sites}`;
}
