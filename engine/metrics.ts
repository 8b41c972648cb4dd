/** Per-rule counters and the processing-latency histogram, as the agent reports them (Rule status, /metrics). */

/** Upper bounds of the latency buckets, ms; one more bucket takes everything above the last. */
export const LATENCY_BUCKETS_MS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000] as const;

/** A message that was not processed, kept as a sample for the rule's status. */
export interface DroppedSample {
  at: string;
  reason: string;
  topic: string;
  /** The payload's first 256 bytes, as text. */
  sample: string;
}

export interface RuleMetricsSnapshot {
  /** Messages that reached the rule (matched its FROM topic). */
  in: number;
  /** Result rows emitted to the actions. */
  out: number;
  /** Rows that WHERE, HAVING or an inner JOIN without a match left out. */
  filtered: number;
  /** Messages that could not be processed (not JSON, no event time, too many groups, a rule loop). */
  dropped: number;
  /** Event-time rows older than the watermark minus the allowed lateness. */
  late: number;
  /** Failed action attempts (each retry counts). */
  sinkErrors: number;
  /** Open window groups now. */
  groups: number;
  latencyMs: { count: number; sum: number; max: number; p50: number | null; p99: number | null; buckets: number[] };
  lastDropped?: DroppedSample;
  lastSinkError?: { at: string; action: string; message: string };
}

export class RuleMetrics {
  in = 0;
  out = 0;
  filtered = 0;
  dropped = 0;
  late = 0;
  sinkErrors = 0;
  private readonly buckets = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
  private sum = 0;
  private count = 0;
  private max = 0;
  private lastDropped: DroppedSample | undefined;
  private lastSinkError: RuleMetricsSnapshot['lastSinkError'];

  observe(ms: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS_MS.length && ms > LATENCY_BUCKETS_MS[i]!) i++;
    this.buckets[i]!++;
    this.sum += ms;
    this.count++;
    if (ms > this.max) this.max = ms;
  }

  drop(reason: string, topic: string, payload: Buffer | undefined, late = false): void {
    if (late) this.late++;
    else this.dropped++;
    this.lastDropped = { at: new Date().toISOString(), reason, topic, sample: payload ? payload.subarray(0, 256).toString('utf8') : '' };
  }

  sinkError(action: string, message: string): void {
    this.sinkErrors++;
    this.lastSinkError = { at: new Date().toISOString(), action, message };
  }

  snapshot(groups: number): RuleMetricsSnapshot {
    return {
      in: this.in,
      out: this.out,
      filtered: this.filtered,
      dropped: this.dropped,
      late: this.late,
      sinkErrors: this.sinkErrors,
      groups,
      latencyMs: { count: this.count, sum: this.sum, max: this.max, p50: this.quantile(0.5), p99: this.quantile(0.99), buckets: [...this.buckets] },
      ...(this.lastDropped && { lastDropped: this.lastDropped }),
      ...(this.lastSinkError && { lastSinkError: this.lastSinkError }),
    };
  }

  /** From the histogram: linear within the bucket that holds the quantile. */
  private quantile(q: number): number | null {
    if (!this.count) return null;
    const rank = q * this.count;
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      const n = this.buckets[i]!;
      if (seen + n >= rank && n > 0) {
        const lo = i === 0 ? 0 : LATENCY_BUCKETS_MS[i - 1]!;
        const hi = i < LATENCY_BUCKETS_MS.length ? LATENCY_BUCKETS_MS[i]! : this.max;
        return Math.min(this.max, lo + ((hi - lo) * (rank - seen)) / n);
      }
      seen += n;
    }
    return this.max;
  }
}
