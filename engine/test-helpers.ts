import { Engine, type CheckpointStore, type RuleDefinition } from './engine.ts';
import type { Clock, RuleState } from './rule-runner.ts';
import type { Value } from './values.ts';

/** A clock that moves only when told; due timers run in time order. */
export class FakeClock implements Clock {
  private timers: { at: number; fn: () => void }[] = [];
  constructor(public t = Date.UTC(2026, 0, 1)) {}

  now(): number {
    return this.t;
  }

  setTimer(ms: number, fn: () => void): unknown {
    const timer = { at: this.t + ms, fn };
    this.timers.push(timer);
    return timer;
  }

  clearTimer(handle: unknown): void {
    this.timers = this.timers.filter((x) => x !== handle);
  }

  /** Moves time forward by ms, running every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = end;
  }
}

/** Checkpoints in memory, as JSON (what the agent's SQLite store keeps). */
export class MemoryCheckpoints implements CheckpointStore {
  readonly saved = new Map<string, string>();
  load(rule: string): RuleState | undefined {
    const s = this.saved.get(rule);
    return s === undefined ? undefined : (JSON.parse(s) as RuleState);
  }
  save(rule: string, state: RuleState): void {
    this.saved.set(rule, JSON.stringify(state));
  }
  drop(rule: string): void {
    this.saved.delete(rule);
  }
}

/** An engine on a fake clock with the rows it emits, by rule name. */
export function harness(opts: { clock?: FakeClock; checkpoints?: CheckpointStore; twins?: Record<string, Value> } = {}) {
  const clock = opts.clock ?? new FakeClock();
  const out = new Map<string, Record<string, Value>[]>();
  const engine = new Engine({
    clock,
    checkpoints: opts.checkpoints,
    twin: (_p, d) => opts.twins?.[d],
    emit: (rule, rows) => {
      const name = rule.split('/')[1]!;
      out.set(name, [...(out.get(name) ?? []), ...rows]);
    },
  });
  return {
    engine,
    clock,
    apply: (name: string, sql: string, more: Partial<RuleDefinition> = {}) => engine.apply({ project: 'p', name, sql, ...more }),
    send: (topic: string, payload: unknown, device: string | null = null) => engine.ingest('p', topic, Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)), device),
    /** The rows a rule emitted since the last call. */
    take: (name: string): Record<string, Value>[] => {
      const rows = out.get(name) ?? [];
      out.delete(name);
      return rows;
    },
    metrics: (name: string) => engine.metrics().find((m) => m.name === name)!.metrics,
  };
}
