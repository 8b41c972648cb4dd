import { durationMs, type OverflowSpec } from '../../core/index.ts';

/** How often a gate looks at what it measured and adapts its limit. */
export const OVERFLOW_TICK_MS = 250;
/** The window of answers a gate judges by (and its rate is measured over). */
const WINDOW_MS = 1000;
/** The edge is held to this share of the SLA (p90): past it, the requests in flight there are limited. */
const TARGET = 0.9;
/** Under this share of the SLA (p90), a limit that was reached grows again. */
const CALM = 0.6;
/** A limit never grows past this many requests in flight. */
const LIMIT_MAX = 100_000;

export type OverflowState = 'edge' | 'overflowing';

/** One request in flight at the edge: a turn of a connection, from the client's bytes to the first bytes of the answer. */
export interface Turn {
  readonly start: number;
}

/** A change of state, with why, for the event and the log. */
export interface OverflowSwitch {
  to: OverflowState;
  why: string;
}

export interface OverflowFigures {
  state: OverflowState;
  /** Requests in flight at the edge beyond which the next one overflows (null: no limit yet). */
  limit: number | null;
  inFlight: number;
  /** The edge's p90 response time over the last window, ms (null: nothing answered in it). */
  p90Ms: number | null;
  /** Connections sent to the edge, and overflowed to the upper tiers, since the agent started. */
  edge: number;
  overflowed: number;
  switches: number;
  /** Since when (ms since the epoch) the state is what it is. */
  since: number;
}

/**
 * Whether the next connection of a Service's endpoint at this site goes to
 * the edge's own instances or overflows to an upper tier (GS-Link's
 * offloading, docs/link.md). It limits the requests in flight at the edge:
 *
 * - by plan (`maxInFlight` per edge instance), a fixed limit;
 * - by measure (`sla`): no limit while the edge's p90 response time stays
 *   under 90% of the SLA; past it, the limit becomes what the edge answered
 *   in the last second times that target (Little's law: the requests in
 *   flight it can hold and still answer in time), and at most one less than
 *   was in flight. It grows by one a tick while it is reached and the edge
 *   answers under 60% of the SLA, and shrinks again on the next miss. Only
 *   requests begun since the last change judge the next one.
 *
 * The state (for events, metrics and the dashboard) becomes `overflowing`
 * with the first request over the limit, and goes back to `edge` only once
 * none has overflowed for `hold` and the edge answers within 90% of the SLA:
 * at most one round trip of the state per `hold`, however the load swings.
 * Pure: the clock is given, the caller ticks it every OVERFLOW_TICK_MS.
 */
export class OverflowGate {
  private readonly slaMs: number | undefined;
  private readonly holdMs: number;
  private readonly perInstance: number | undefined;
  private learned: number | undefined;
  private readonly open = new Set<Turn>();
  /** Answers of the last window: when each began and ended. */
  private answers: { start: number; end: number }[] = [];
  /** The most in flight at once since the last tick (whether a limit was reached). */
  private peak = 0;
  private overflowedSinceTick = false;
  private changedAt = -Infinity;
  private lastOverflow = -Infinity;
  private state: OverflowState = 'edge';
  private since: number;
  private edgeCount = 0;
  private overflowCount = 0;
  private switches = 0;
  private lastP90: number | null = null;
  /** The first overflow since the edge state: the switch the next tick reports. */
  private pending: OverflowSwitch | undefined;

  constructor(
    spec: OverflowSpec,
    private readonly now: () => number,
  ) {
    this.slaMs = spec.sla === undefined ? undefined : durationMs(spec.sla);
    this.holdMs = durationMs(spec.hold);
    this.perInstance = spec.maxInFlight;
    this.since = now();
  }

  /** The limit for `edgeInstances` ready at the edge: the plan's and the learned one, whichever is lower. */
  limit(edgeInstances: number): number {
    const planned = this.perInstance === undefined ? Infinity : this.perInstance * Math.max(1, edgeInstances);
    return Math.min(planned, this.learned ?? Infinity);
  }

  /** Where the next connection goes; `edgeInstances` ready at the edge, and somewhere to overflow to (else always the edge). */
  admit(edgeInstances: number, canOverflow: boolean): 'edge' | 'overflow' {
    const limit = this.limit(edgeInstances);
    if (!canOverflow || this.open.size < limit) {
      this.edgeCount++;
      return 'edge';
    }
    this.overflowCount++;
    this.overflowedSinceTick = true;
    this.lastOverflow = this.now();
    if (this.state === 'edge' && !this.pending) this.pending = { to: 'overflowing', why: this.overflowWhy(limit) };
    return 'overflow';
  }

  /** A request begins at the edge. */
  begin(): Turn {
    const t: Turn = { start: this.now() };
    this.open.add(t);
    this.peak = Math.max(this.peak, this.open.size);
    return t;
  }

  /** Its answer began: a sample. */
  answered(t: Turn): void {
    if (!this.open.delete(t)) return;
    const now = this.now();
    this.answers.push({ start: t.start, end: now });
    // Kept to the window here too: a gate no longer ticked (replaced) must not grow with its connections' answers.
    if (this.answers.length > 4096 && this.answers[0]!.end <= now - WINDOW_MS) this.answers = this.answers.filter((a) => a.end > now - WINDOW_MS);
  }

  /** It ended unanswered (the connection closed, or went elsewhere): no sample. */
  abandoned(t: Turn): void {
    this.open.delete(t);
  }

  /** Adapts the limit and reports a change of state, if any. */
  tick(): OverflowSwitch | undefined {
    const now = this.now();
    this.answers = this.answers.filter((a) => a.end > now - WINDOW_MS);
    const rate = this.answers.length / (WINDOW_MS / 1000);
    // Judged by what began since the last change, answered or still waiting (a request stuck past the SLA is a miss before it ends).
    const times = [...this.answers.filter((a) => a.start >= this.changedAt).map((a) => a.end - a.start), ...[...this.open].filter((t) => t.start >= this.changedAt).map((t) => now - t.start)];
    const p90 = times.length ? percentile(times, 0.9) : null;
    this.lastP90 = this.answers.length ? percentile(this.answers.map((a) => a.end - a.start), 0.9) : null;
    const reached = this.overflowedSinceTick || (this.learned !== undefined && this.peak >= this.learned);
    if (this.slaMs !== undefined && p90 !== null) {
      if (p90 > TARGET * this.slaMs) {
        const fits = Math.floor((rate * TARGET * this.slaMs) / 1000);
        const next = Math.max(1, Math.min(fits, this.peak - 1, (this.learned ?? Infinity) - 1));
        if (next !== this.learned) {
          this.learned = next;
          this.changedAt = now;
        }
      } else if (p90 < CALM * this.slaMs && reached && this.learned !== undefined && this.learned < LIMIT_MAX) {
        this.learned++;
        this.changedAt = now;
      }
    }
    this.peak = this.open.size;
    this.overflowedSinceTick = false;
    const pending = this.pending;
    this.pending = undefined;
    if (pending && this.state === 'edge') return this.switchTo(pending, now);
    if (this.state === 'overflowing' && now - this.lastOverflow >= this.holdMs && (this.slaMs === undefined || this.lastP90 === null || this.lastP90 <= TARGET * this.slaMs)) {
      return this.switchTo({ to: 'edge', why: this.returnWhy() }, now);
    }
    return undefined;
  }

  figures(edgeInstances: number): OverflowFigures {
    const limit = this.limit(edgeInstances);
    return { state: this.state, limit: Number.isFinite(limit) ? limit : null, inFlight: this.open.size, p90Ms: this.lastP90, edge: this.edgeCount, overflowed: this.overflowCount, switches: this.switches, since: this.since };
  }

  private switchTo(s: OverflowSwitch, now: number): OverflowSwitch {
    this.state = s.to;
    this.since = now;
    this.switches++;
    return s;
  }

  private overflowWhy(limit: number): string {
    const sla = this.slaMs === undefined ? '' : `; the SLA is ${this.slaMs} ms`;
    const p90 = this.lastP90 === null ? '' : `, p90 ${Math.round(this.lastP90)} ms at the edge`;
    const basis = this.learned !== undefined && this.learned <= limit ? 'measured' : 'planned';
    return `${this.open.size} requests in flight at the edge reached its ${basis} limit of ${limit}${p90}${sla}`;
  }

  private returnWhy(): string {
    const p90 = this.lastP90 === null ? 'nothing answered lately' : `p90 ${Math.round(this.lastP90)} ms`;
    const calm = this.slaMs === undefined ? '' : ` (within ${Math.round(TARGET * 100)}% of the SLA ${this.slaMs} ms)`;
    return `nothing overflowed for ${this.holdMs / 1000}s and the edge keeps up: ${p90}${calm}`;
  }
}

function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}
