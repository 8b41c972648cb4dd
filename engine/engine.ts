import { topicMatches } from '../core/topics.ts';
import { compileQuery } from './compile.ts';
import { RuleMetrics, type RuleMetricsSnapshot } from './metrics.ts';
import type { LookupTable } from './query.ts';
import { MALFORMED, RuleRunner, systemClock, type Clock, type Message, type RuleState } from './rule-runner.ts';
import { StaticTable, TopicTable, TwinsTable, type TableSpec } from './tables.ts';
import type { Value } from './values.ts';

/** A rule as the engine runs it: its SQL and lookup tables, in one project's topic space. */
export interface RuleDefinition {
  project: string;
  name: string;
  sql: string;
  tables?: Record<string, TableSpec>;
}

/** Saved window state per rule (the agent keeps it in SQLite). */
export interface CheckpointStore {
  load(rule: string): RuleState | undefined;
  save(rule: string, state: RuleState): void;
  drop(rule: string): void;
}

export interface EngineDeps {
  clock?: Clock;
  checkpoints?: CheckpointStore;
  /** A device's twin `{device, reported, desired, connected, lastSeen}`, for JOIN twins. */
  twin?(project: string, device: string): Value | undefined;
  /**
   * Result rows of a rule (`project/name`), in order, synchronously. `hops`:
   * how many rules made them, this one included (pass it on as the Origin
   * of what the rows are published as).
   */
  emit(rule: string, rows: Record<string, Value>[], hops: number): void;
}

/** Where a message came from when a rule's action published it: it is not fed back to that rule, and a chain ends after MAX_HOPS. */
export interface Origin {
  rule: string;
  hops: number;
}
export const MAX_HOPS = 8;

interface Running {
  def: RuleDefinition;
  runner: RuleRunner;
  metrics: RuleMetrics;
  tables: Map<string, LookupTable>;
}

/**
 * The rule engine next to an edge broker: it takes every accepted publish
 * (ingest), runs the rules whose FROM topic matches it, and hands their
 * result rows to `emit`. Rules are added, updated in place and removed while
 * messages flow; window state survives an update that keeps its shape, and
 * is checkpointed (see RuleState).
 */
export class Engine {
  private readonly rules = new Map<string, Running>();
  /** Per project: the rules and the topic tables, in the order they match. */
  private byProject = new Map<string, { rules: [string, Running][]; tables: TopicTable[] }>();
  private readonly clock: Clock;
  private readonly twinTables = new Map<string, TwinsTable>();
  /** The hops of the message being ingested (ingest nests when an action publishes to another rule). */
  private hops = 0;

  constructor(private readonly deps: EngineDeps) {
    this.clock = deps.clock ?? systemClock;
  }

  /**
   * Adds or replaces a rule; throws SqlError for bad SQL (the running
   * version, if any, stays). A replacement takes over the window state when
   * the windows, grouping and aggregates are unchanged; otherwise the old
   * version closes its windows and emits them first. Either way every
   * message is processed by exactly one version.
   */
  apply(def: RuleDefinition): void {
    const key = ruleKey(def);
    const query = compileQuery(def.sql, { tables: Object.keys(def.tables ?? {}) });
    const prev = this.rules.get(key);
    const metrics = prev?.metrics ?? new RuleMetrics();
    const tables = this.tablesFor(def, prev);
    const runner = new RuleRunner(query, {
      clock: this.clock,
      metrics,
      table: (name) => tables.get(name)!,
      emit: (rows) => this.deps.emit(key, rows, this.hops + 1),
      persist: () => this.save(key),
    });
    const running: Running = { def, runner, metrics, tables };
    // Registered before restoring: windows that close in restore() are saved from this runner before their rows go out.
    this.rules.set(key, running);
    if (prev) {
      prev.runner.stop();
      const state = prev.runner.snapshot();
      if (!runner.restore(state)) prev.runner.closeAll();
    } else {
      const saved = this.deps.checkpoints?.load(key);
      if (saved && !runner.restore(saved)) this.deps.checkpoints?.drop(key);
    }
    this.reindex();
    this.save(key);
  }

  /**
   * Stops a rule. Its open windows are dropped with its checkpoint (a deleted
   * rule emits nothing more), or with keepState saved for a later apply()
   * (a paused rule).
   */
  remove(project: string, name: string, opts: { keepState?: boolean } = {}): void {
    const key = `${project}/${name}`;
    const r = this.rules.get(key);
    if (!opts.keepState) this.deps.checkpoints?.drop(key);
    if (!r) return;
    r.runner.stop();
    if (opts.keepState) this.save(key);
    this.rules.delete(key);
    this.reindex();
  }

  has(project: string, name: string): boolean {
    return this.rules.has(`${project}/${name}`);
  }

  /** Runs every matching rule on one message (synchronously). */
  ingest(project: string, topic: string, payload: Buffer, device: string | null, origin?: Origin): void {
    const p = this.byProject.get(project);
    if (!p) return;
    let m: Message | undefined;
    const message = (): Message => (m ??= { topic, payload, value: decode(payload), device, arrival: this.clock.now() });
    for (let i = 0; i < p.tables.length; i++) {
      const t = p.tables[i]!;
      if (topicMatches(t.topic, topic)) t.put(message().value);
    }
    for (let i = 0; i < p.rules.length; i++) {
      const [key, r] = p.rules[i]!;
      if (!topicMatches(r.runner.query.topic, topic)) continue;
      if (origin) {
        if (origin.rule === key) continue;
        if (origin.hops >= MAX_HOPS) {
          r.metrics.in++;
          r.metrics.drop(`rule loop: the message went through ${origin.hops} rules (at most ${MAX_HOPS})`, topic, payload);
          continue;
        }
      }
      const outer = this.hops;
      this.hops = origin?.hops ?? 0;
      try {
        r.runner.ingest(message());
      } finally {
        this.hops = outer;
      }
    }
  }

  /** A failed action attempt of a rule, for its metrics. */
  sinkError(rule: string, action: string, message: string): void {
    this.rules.get(rule)?.metrics.sinkError(action, message);
  }

  metrics(): { rule: string; project: string; name: string; metrics: RuleMetricsSnapshot }[] {
    return [...this.rules].map(([rule, r]) => ({ rule, project: r.def.project, name: r.def.name, metrics: r.metrics.snapshot(r.runner.groups) }));
  }

  /** Saves the state of every rule whose windows changed since its last save. */
  checkpoint(): void {
    for (const [key, r] of this.rules) if (r.runner.changed) this.save(key);
  }

  /** Stops every rule, saving its state (a restart resumes the open windows). */
  stop(): void {
    for (const [key, r] of this.rules) {
      r.runner.stop();
      this.save(key);
    }
    this.rules.clear();
    this.byProject.clear();
  }

  private save(key: string): void {
    const r = this.rules.get(key);
    if (r && this.deps.checkpoints && r.runner.query.window) this.deps.checkpoints.save(key, r.runner.snapshot());
  }

  private tablesFor(def: RuleDefinition, prev: Running | undefined): Map<string, LookupTable> {
    const tables = new Map<string, LookupTable>();
    let twins = this.twinTables.get(def.project);
    if (!twins) this.twinTables.set(def.project, (twins = new TwinsTable((device) => this.deps.twin?.(def.project, device))));
    tables.set('twins', twins);
    for (const [name, spec] of Object.entries(def.tables ?? {})) {
      if ('rows' in spec) tables.set(name, new StaticTable(spec.rows));
      else {
        // An unchanged topic table keeps what it has seen.
        const old = prev?.tables.get(name);
        const same = old instanceof TopicTable && old.topic === spec.topic && JSON.stringify(prev!.def.tables?.[name]) === JSON.stringify(spec);
        tables.set(name, same ? old : new TopicTable(spec.topic, spec.key));
      }
    }
    return tables;
  }

  private reindex(): void {
    const next = new Map<string, { rules: [string, Running][]; tables: TopicTable[] }>();
    for (const [key, r] of [...this.rules].sort(([a], [b]) => a.localeCompare(b))) {
      let p = next.get(r.def.project);
      if (!p) next.set(r.def.project, (p = { rules: [], tables: [] }));
      p.rules.push([key, r]);
      for (const t of r.tables.values()) if (t instanceof TopicTable) p.tables.push(t);
    }
    this.byProject = next;
  }
}

const ruleKey = (d: RuleDefinition): string => `${d.project}/${d.name}`;

function decode(payload: Buffer): Value | typeof MALFORMED {
  try {
    return JSON.parse(payload.toString('utf8')) as Value;
  } catch {
    return MALFORMED;
  }
}
