import { mulberry32, poisson, streamSeed, type Rng } from './rng.ts';

/**
 * One intersection's traffic, as pure logic (no clock, no I/O): the caller
 * advances model time with `advanceTo(ms)`. Four approaches, two signal
 * axes that alternate green; vehicles arrive per approach and leave only on
 * green.
 *
 * Arrivals are drawn on a fixed 100 ms grid of model time from one random
 * stream per approach, so they depend on the seed and the time alone, not on
 * how the caller steps the model, on the signal timing or on incidents: two
 * runs that differ only in those see the same vehicles arrive, and their
 * queues can be compared vehicle for vehicle.
 *
 * Departures: each lane of an approach offers a departure slot whenever its
 * cumulative green time crosses a multiple of 1/satFlowPerLane seconds (the
 * saturation headway; the fraction carries across phases). A slot takes one
 * waiting vehicle or is lost. An incident closes one lane: the slots that
 * lane offers meanwhile are lost. So an incident only ever removes slots, and
 * longer greens only ever add some, which is what makes the queues of two
 * such runs comparable at every instant (model.test.ts).
 */

export const APPROACHES = ['n', 'e', 's', 'w'] as const;
export type Approach = (typeof APPROACHES)[number];
export type Phase = 'NS' | 'EW';
export const axisOf = (a: Approach): Phase => (a === 'n' || a === 's' ? 'NS' : 'EW');

/** Green time bounds: commands outside them are clamped (and counted). */
export const GREEN_MIN_MS = 5_000;
export const GREEN_MAX_MS = 90_000;
/** Arrivals are drawn on this grid of model time. */
export const ARRIVAL_TICK_MS = 100;
/** A queue this long fills the detector zone: occupancy 1. */
const QUEUE_AT_FULL_OCCUPANCY = 20;

export interface Incident {
  approach: Approach;
  /** Model time (ms since the simulation started). */
  startMs: number;
  durationMs: number;
}

export interface ModelConfig {
  seed: number;
  /** Length of the compressed day: calm, morning rush, calm, evening rush. */
  dayMs: number;
  /** Arrivals per second per approach in calm hours (before the approach's weight). */
  baseRate: number;
  /** Peak demand in a rush hour, as a multiple of the calm demand. */
  rushFactor: number;
  satFlowPerLane: number;
  lanes: number;
  freeFlowKmh: number;
  greenNsMs: number;
  greenEwMs: number;
  incidents: Incident[];
  /** Demand per approach relative to baseRate; drawn from the seed when omitted. */
  weights?: Record<Approach, number>;
  /** Vehicles already waiting at time 0. */
  initialQueues?: Partial<Record<Approach, number>>;
  /** How far into its cycle (NS green, then EW green) the signal is at time 0: neighbouring lights need not switch together. */
  signalOffsetMs?: number;
}

/** 20 s per axis at the default 120 s day: a sixth of the day, within the bounds. */
export const defaultGreenMs = (dayMs: number): number => clampGreen(Math.round(dayMs / 6));
export const clampGreen = (ms: number): number => Math.min(GREEN_MAX_MS, Math.max(GREEN_MIN_MS, Math.round(ms)));

/**
 * An approach discharges 2 lanes x 0.5 vehicles/s on green, so 0.5 vehicles/s
 * on average with even greens; calm demand (0.25/s times a weight of 0.7 to
 * 1.3) keeps it about half used, a rush (3x) overloads it for a while, and an
 * incident (one lane) leaves it at capacity even when calm.
 */
export function defaultModelConfig(seed: number, dayMs = 120_000): ModelConfig {
  const green = defaultGreenMs(dayMs);
  return { seed, dayMs, baseRate: 0.25, rushFactor: 3, satFlowPerLane: 0.5, lanes: 2, freeFlowKmh: 50, greenNsMs: green, greenEwMs: green, incidents: [] };
}

/**
 * Demand over the day, 1 when calm: two Gaussian bumps at 30 % (morning
 * rush) and 70 % (evening rush) of the day, peaking at `rushFactor`.
 */
export function demandFactor(dayFraction: number, rushFactor: number): number {
  const bump = (c: number): number => Math.exp(-(((dayFraction - c) / 0.06) ** 2) / 2);
  return 1 + (rushFactor - 1) * (bump(0.3) + bump(0.7));
}

/** What a traffic light is told: any subset; unknown keys are ignored by the parser (signal-command.ts). */
export interface SignalCommand {
  greenNsMs?: number;
  greenEwMs?: number;
  phase?: Phase;
}

export interface ApproachState {
  queue: number;
  arrived: number;
  departed: number;
  lanesOpen: number;
}

export interface SignalState {
  phase: Phase;
  greenNsMs: number;
  greenEwMs: number;
  /** Time spent in the current phase. */
  phaseElapsedMs: number;
}

export interface LoopReading {
  /** Vehicles that crossed since the previous reading of this approach. */
  count: number;
  speedKmh: number;
  occupancy: number;
  queue: number;
}

export class IntersectionModel {
  private t = 0;
  /** The next arrival grid point not yet drawn. */
  private nextTick = 0;
  private phase: Phase = 'NS';
  private phaseElapsed = 0;
  private greenNs: number;
  private greenEw: number;
  private readonly approaches: Record<Approach, ApproachState & { sinceReading: number; arrivals: Rng; weight: number }>;
  /** Jitter for sensor readings only: never feeds back into the dynamics. */
  private readonly readingRng: Rng;
  private clampedCount = 0;
  private phaseChangeCount = 0;
  /** Cumulative green time of each axis: every lane of the axis offers floor(greenMs * satFlowPerLane / 1000) slots by then. */
  private readonly axisGreenMs: Record<Phase, number> = { NS: 0, EW: 0 };

  constructor(private readonly cfg: ModelConfig) {
    this.greenNs = clampGreen(cfg.greenNsMs);
    this.greenEw = clampGreen(cfg.greenEwMs);
    const offset = Math.max(0, Math.floor(cfg.signalOffsetMs ?? 0)) % (this.greenNs + this.greenEw);
    if (offset >= this.greenNs) {
      this.phase = 'EW';
      this.phaseElapsed = offset - this.greenNs;
    } else this.phaseElapsed = offset;
    const weightRng = mulberry32(streamSeed(cfg.seed, 'weights'));
    const entries = APPROACHES.map((a) => {
      const weight = cfg.weights?.[a] ?? 0.7 + 0.6 * weightRng();
      const queue = Math.max(0, Math.floor(cfg.initialQueues?.[a] ?? 0));
      return [a, { queue, arrived: queue, departed: 0, lanesOpen: cfg.lanes, sinceReading: 0, arrivals: mulberry32(streamSeed(cfg.seed, 'arrivals', a)), weight }] as const;
    });
    this.approaches = Object.fromEntries(entries) as IntersectionModel['approaches'];
    this.readingRng = mulberry32(streamSeed(cfg.seed, 'readings'));
  }

  get timeMs(): number {
    return this.t;
  }

  /** Arrival rate (vehicles/s) of an approach at model time `t`. */
  arrivalRate(a: Approach, t: number): number {
    const day = (((t % this.cfg.dayMs) + this.cfg.dayMs) % this.cfg.dayMs) / this.cfg.dayMs;
    return this.cfg.baseRate * this.approaches[a].weight * demandFactor(day, this.cfg.rushFactor);
  }

  /** Moves model time forward to `tMs` (an earlier time is a no-op). */
  advanceTo(tMs: number): void {
    tMs = Math.floor(tMs);
    while (this.t < tMs) {
      if (this.phaseElapsed >= this.green(this.phase)) {
        this.switchPhase();
        continue;
      }
      if (this.t >= this.nextTick) {
        this.arrive(this.nextTick);
        this.nextTick += ARRIVAL_TICK_MS;
      }
      const step = Math.min(tMs - this.t, this.green(this.phase) - this.phaseElapsed, this.nextTick - this.t);
      this.serve(step);
      this.t += step;
      this.phaseElapsed += step;
    }
    if (this.phaseElapsed >= this.green(this.phase)) this.switchPhase();
  }

  /** Time until the signal changes on its own (commands may change it). */
  msToPhaseEnd(): number {
    return Math.max(0, this.green(this.phase) - this.phaseElapsed);
  }

  /**
   * Applies a command at the current model time: green times clamped to
   * [GREEN_MIN_MS, GREEN_MAX_MS]; `phase` switches to that axis now (a new
   * green) unless it is green already. A green shortened below the time
   * already spent ends at once.
   */
  command(c: SignalCommand): { clamped: boolean; changed: boolean } {
    let clamped = false;
    let changed = false;
    const set = (ms: number | undefined, current: number): number => {
      if (ms === undefined) return current;
      const v = clampGreen(ms);
      if (v !== Math.round(ms)) clamped = true;
      if (v !== current) changed = true;
      return v;
    };
    this.greenNs = set(c.greenNsMs, this.greenNs);
    this.greenEw = set(c.greenEwMs, this.greenEw);
    if (clamped) this.clampedCount++;
    if (c.phase && c.phase !== this.phase) {
      this.switchPhase();
      changed = true;
    }
    if (this.phaseElapsed >= this.green(this.phase)) {
      this.switchPhase();
      changed = true;
    }
    return { clamped, changed };
  }

  signal(): SignalState {
    return { phase: this.phase, greenNsMs: this.greenNs, greenEwMs: this.greenEw, phaseElapsedMs: this.phaseElapsed };
  }

  approach(a: Approach): ApproachState {
    const s = this.approaches[a];
    return { queue: s.queue, arrived: s.arrived, departed: s.departed, lanesOpen: s.lanesOpen };
  }

  queues(): Record<Approach, number> {
    return { n: this.approaches.n.queue, e: this.approaches.e.queue, s: this.approaches.s.queue, w: this.approaches.w.queue };
  }

  /** Commands that had a green time clamped. */
  get clamped(): number {
    return this.clampedCount;
  }

  get phaseChanges(): number {
    return this.phaseChangeCount;
  }

  /** A loop detector's reading: vehicles since the last reading of this approach, and the state now. */
  readLoop(a: Approach): LoopReading {
    const s = this.approaches[a];
    const count = s.sinceReading;
    s.sinceReading = 0;
    const occupancy = Math.min(1, s.queue / QUEUE_AT_FULL_OCCUPANCY);
    const incident = s.lanesOpen < this.cfg.lanes ? 0.4 : 1;
    const jitter = 0.95 + 0.1 * this.readingRng();
    const speedKmh = this.cfg.freeFlowKmh * (1 - 0.8 * occupancy) * incident * jitter;
    return { count, speedKmh: Math.round(speedKmh * 10) / 10, occupancy: Math.round(occupancy * 100) / 100, queue: s.queue };
  }

  private green(p: Phase): number {
    return p === 'NS' ? this.greenNs : this.greenEw;
  }

  private switchPhase(): void {
    this.phase = this.phase === 'NS' ? 'EW' : 'NS';
    this.phaseElapsed = 0;
    this.phaseChangeCount++;
  }

  private arrive(tick: number): void {
    for (const a of APPROACHES) {
      const s = this.approaches[a];
      const n = poisson(s.arrivals, (this.arrivalRate(a, tick) * ARRIVAL_TICK_MS) / 1000);
      s.queue += n;
      s.arrived += n;
      s.lanesOpen = Math.max(0, this.cfg.lanes - (this.incidentAt(a, tick) ? 1 : 0));
    }
  }

  private incidentAt(a: Approach, t: number): boolean {
    return this.cfg.incidents.some((i) => i.approach === a && t >= i.startMs && t < i.startMs + i.durationMs);
  }

  /** `ms` of the current phase, within one arrival tick. */
  private serve(ms: number): void {
    const before = this.slotsOffered(this.axisGreenMs[this.phase]);
    this.axisGreenMs[this.phase] += ms;
    const slots = this.slotsOffered(this.axisGreenMs[this.phase]) - before;
    if (slots === 0) return;
    for (const a of APPROACHES) {
      if (axisOf(a) !== this.phase) continue;
      const s = this.approaches[a];
      const n = Math.min(slots * s.lanesOpen, s.queue);
      s.queue -= n;
      s.departed += n;
      s.sinceReading += n;
    }
  }

  private slotsOffered(greenMs: number): number {
    return Math.floor((greenMs * this.cfg.satFlowPerLane) / 1000);
  }
}
