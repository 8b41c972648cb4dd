import { performance } from 'node:perf_hooks';
import type { RuleMetrics } from './metrics.ts';
import type { CompiledQuery, EvalCtx, LookupTable, Row } from './query.ts';
import { toEpochMs, type Value } from './values.ts';
import { TooManyGroupsError, windowOperator, type Firing, type WindowOperator } from './windows.ts';

/** Time for the engine: the real clock, or a fake one in tests. */
export interface Clock {
  now(): number;
  setTimer(ms: number, fn: () => void): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: Clock = {
  now: Date.now,
  setTimer: (ms, fn) => setTimeout(fn, ms).unref(),
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** An event-time stream silent this long lets its watermark move with the clock, so its last windows close. */
export const IDLE_MS = 1000;

/** What a message is once the engine has decoded it (once for all the rules it matches). */
export interface Message {
  topic: string;
  payload: Buffer;
  /** The decoded JSON, or MALFORMED. */
  value: Value;
  device: string | null;
  arrival: number;
}
export const MALFORMED: unique symbol = Symbol('malformed');

export interface RunnerDeps {
  clock: Clock;
  table(name: string): LookupTable;
  /** Result rows, in order; called synchronously. */
  emit(rows: Record<string, Value>[]): void;
  /** Called after windows closed and before their rows are emitted: save the state now (see RuleState). */
  persist(): void;
  metrics: RuleMetrics;
}

/**
 * A rule's checkpoint. Saved right after windows close (before their rows go
 * out) and periodically, so a restart resumes the open windows and never
 * emits a closed window twice; rows that arrived after the last save are not
 * in the restored windows (counted at most once, never twice).
 */
export interface RuleState {
  v: 1;
  signature: string;
  maxEventTime: number;
  watermark: number;
  lastArrival: number;
  window: unknown;
}

/** One rule's query over its stream: filter, project, and window state, on the engine's clock. */
export class RuleRunner {
  private readonly op: WindowOperator | undefined;
  private maxEventTime = -Infinity;
  /** Never moves back: a window closed by an idle watermark stays closed. */
  private wm = -Infinity;
  private lastArrival = 0;
  private timer: unknown;
  private timerAt = Infinity;
  /** The window state's next deadline (op.nextDeadline(), kept up to date from what each row touches). */
  private due = Infinity;
  private dirty = false;
  private stopped = false;

  constructor(
    readonly query: CompiledQuery,
    private readonly deps: RunnerDeps,
  ) {
    this.op = query.window && windowOperator(query.window, query.aggregates, query.eventTime?.latenessMs ?? 0);
  }

  get changed(): boolean {
    return this.dirty;
  }

  get groups(): number {
    return this.op?.groups() ?? 0;
  }

  ingest(m: Message): void {
    const t0 = performance.now();
    const metrics = this.deps.metrics;
    metrics.in++;
    try {
      this.process(m);
    } catch (err) {
      if (!(err instanceof TooManyGroupsError)) throw err;
      metrics.drop(err.message, m.topic, m.payload);
    }
    metrics.observe(performance.now() - t0);
  }

  /** Closes every open window now and emits it (the rule is replaced by an incompatible version, or removed). */
  closeAll(): void {
    if (!this.op) return;
    const fired = this.op.closeAll();
    this.due = this.op.nextDeadline() ?? Infinity;
    this.emitFirings(fired, true);
  }

  snapshot(): RuleState {
    this.dirty = false;
    return { v: 1, signature: this.query.stateSignature, maxEventTime: this.maxEventTime, watermark: this.wm, lastArrival: this.lastArrival, window: this.op?.snapshot() ?? null };
  }

  /** Takes over a checkpoint (or a previous version's state) made with the same state signature; false if it does not fit. */
  restore(st: RuleState): boolean {
    if (st.v !== 1 || st.signature !== this.query.stateSignature) return false;
    this.maxEventTime = st.maxEventTime ?? -Infinity;
    this.wm = st.watermark ?? -Infinity;
    this.lastArrival = st.lastArrival;
    if (this.op && st.window) this.op.restore(st.window);
    this.due = this.op?.nextDeadline() ?? Infinity;
    // Windows that ended while the rule was down close now.
    this.onTimer();
    return true;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.deps.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  private process(m: Message): void {
    const metrics = this.deps.metrics;
    const q = this.query;
    if (m.value === MALFORMED) return metrics.drop('payload is not JSON', m.topic, m.payload);
    const row: Row = { payload: m.value, topic: m.topic, device: m.device, time: m.arrival, joined: [] };
    const c: EvalCtx = { row, aggs: null, window: null, now: m.arrival, out: null };
    if (q.eventTime) {
      const t = toEpochMs(q.eventTime.of(c));
      if (t === null) return metrics.drop('TIMESTAMP BY gives no time (epoch ms or RFC 3339)', m.topic, m.payload);
      row.time = t;
    }
    for (let i = 0; i < q.joins.length; i++) {
      const j = q.joins[i]!;
      const found = j.lookup(c, this.deps.table(j.table));
      if (found === undefined && j.kind === 'inner') {
        metrics.filtered++;
        return;
      }
      row.joined[i] = found ?? null;
    }
    if (q.where && q.where(c) !== true) {
      metrics.filtered++;
      return;
    }
    if (!this.op) {
      metrics.out++;
      this.deps.emit([q.project(c)]);
      return;
    }
    const before = this.watermark(m.arrival);
    const key = groupKey(q.groupBy.length === 1 ? q.groupBy[0]!(c) : q.groupBy.map((g) => g(c)));
    const added = this.op.add(key, row, before);
    this.dirty = true;
    if (added.late) metrics.drop(`late: event time ${new Date(row.time).toISOString()} is behind the watermark by more than the allowed lateness`, m.topic, m.payload, true);
    if (q.eventTime) this.maxEventTime = Math.max(this.maxEventTime, row.time);
    this.lastArrival = m.arrival;
    // A late row that updated a closed window re-fires it: the state changed, so save before emitting.
    if (added.fired.length) this.emitFirings(added.fired, q.window!.type !== 'sliding');
    this.due = Math.min(this.due, added.deadline);
    // The window state is scanned only when something is due, not for every row.
    if (this.watermark(m.arrival) >= this.due) this.advance(m.arrival);
    else this.arm(m.arrival);
  }

  /** Event time: the largest event time seen minus the delay, moving with the clock once the stream is idle. Processing time: the clock. */
  private watermark(now: number): number {
    const et = this.query.eventTime;
    if (!et) return now;
    if (this.maxEventTime === -Infinity) return -Infinity;
    const idle = now - this.lastArrival;
    this.wm = Math.max(this.wm, this.maxEventTime - et.watermarkMs + (idle >= IDLE_MS ? idle : 0));
    return this.wm;
  }

  private advance(now: number): void {
    const fired = this.op!.advance(this.watermark(now));
    this.due = this.op!.nextDeadline() ?? Infinity;
    if (fired.length) this.emitFirings(fired, true);
    this.arm(now);
  }

  private emitFirings(fired: Firing[], persist: boolean): void {
    if (persist) {
      this.dirty = true;
      this.deps.persist();
    }
    const q = this.query;
    const rows: Record<string, Value>[] = [];
    for (const f of fired) {
      const c: EvalCtx = { row: f.last, aggs: f.aggs, window: f.window, now: this.deps.clock.now(), out: null };
      const out = q.project(c);
      c.out = out;
      if (q.having && q.having(c) !== true) {
        this.deps.metrics.filtered++;
        continue;
      }
      rows.push(out);
    }
    if (!rows.length) return;
    this.deps.metrics.out += rows.length;
    this.deps.emit(rows);
  }

  /**
   * One timer, for the earliest deadline (a window end; for event time, when
   * the idle watermark would reach it). A timer already set earlier stays: it
   * looks again when it fires (under event time the target moves with every
   * row, and a timer per row would cost more than the rows).
   */
  private arm(now: number): void {
    if (this.stopped) return;
    const d = this.due;
    let at = Infinity;
    if (d !== Infinity) {
      const et = this.query.eventTime;
      at = et ? Math.max(this.lastArrival + IDLE_MS, this.lastArrival + d - this.maxEventTime + et.watermarkMs) : d;
    }
    if (at >= this.timerAt) return;
    if (this.timer !== undefined) this.deps.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.timerAt = at;
    if (at === Infinity) return;
    this.timer = this.deps.clock.setTimer(Math.max(0, at - now), () => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.onTimer();
    });
  }

  private onTimer(): void {
    if (this.stopped || !this.op) return;
    this.advance(this.deps.clock.now());
  }
}

/** A group's key: the GROUP BY values, as a string (one value fast). */
function groupKey(v: Value): string {
  if (typeof v === 'string') return `s${v}`;
  if (typeof v === 'number') return `n${v}`;
  return JSON.stringify(v ?? null);
}
