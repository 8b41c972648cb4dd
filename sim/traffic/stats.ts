import { mulberry32, type Rng } from './rng.ts';
import type { Approach, Phase } from './model.ts';
import { VIAS, type Via } from './signal-command.ts';

/** What a run has done so far: printed by the CLI and read by the scenario's benchmark. */

export interface LatencySummary {
  count: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
}

export interface ViaStats {
  /** Commands (and desired twins) received, valid or not. */
  received: number;
  /** Had a green time out of bounds, clamped. */
  clamped: number;
  /** Not a command (not JSON, wrong types): ignored. */
  invalid: number;
  /** Actuation latency: when the light applied it minus the `sensorTs` it carried. */
  latencyMs: LatencySummary;
}

export interface IntersectionStats {
  site: string;
  intersection: string;
  phase: Phase;
  greenNsMs: number;
  greenEwMs: number;
  /** The longest queue of its approaches. */
  queue: number;
  queues: Record<Approach, number>;
}

export interface TrafficStats {
  elapsedMs: number;
  devices: { total: number; connected: number };
  messages: {
    sent: number;
    /** Topic and payload bytes. */
    bytes: number;
    /** Over the last complete seconds (up to 5). */
    perSecond: number;
    /** Sensor messages not sent because the device was not connected. */
    dropped: number;
  };
  commands: Record<Via, ViaStats>;
  intersections: IntersectionStats[];
  /** How many lights show each phase. */
  phases: Record<Phase, number>;
}

/** Keeps up to `cap` samples, a uniform sample of all of them beyond (reservoir sampling). */
export class LatencySamples {
  private readonly samples: number[] = [];
  private seen = 0;
  private maxSeen = -Infinity;
  private readonly rng: Rng;
  constructor(private readonly cap = 100_000, seed = 1) {
    this.rng = mulberry32(seed);
  }

  add(ms: number): void {
    this.seen++;
    if (ms > this.maxSeen) this.maxSeen = ms;
    if (this.samples.length < this.cap) this.samples.push(ms);
    else {
      const j = Math.floor(this.rng() * this.seen);
      if (j < this.cap) this.samples[j] = ms;
    }
  }

  summary(): LatencySummary {
    if (!this.seen) return { count: 0, p50: null, p99: null, max: null };
    const sorted = [...this.samples].sort((a, b) => a - b);
    return { count: this.seen, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: this.maxSeen };
  }
}

/** Nearest-rank quantile of sorted values. */
export function quantile(sorted: number[], q: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

const RATE_WINDOW_S = 5;

export class TrafficCounters {
  sent = 0;
  bytes = 0;
  dropped = 0;
  private readonly perVia = new Map<Via, { received: number; clamped: number; invalid: number; latency: LatencySamples }>(VIAS.map((v, i) => [v, { received: 0, clamped: 0, invalid: 0, latency: new LatencySamples(100_000, i + 1) }]));
  /** Messages per whole second, keyed by the second: a ring of the last few. */
  private readonly buckets: { sec: number; n: number }[] = Array.from({ length: RATE_WINDOW_S + 2 }, () => ({ sec: -1, n: 0 }));

  recordSent(bytes: number, nowMs: number): void {
    this.sent++;
    this.bytes += bytes;
    const sec = Math.floor(nowMs / 1000);
    const b = this.buckets[sec % this.buckets.length]!;
    if (b.sec !== sec) {
      b.sec = sec;
      b.n = 0;
    }
    b.n++;
  }

  recordCommand(via: Via, o: { latencyMs?: number; clamped?: boolean; invalid?: boolean }): void {
    const c = this.perVia.get(via)!;
    c.received++;
    if (o.clamped) c.clamped++;
    if (o.invalid) c.invalid++;
    if (o.latencyMs !== undefined) c.latency.add(Math.max(0, o.latencyMs));
  }

  /** Mean rate over the last complete seconds, at most RATE_WINDOW_S of them, and none before `startMs`. */
  perSecond(nowMs: number, startMs: number): number {
    const now = Math.floor(nowMs / 1000);
    const first = Math.max(now - RATE_WINDOW_S, Math.ceil(startMs / 1000));
    if (first >= now) return 0;
    let n = 0;
    for (const b of this.buckets) if (b.sec >= first && b.sec < now) n += b.n;
    return n / (now - first);
  }

  commands(): Record<Via, ViaStats> {
    const out = {} as Record<Via, ViaStats>;
    for (const [via, c] of this.perVia) out[via] = { received: c.received, clamped: c.clamped, invalid: c.invalid, latencyMs: c.latency.summary() };
    return out;
  }
}

const ms = (v: number | null): string => (v === null ? '-' : v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`);
const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const mb = (b: number): string => (b >= 1e6 ? `${(b / 1e6).toFixed(1)} MB` : `${(b / 1e3).toFixed(1)} kB`);

/** A few lines for the terminal. */
export function formatStats(s: TrafficStats): string {
  const secs = Math.round(s.elapsedMs / 1000);
  const cmds = VIAS.filter((v) => s.commands[v].received > 0)
    .map((v) => {
      const c = s.commands[v];
      return `${v} ${int(c.received)} (p50 ${ms(c.latencyMs.p50)}, p99 ${ms(c.latencyMs.p99)}${c.clamped ? `, clamped ${c.clamped}` : ''}${c.invalid ? `, invalid ${c.invalid}` : ''})`;
    })
    .join('  ');
  const worst = s.intersections.reduce<IntersectionStats | undefined>((w, i) => (!w || i.queue > w.queue ? i : w), undefined);
  const meanQueue = s.intersections.length ? s.intersections.reduce((a, i) => a + i.queue, 0) / s.intersections.length : 0;
  return [
    `[${String(secs).padStart(5)}s] sent ${int(s.messages.sent)} msgs (${int(s.messages.perSecond)}/s, ${mb(s.messages.bytes)})  devices ${s.devices.connected}/${s.devices.total} connected${s.messages.dropped ? `  dropped ${int(s.messages.dropped)}` : ''}`,
    `         commands ${cmds || 'none'}`,
    `         queues max ${worst ? `${worst.queue} (${worst.site}/${worst.intersection})` : '-'}, mean ${meanQueue.toFixed(1)}  phases NS ${s.phases.NS}, EW ${s.phases.EW}`,
  ].join('\n');
}

/** The final summary: the last stats, then the longest queues per intersection. */
export function formatSummary(s: TrafficStats, top = 10): string {
  const rows = [...s.intersections].sort((a, b) => b.queue - a.queue).slice(0, top);
  const lines = rows.map((i) => `  ${`${i.site}/${i.intersection}`.padEnd(24)} ${i.phase}  green NS ${i.greenNsMs / 1000}s EW ${i.greenEwMs / 1000}s  queue n ${i.queues.n} e ${i.queues.e} s ${i.queues.s} w ${i.queues.w}`);
  return [`summary after ${(s.elapsedMs / 1000).toFixed(1)} s`, formatStats(s), rows.length ? `  longest queues:` : '', ...lines].filter(Boolean).join('\n');
}
