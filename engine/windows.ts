import type { WindowSpec } from './language/ast.ts';
import type { CompiledAggregate, Row } from './query.ts';
import type { Value } from './values.ts';

/**
 * Window state for one rule: groups of rows with their running aggregates,
 * by window. Time is event time (TIMESTAMP BY) or arrival time; `advance(t)`
 * closes what ends at or before t (the watermark, or the clock). Everything
 * here is plain data, so `snapshot()`/`restore()` checkpoint it as JSON.
 */

/** One group's running aggregates and its latest row (non-aggregated SELECT items read it). */
export interface Group {
  states: unknown[];
  last: Row;
}

/** A closed (or, in a sliding window, triggered) group, ready to project. */
export interface Firing {
  key: string;
  window: { start: number; end: number };
  aggs: Value[];
  last: Row;
}

export interface AddResult {
  /** The row's time is older than anything still kept: dropped as late. */
  late: boolean;
  /** What the row triggers at once: sliding windows, and late rows that update an already closed window. */
  fired: Firing[];
  /** The earliest time at which what the row went into has something for advance() (Infinity: nothing). */
  deadline: number;
}

export interface WindowOperator {
  add(key: string, row: Row, watermark: number): AddResult;
  /** Closes every window that ends at or before t; purges what is past allowed lateness. */
  advance(t: number): Firing[];
  /** The earliest time at which advance() has something to do (a scan: call it after advance(), not per row). */
  nextDeadline(): number | undefined;
  /** Closes everything now, whatever its end (an incompatible update of the rule). */
  closeAll(): Firing[];
  groups(): number;
  snapshot(): unknown;
  restore(state: unknown): void;
}

/** A window holds at most this many groups; a row of one more is dropped (counted). */
export const MAX_GROUPS = 100_000;
export class TooManyGroupsError extends Error {}

export function windowOperator(spec: WindowSpec, aggs: CompiledAggregate[], latenessMs: number): WindowOperator {
  switch (spec.type) {
    case 'tumbling':
      return new AlignedWindows(spec.sizeMs, spec.sizeMs, aggs, latenessMs);
    case 'hopping':
      return new AlignedWindows(spec.sizeMs, spec.hopMs, aggs, latenessMs);
    case 'sliding':
      return new SlidingWindows(spec.sizeMs, aggs);
    case 'session':
      return new SessionWindows(spec.gapMs, spec.maxMs, aggs);
  }
}

function accumulate(aggs: CompiledAggregate[], states: unknown[], row: Row): void {
  const c = { row, aggs: null, window: null, now: 0, out: null };
  for (let i = 0; i < aggs.length; i++) states[i] = aggs[i]!.kind.add(states[i], aggs[i]!.arg(c));
}
const results = (aggs: CompiledAggregate[], states: unknown[]): Value[] => aggs.map((a, i) => a.kind.result(states[i], a.param));
const fresh = (aggs: CompiledAggregate[]): unknown[] => aggs.map((a) => a.kind.init());

/**
 * Tumbling (hop = size) and hopping windows, aligned to the epoch: a row at
 * time t belongs to every window [s, s + size) with s a multiple of hop. A
 * window closes when time reaches its end and is kept `latenessMs` longer: a
 * late row within that updates it and re-fires its group at once.
 */
class AlignedWindows implements WindowOperator {
  /** Window start -> group key -> group. */
  private windows = new Map<number, Map<string, Group>>();
  /** Starts of windows already fired (kept for lateness). */
  private closed = new Set<number>();
  private count = 0;

  constructor(
    private readonly size: number,
    private readonly hop: number,
    private readonly aggs: CompiledAggregate[],
    private readonly lateness: number,
  ) {}

  add(key: string, row: Row, watermark: number): AddResult {
    const t = row.time;
    const fired: Firing[] = [];
    let kept = false;
    let deadline = Infinity;
    for (let s = Math.floor(t / this.hop) * this.hop; s + this.size > t; s -= this.hop) {
      // Past its end and its lateness: gone (or about to be).
      if (s + this.size + this.lateness <= watermark) continue;
      kept = true;
      let groups = this.windows.get(s);
      if (!groups) this.windows.set(s, (groups = new Map()));
      let g = groups.get(key);
      if (!g) {
        if (this.count >= MAX_GROUPS) throw new TooManyGroupsError(`more than ${MAX_GROUPS} groups in open windows`);
        groups.set(key, (g = { states: fresh(this.aggs), last: row }));
        this.count++;
      }
      accumulate(this.aggs, g.states, row);
      if (t >= g.last.time) g.last = row;
      const closed = this.closed.has(s);
      if (closed) fired.push(this.firing(s, key, g));
      deadline = Math.min(deadline, s + this.size + (closed ? this.lateness : 0));
    }
    return { late: !kept, fired, deadline };
  }

  advance(t: number): Firing[] {
    const out: Firing[] = [];
    for (const s of [...this.windows.keys()].sort((a, b) => a - b)) {
      const end = s + this.size;
      if (end > t) break;
      if (!this.closed.has(s)) {
        for (const [key, g] of this.windows.get(s)!) out.push(this.firing(s, key, g));
        this.closed.add(s);
      }
      if (end + this.lateness <= t) this.drop(s);
    }
    return out;
  }

  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const s of this.windows.keys()) {
      const d = this.closed.has(s) ? s + this.size + this.lateness : s + this.size;
      if (next === undefined || d < next) next = d;
    }
    return next;
  }

  closeAll(): Firing[] {
    const out: Firing[] = [];
    for (const [s, groups] of this.windows) if (!this.closed.has(s)) for (const [key, g] of groups) out.push(this.firing(s, key, g));
    this.windows.clear();
    this.closed.clear();
    this.count = 0;
    return out;
  }

  groups(): number {
    return this.count;
  }

  snapshot(): unknown {
    return { windows: [...this.windows].map(([s, groups]) => [s, [...groups]]), closed: [...this.closed] };
  }

  restore(state: unknown): void {
    const st = state as { windows: [number, [string, Group][]][]; closed: number[] };
    this.windows = new Map(st.windows.map(([s, groups]) => [s, new Map(groups)]));
    this.closed = new Set(st.closed);
    this.count = [...this.windows.values()].reduce((n, g) => n + g.size, 0);
  }

  private firing(s: number, key: string, g: Group): Firing {
    return { key, window: { start: s, end: s + this.size }, aggs: results(this.aggs, g.states), last: g.last };
  }

  private drop(s: number): void {
    this.count -= this.windows.get(s)?.size ?? 0;
    this.windows.delete(s);
    this.closed.delete(s);
  }
}

/**
 * Sliding windows: every row fires its group over the rows of the last
 * `size` ms up to and including it, (t − size, t]. Rows are kept per group
 * (their aggregate arguments) until they slide out.
 */
class SlidingWindows implements WindowOperator {
  /** Group key -> rows in time order, as [time, aggregate arguments]; and the latest row. */
  private buffers = new Map<string, { rows: [number, Value[]][]; last: Row }>();

  constructor(
    private readonly size: number,
    private readonly aggs: CompiledAggregate[],
  ) {}

  add(key: string, row: Row, watermark: number): AddResult {
    let b = this.buffers.get(key);
    if (!b) {
      if (this.buffers.size >= MAX_GROUPS) throw new TooManyGroupsError(`more than ${MAX_GROUPS} groups in open windows`);
      this.buffers.set(key, (b = { rows: [], last: row }));
    }
    const c = { row, aggs: null, window: null, now: 0, out: null };
    const entry: [number, Value[]] = [row.time, this.aggs.map((a) => a.arg(c))];
    // Rows mostly arrive in order: insert from the end.
    let i = b.rows.length;
    while (i > 0 && b.rows[i - 1]![0] > row.time) i--;
    b.rows.splice(i, 0, entry);
    if (row.time >= b.last.time) b.last = row;
    // This group's rows that can be in no window any more go now; a whole group, once idle, in advance().
    dropBefore(b.rows, watermark - this.size);
    const t = row.time;
    const states = fresh(this.aggs);
    for (const [time, args] of b.rows) {
      if (time <= t - this.size || time > t) continue;
      for (let k = 0; k < this.aggs.length; k++) states[k] = this.aggs[k]!.kind.add(states[k], args[k]);
    }
    return { late: false, fired: [{ key, window: { start: t - this.size, end: t }, aggs: results(this.aggs, states), last: row }], deadline: b.rows.at(-1)![0] + this.size };
  }

  advance(t: number): Firing[] {
    // Nothing closes; rows that can no longer be in any window go.
    for (const [key, b] of this.buffers) {
      dropBefore(b.rows, t - this.size);
      if (!b.rows.length) this.buffers.delete(key);
    }
    return [];
  }

  /** When a group has no row left that can be in a window. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const b of this.buffers.values()) {
      const d = b.rows.at(-1)![0] + this.size;
      if (next === undefined || d < next) next = d;
    }
    return next;
  }

  closeAll(): Firing[] {
    this.buffers.clear();
    return [];
  }

  groups(): number {
    return this.buffers.size;
  }

  snapshot(): unknown {
    return [...this.buffers];
  }

  restore(state: unknown): void {
    this.buffers = new Map(state as [string, { rows: [number, Value[]][]; last: Row }][]);
  }
}

/**
 * Session windows per group: a session grows while its rows come less than
 * `gap` apart (and, with `max`, until it spans max ms); it closes `gap` after
 * its last row. window_start is its first row's time, window_end its close.
 */
class SessionWindows implements WindowOperator {
  private sessions = new Map<string, Group & { start: number; lastTime: number }>();

  constructor(
    private readonly gap: number,
    private readonly max: number | undefined,
    private readonly aggs: CompiledAggregate[],
  ) {}

  add(key: string, row: Row): AddResult {
    const t = row.time;
    const fired: Firing[] = [];
    let s = this.sessions.get(key);
    if (s && (t - s.lastTime >= this.gap || (this.max !== undefined && t - s.start >= this.max))) {
      fired.push(this.firing(key, s));
      this.sessions.delete(key);
      s = undefined;
    }
    if (!s) {
      if (this.sessions.size >= MAX_GROUPS) throw new TooManyGroupsError(`more than ${MAX_GROUPS} open sessions`);
      this.sessions.set(key, (s = { states: fresh(this.aggs), last: row, start: t, lastTime: t }));
    }
    accumulate(this.aggs, s.states, row);
    s.start = Math.min(s.start, t);
    if (t >= s.lastTime) {
      s.lastTime = t;
      s.last = row;
    }
    return { late: false, fired, deadline: Math.min(s.lastTime + this.gap, this.max === undefined ? Infinity : s.start + this.max) };
  }

  advance(t: number): Firing[] {
    const out: Firing[] = [];
    for (const [key, s] of this.sessions) {
      if (s.lastTime + this.gap > t && (this.max === undefined || s.start + this.max > t)) continue;
      out.push(this.firing(key, s));
      this.sessions.delete(key);
    }
    return out;
  }

  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const s of this.sessions.values()) {
      const d = Math.min(s.lastTime + this.gap, this.max === undefined ? Infinity : s.start + this.max);
      if (next === undefined || d < next) next = d;
    }
    return next;
  }

  closeAll(): Firing[] {
    const out = [...this.sessions].map(([key, s]) => this.firing(key, s));
    this.sessions.clear();
    return out;
  }

  groups(): number {
    return this.sessions.size;
  }

  snapshot(): unknown {
    return [...this.sessions];
  }

  restore(state: unknown): void {
    this.sessions = new Map(state as [string, Group & { start: number; lastTime: number }][]);
  }

  private firing(key: string, s: Group & { start: number; lastTime: number }): Firing {
    const end = Math.min(s.lastTime + this.gap, this.max === undefined ? Infinity : s.start + this.max);
    return { key, window: { start: s.start, end }, aggs: results(this.aggs, s.states), last: s.last };
  }
}

/** Drops the rows (in time order) at or before t. */
function dropBefore(rows: [number, Value[]][], t: number): void {
  let n = 0;
  while (n < rows.length && rows[n]![0] <= t) n++;
  if (n) rows.splice(0, n);
}
