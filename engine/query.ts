import type { AggregateKind } from './aggregates.ts';
import type { WindowSpec } from './language/ast.ts';
import type { Value } from './values.ts';

/** One message as a query sees it. */
export interface Row {
  /** The decoded JSON payload. */
  payload: Value;
  /** Project-relative topic. */
  topic: string;
  /** The publishing device; null for messages of the agent or another rule. */
  device: string | null;
  /** Event time (TIMESTAMP BY) or, by default, arrival time; epoch ms. */
  time: number;
  /** One entry per JOIN: the table row found, or null (LEFT JOIN without a match). */
  joined: Value[];
}

export interface EvalCtx {
  row: Row;
  /** The group's aggregate results, in CompiledQuery.aggregates order; null outside a window. */
  aggs: Value[] | null;
  window: { start: number; end: number } | null;
  /** The engine's clock, epoch ms. */
  now: number;
  /** The projected output, for HAVING's references to output names. */
  out: Record<string, Value> | null;
}

export type Eval = (c: EvalCtx) => Value;

/** A rule's lookup table, as the engine offers it to joins. */
export interface LookupTable {
  /** The first row whose `column` equals key. */
  find(column: string, key: Value): Value | undefined;
  rows(): Iterable<Value>;
}

export interface CompiledJoin {
  table: string;
  kind: 'inner' | 'left';
  /** The row to join, given the message (with the earlier joins filled in). */
  lookup(c: EvalCtx, table: LookupTable): Value | undefined;
}

export interface CompiledAggregate {
  kind: AggregateKind;
  arg: Eval;
  /** percentile's p. */
  param?: number;
}

/** What compileQuery makes of a statement: closures over the row, and the window. */
export interface CompiledQuery {
  /** The FROM topic filter. */
  topic: string;
  eventTime?: { of: Eval; watermarkMs: number; latenessMs: number };
  joins: CompiledJoin[];
  where?: Eval;
  groupBy: Eval[];
  window?: WindowSpec;
  aggregates: CompiledAggregate[];
  /** The SELECT list as an object. */
  project(c: EvalCtx): Record<string, Value>;
  having?: Eval;
  /** Output names in order (a `*` contributes none: its fields vary by message). */
  columns: string[];
  /** Tables the joins read (not counting the built-in `twins`). */
  tables: string[];
  /**
   * What the window state depends on (source, event time, grouping, window,
   * aggregates): a checkpoint or an update in place keeps the state only when
   * this is unchanged.
   */
  stateSignature: string;
}
