/**
 * The syntax tree of a rule's SQL (docs/rules-sql.md). The parser builds it and
 * nothing else; names are resolved and checked by the analyzer (analyze.ts),
 * and the compiler turns it into closures. Every node keeps the position of
 * its first token, so a later error can still name line and column.
 */

export interface Pos {
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  /** 0-based character offset in the SQL text. */
  offset: number;
}

export type BinaryOp = '+' | '-' | '*' | '/' | '%' | '||' | '=' | '!=' | '<' | '<=' | '>' | '>=' | 'AND' | 'OR';

export type Expr =
  /** A literal: NULL, TRUE/FALSE, a number, or a 'string' (single quotes; '' escapes a quote). */
  | { k: 'lit'; value: null | boolean | number | string; pos: Pos }
  /**
   * A name or a dotted path: `speed`, `s.speed`, `payload.a.b`, "quoted name".
   * Whether the first part names a source (the stream's or a table's alias)
   * or a payload field is the analyzer's business.
   */
  | { k: 'ref'; parts: string[]; pos: Pos }
  /** `x[0]`, `x['key']`. */
  | { k: 'index'; arg: Expr; index: Expr; pos: Pos }
  /** `(expr).name` or `x[0].name`: a field of a computed value. */
  | { k: 'member'; arg: Expr; name: string; pos: Pos }
  | { k: 'unary'; op: '-' | 'NOT'; arg: Expr; pos: Pos }
  | { k: 'binary'; op: BinaryOp; left: Expr; right: Expr; pos: Pos }
  /** A function call, name lower-cased. `count(*)` has star set and no args. */
  | { k: 'call'; name: string; args: Expr[]; star: boolean; pos: Pos }
  /** `CASE [subject] WHEN a THEN b ... [ELSE c] END`. */
  | { k: 'case'; subject?: Expr; whens: { when: Expr; then: Expr }[]; else?: Expr; pos: Pos }
  | { k: 'in'; arg: Expr; list: Expr[]; not: boolean; pos: Pos }
  | { k: 'between'; arg: Expr; low: Expr; high: Expr; not: boolean; pos: Pos }
  /** `LIKE` with % and _ wildcards. */
  | { k: 'like'; arg: Expr; pattern: Expr; not: boolean; pos: Pos }
  | { k: 'isnull'; arg: Expr; not: boolean; pos: Pos };

/** `SELECT *` (every payload field), or `s.*` / `t.*` (every field of one source). */
export interface StarItem {
  k: 'star';
  source?: string;
  pos: Pos;
}

export interface SelectItem {
  k: 'item';
  expr: Expr;
  /** `AS name`, or a bare name after the expression. */
  alias?: string;
  pos: Pos;
}

/** A duration literal like 500ms, 1s, 2m, 1h, as milliseconds. */
export type DurationMs = number;

export type WindowSpec =
  | { type: 'tumbling'; sizeMs: DurationMs; pos: Pos }
  | { type: 'hopping'; sizeMs: DurationMs; hopMs: DurationMs; pos: Pos }
  | { type: 'sliding'; sizeMs: DurationMs; pos: Pos }
  | { type: 'session'; gapMs: DurationMs; maxMs?: DurationMs; pos: Pos };

export interface Source {
  /** The MQTT topic filter (+ and # wildcards), project-relative. */
  topic: string;
  alias?: string;
  /** `TIMESTAMP BY expr [WATERMARK d] [LATENESS d]`: event time; processing time when absent. */
  timestamp?: { expr: Expr; watermarkMs: DurationMs; latenessMs: DurationMs; pos: Pos };
  pos: Pos;
}

export interface Join {
  kind: 'inner' | 'left';
  /** A lookup table of the rule (spec.tables) or the built-in `twins`. */
  table: string;
  alias?: string;
  on: Expr;
  pos: Pos;
}

export interface SelectStatement {
  select: (SelectItem | StarItem)[];
  from: Source;
  joins: Join[];
  where?: Expr;
  /** The GROUP BY expressions, without the window. */
  groupBy: Expr[];
  /** The window named among the GROUP BY items (at most one). */
  window?: WindowSpec;
  having?: Expr;
  pos: Pos;
}
