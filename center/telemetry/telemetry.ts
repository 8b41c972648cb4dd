import { nameKey } from '../../core/index.ts';
/**
 * Recent usage history of nodes and instances, for the dashboard's charts.
 * Each series keeps two rings of bucket averages: 10 s buckets for the last
 * hour and 5 min buckets for the last day (downsampled from the same samples,
 * so a coarse point is the mean of everything reported in its five minutes).
 * Memory is fixed per series (Float32 rings), so 10,000 instances cost about
 * 50 MB at most. History lives in the center's memory: a restarted center
 * starts its charts afresh.
 */

export const NODE_FIELDS = ['cpu', 'memoryMiB', 'netRxBps', 'netTxBps'] as const;
export const INSTANCE_FIELDS = ['cpu', 'memoryMiB'] as const;

export type TelemetryRange = '15m' | '1h' | '6h' | '24h';
export const RANGE_SECONDS: Record<TelemetryRange, number> = { '15m': 900, '1h': 3600, '6h': 21_600, '24h': 86_400 };

/** Columns ready for a chart: `t` in epoch seconds (bucket starts), one array per field, null where nothing was reported. */
export interface TelemetrySeries {
  resolutionS: number;
  t: number[];
  series: Record<string, (number | null)[]>;
}

export interface TelemetryOptions {
  fineS: number;
  fineSpanS: number;
  coarseS: number;
  coarseSpanS: number;
}
export const DEFAULT_TELEMETRY: TelemetryOptions = { fineS: 10, fineSpanS: 3600, coarseS: 300, coarseSpanS: 86_400 };

/** Fixed-size ring of bucket means: slot = bucket id modulo length; a slot holding another id is empty. */
class Ring {
  private readonly ids: Float64Array;
  private readonly counts: Uint32Array;
  private readonly values: Float32Array;

  constructor(
    readonly resolutionS: number,
    private readonly length: number,
    private readonly width: number,
  ) {
    this.ids = new Float64Array(length).fill(-1);
    this.counts = new Uint32Array(length * width);
    this.values = new Float32Array(length * width);
  }

  add(atS: number, sample: readonly (number | undefined)[]): void {
    const id = Math.floor(atS / this.resolutionS);
    const slot = id % this.length;
    const base = slot * this.width;
    if (this.ids[slot] !== id) {
      this.ids[slot] = id;
      this.counts.fill(0, base, base + this.width);
      this.values.fill(0, base, base + this.width);
    }
    for (let f = 0; f < this.width; f++) {
      const x = sample[f];
      if (x === undefined || !Number.isFinite(x)) continue;
      const n = ++this.counts[base + f]!;
      this.values[base + f]! += (x - this.values[base + f]!) / n;
    }
  }

  read(fromS: number, toS: number, fields: readonly string[]): TelemetrySeries {
    const first = Math.max(Math.floor(fromS / this.resolutionS), Math.floor(toS / this.resolutionS) - this.length + 1);
    const last = Math.floor(toS / this.resolutionS);
    const t: number[] = [];
    const series: Record<string, (number | null)[]> = Object.fromEntries(fields.map((f) => [f, []]));
    for (let id = first; id <= last; id++) {
      const slot = id % this.length;
      const held = this.ids[slot] === id;
      t.push(id * this.resolutionS);
      fields.forEach((name, f) => {
        const i = slot * this.width + f;
        series[name]!.push(held && this.counts[i]! > 0 ? round(this.values[i]!) : null);
      });
    }
    return { resolutionS: this.resolutionS, t, series };
  }
}

const round = (x: number) => Math.round(x * 1000) / 1000;

class History {
  private readonly fine: Ring;
  private readonly coarse: Ring;
  constructor(
    readonly fields: readonly string[],
    opts: TelemetryOptions,
  ) {
    this.fine = new Ring(opts.fineS, Math.ceil(opts.fineSpanS / opts.fineS), fields.length);
    this.coarse = new Ring(opts.coarseS, Math.ceil(opts.coarseSpanS / opts.coarseS), fields.length);
  }
  add(atS: number, sample: Record<string, number | undefined>): void {
    const row = this.fields.map((f) => sample[f]);
    this.fine.add(atS, row);
    this.coarse.add(atS, row);
  }
  read(fromS: number, toS: number, fineSpanS: number): TelemetrySeries {
    return (toS - fromS <= fineSpanS ? this.fine : this.coarse).read(fromS, toS, this.fields);
  }
}

/** Node and instance histories by key; samples arrive with agents' heartbeats. */
export class Telemetry {
  private readonly nodes = new Map<string, History>();
  private readonly instances = new Map<string, History>();

  constructor(
    private readonly opts: TelemetryOptions = DEFAULT_TELEMETRY,
    private readonly now: () => number = Date.now,
  ) {}

  recordNode(node: string, sample: Partial<Record<(typeof NODE_FIELDS)[number], number>>, atMs = this.now()): void {
    this.historyOf(this.nodes, node, NODE_FIELDS).add(atMs / 1000, sample);
  }

  recordInstance(project: string, name: string, sample: Partial<Record<(typeof INSTANCE_FIELDS)[number], number>>, atMs = this.now()): void {
    this.historyOf(this.instances, nameKey(project, name), INSTANCE_FIELDS).add(atMs / 1000, sample);
  }

  /** The node's history over the range ending now, or undefined when nothing was ever reported for it. */
  node(node: string, range: TelemetryRange): TelemetrySeries | undefined {
    return this.read(this.nodes.get(node), range);
  }

  instance(project: string, name: string, range: TelemetryRange): TelemetrySeries | undefined {
    return this.read(this.instances.get(nameKey(project, name)), range);
  }

  forgetNode(node: string): void {
    this.nodes.delete(node);
  }

  forgetInstance(project: string, name: string): void {
    this.instances.delete(nameKey(project, name));
  }

  get size(): { nodes: number; instances: number } {
    return { nodes: this.nodes.size, instances: this.instances.size };
  }

  private historyOf(map: Map<string, History>, key: string, fields: readonly string[]): History {
    let h = map.get(key);
    if (!h) map.set(key, (h = new History(fields, this.opts)));
    return h;
  }

  private read(h: History | undefined, range: TelemetryRange): TelemetrySeries | undefined {
    if (!h) return undefined;
    const to = this.now() / 1000;
    return h.read(to - RANGE_SECONDS[range], to, this.opts.fineSpanS);
  }
}
