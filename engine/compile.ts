import { AGGREGATES, isAggregate } from './aggregates.ts';
import { regexpProblem, SCALAR_FUNCTIONS } from './functions.ts';
import type { Expr, Pos, SelectStatement } from './language/ast.ts';
import { SqlError } from './language/errors.ts';
import { parseSql } from './language/parser.ts';
import type { CompiledAggregate, CompiledJoin, CompiledQuery, Eval, EvalCtx } from './query.ts';
import { cmpOp, likeMatcher, member, toText, truth, type Value } from './values.ts';
import { arity, binaryOp, defaultName, mentions, path, strip } from './closures.ts';

/** The built-in table of device twins: `{device, reported, desired, connected, lastSeen}` per device of the project. */
export const TWINS_TABLE = 'twins';

export interface CompileOptions {
  /** The rule's lookup tables (spec.tables), besides the built-in `twins`. */
  tables?: readonly string[];
}

/** Parses and checks a rule's SQL; throws SqlError (with line and column) for anything wrong. */
export function compileQuery(sql: string, opts: CompileOptions = {}): CompiledQuery {
  return new Compiler(parseSql(sql), opts.tables ?? []).compile();
}

/** Where an expression stands decides what it may use. */
type Clause = 'SELECT' | 'WHERE' | 'GROUP BY' | 'HAVING' | 'ON' | 'TIMESTAMP BY';

const META_FUNCTIONS: Record<string, { min: number; max: number; windowed?: boolean }> = {
  topic: { min: 0, max: 1 },
  device: { min: 0, max: 0 },
  payload: { min: 0, max: 0 },
  now: { min: 0, max: 0 },
  event_time: { min: 0, max: 0 },
  window_start: { min: 0, max: 0, windowed: true },
  window_end: { min: 0, max: 0, windowed: true },
};

class Compiler {
  private readonly streamAlias: string | undefined;
  /** Join alias -> index into Row.joined. */
  private readonly tableAliases = new Map<string, number>();
  private readonly aggregates: CompiledAggregate[] = [];
  private readonly aggregateKeys: string[] = [];
  private outputNames = new Set<string>();
  /** Joins visible to the expression being compiled (an ON sees the earlier ones and its own). */
  private visibleJoins = 0;

  constructor(
    private readonly stmt: SelectStatement,
    private readonly tables: readonly string[],
  ) {
    this.streamAlias = stmt.from.alias;
  }

  compile(): CompiledQuery {
    const s = this.stmt;
    const windowed = s.window !== undefined;
    // Every alias is known before any ON is compiled: one used before its JOIN is an error, not a payload field.
    s.joins.forEach((j, i) => this.declare(j, i));
    // The event time is read before the lookups (the runner's order), so it sees no joined table.
    const eventTime = s.from.timestamp && {
      of: this.expr(s.from.timestamp.expr, 'TIMESTAMP BY'),
      watermarkMs: s.from.timestamp.watermarkMs,
      latenessMs: s.from.timestamp.latenessMs,
    };
    const joins = s.joins.map((j, i) => this.join(j, i));
    this.visibleJoins = joins.length;
    const where = s.where && this.expr(s.where, 'WHERE');
    if (s.groupBy.length && !windowed) throw new SqlError('GROUP BY needs a window: add TUMBLING(1s), HOPPING, SLIDING or SESSION to it', s.groupBy[0]!.pos);
    const groupBy = s.groupBy.map((g) => this.expr(g, 'GROUP BY'));
    const project = this.selectList(windowed);
    if (s.having && !windowed) throw new SqlError('HAVING needs a window in GROUP BY', s.having.pos);
    const having = s.having && this.expr(s.having, 'HAVING');
    return {
      topic: s.from.topic,
      eventTime,
      joins,
      where,
      groupBy,
      window: s.window,
      aggregates: this.aggregates,
      project,
      having,
      columns: [...this.outputNames],
      tables: [...new Set(s.joins.map((j) => j.table).filter((t) => t !== TWINS_TABLE))],
      stateSignature: JSON.stringify({
        topic: s.from.topic,
        t: s.from.timestamp && strip(s.from.timestamp),
        g: s.groupBy.map(strip),
        w: s.window && strip(s.window),
        a: this.aggregateKeys,
      }),
    };
  }

  private declare(j: SelectStatement['joins'][number], i: number): void {
    if (j.table !== TWINS_TABLE && !this.tables.includes(j.table)) {
      throw new SqlError(`unknown table "${j.table}": declare it in the rule's spec.tables, or join ${TWINS_TABLE}`, j.pos);
    }
    const alias = j.alias ?? j.table;
    if (this.tableAliases.has(alias) || alias === this.streamAlias) throw new SqlError(`"${alias}" names two sources: give one another alias`, j.pos);
    this.tableAliases.set(alias, i);
  }

  private join(j: SelectStatement['joins'][number], i: number): CompiledJoin {
    const alias = j.alias ?? j.table;
    this.visibleJoins = i + 1;
    // `alias.column = <expression without this table>`: a keyed lookup.
    const keyed = this.keyedJoin(j.on, alias, i);
    if (j.table === TWINS_TABLE && keyed?.column !== 'device') throw new SqlError(`join ${TWINS_TABLE} on its device: ON ${alias}.device = device()`, j.on.pos);
    if (keyed) return { table: j.table, kind: j.kind, lookup: (c, t) => t.find(keyed.column, keyed.key(c)) };
    const on = this.expr(j.on, 'ON');
    return {
      table: j.table,
      kind: j.kind,
      lookup: (c, t) => {
        for (const candidate of t.rows()) {
          c.row.joined[i] = candidate;
          if (on(c) === true) return candidate;
        }
        c.row.joined[i] = null;
        return undefined;
      },
    };
  }

  private keyedJoin(on: Expr, alias: string, i: number): { column: string; key: Eval } | undefined {
    if (on.k !== 'binary' || on.op !== '=') return undefined;
    const column = (e: Expr): string | undefined => (e.k === 'ref' && e.parts.length === 2 && e.parts[0] === alias ? e.parts[1] : undefined);
    for (const [col, other] of [[on.left, on.right], [on.right, on.left]] as const) {
      const name = column(col);
      if (name === undefined || mentions(other, alias)) continue;
      this.visibleJoins = i; // the key side cannot see this table
      const key = this.expr(other, 'ON');
      this.visibleJoins = i + 1;
      return { column: name, key };
    }
    return undefined;
  }

  private selectList(windowed: boolean): (c: EvalCtx) => Record<string, Value> {
    const parts: ((c: EvalCtx, out: Record<string, Value>) => void)[] = [];
    this.stmt.select.forEach((item, n) => {
      if (item.k === 'star') {
        const from = this.starSource(item.source, item.pos);
        parts.push((c, out) => {
          const v = from(c);
          if (v && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, v);
        });
        return;
      }
      const name = item.alias ?? defaultName(item.expr, n);
      if (this.outputNames.has(name)) throw new SqlError(`two output columns are named "${name}": give one an alias (AS name)`, item.pos);
      this.outputNames.add(name);
      const e = this.expr(item.expr, 'SELECT', windowed);
      parts.push((c, out) => {
        out[name] = e(c);
      });
    });
    return (c) => {
      const out: Record<string, Value> = {};
      for (let i = 0; i < parts.length; i++) parts[i]!(c, out);
      return out;
    };
  }

  private starSource(source: string | undefined, pos: Pos): Eval {
    if (source === undefined || source === this.streamAlias) return (c) => c.row.payload;
    const idx = this.tableAliases.get(source);
    if (idx === undefined) throw new SqlError(`unknown source "${source}"`, pos);
    return (c) => c.row.joined[idx];
  }

  private expr(e: Expr, clause: Clause, windowed = this.stmt.window !== undefined, inAggregate = false): Eval {
    const sub = (x: Expr): Eval => this.expr(x, clause, windowed, inAggregate);
    switch (e.k) {
      case 'lit': {
        const v = e.value;
        return () => v;
      }
      case 'ref':
        return this.ref(e.parts, clause, e.pos);
      case 'index': {
        const arg = sub(e.arg);
        const index = sub(e.index);
        return (c) => {
          const k = index(c);
          return typeof k === 'number' || typeof k === 'string' ? member(arg(c), k) : null;
        };
      }
      case 'member': {
        const arg = sub(e.arg);
        const name = e.name;
        return (c) => member(arg(c), name);
      }
      case 'unary': {
        const arg = sub(e.arg);
        if (e.op === 'NOT') return (c) => { const t = truth(arg(c)); return t === null ? null : !t; };
        return (c) => { const v = arg(c); return typeof v === 'number' ? -v : null; };
      }
      case 'binary':
        return binaryOp(e.op, sub(e.left), sub(e.right));
      case 'call':
        return this.call(e, clause, windowed, inAggregate);
      case 'case': {
        const subject = e.subject && sub(e.subject);
        const whens = e.whens.map((w) => ({ when: sub(w.when), then: sub(w.then) }));
        const otherwise = e.else ? sub(e.else) : () => null;
        return (c) => {
          const s = subject?.(c);
          for (const w of whens) if (subject ? cmpOp('=', s, w.when(c)) === true : w.when(c) === true) return w.then(c);
          return otherwise(c);
        };
      }
      case 'in': {
        const arg = sub(e.arg);
        const list = e.list.map(sub);
        const not = e.not;
        return (c) => {
          const v = arg(c);
          if (v === null) return null;
          let unknown = false;
          for (const x of list) {
            const eq = cmpOp('=', v, x(c));
            if (eq === true) return !not;
            if (eq === null) unknown = true;
          }
          return unknown ? null : not;
        };
      }
      case 'between': {
        const arg = sub(e.arg);
        const low = sub(e.low);
        const high = sub(e.high);
        const not = e.not;
        return (c) => {
          const v = arg(c);
          const a = cmpOp('>=', v, low(c));
          const b = cmpOp('<=', v, high(c));
          const r = a === false || b === false ? false : a === null || b === null ? null : true;
          return r === null ? null : r !== not;
        };
      }
      case 'like': {
        const arg = sub(e.arg);
        const not = e.not;
        const fixed = e.pattern.k === 'lit' && typeof e.pattern.value === 'string' ? likeMatcher(e.pattern.value) : undefined;
        const pattern = sub(e.pattern);
        return (c) => {
          const s = toText(arg(c));
          const p = fixed ? undefined : pattern(c);
          const match = fixed ?? (typeof p === 'string' ? likeMatcher(p) : undefined);
          return s === null || match === undefined ? null : match(s) !== not;
        };
      }
      case 'isnull': {
        const arg = sub(e.arg);
        const not = e.not;
        return (c) => { const v = arg(c); return (v === null || v === undefined) !== not; };
      }
    }
  }

  private ref(parts: string[], clause: Clause, pos: Pos): Eval {
    const [first, ...rest] = parts as [string, ...string[]];
    const idx = this.tableAliases.get(first);
    if (idx !== undefined) {
      if (idx >= this.visibleJoins) throw new SqlError(`"${first}" is not joined yet here`, pos);
      return path((c) => c.row.joined[idx], rest);
    }
    if (first === this.streamAlias && (rest.length || !this.outputNames.has(first))) return path((c) => c.row.payload, rest);
    if (clause === 'HAVING' && rest.length === 0 && this.outputNames.has(first)) return (c) => (c.out ? c.out[first] : null);
    return path((c) => c.row.payload, parts);
  }

  private call(e: Extract<Expr, { k: 'call' }>, clause: Clause, windowed: boolean, inAggregate: boolean): Eval {
    const name = e.name;
    if (isAggregate(name)) return this.aggregate(e, clause, windowed, inAggregate);
    if (e.star) throw new SqlError(`${name}(*) is not a thing: only count(*) takes *`, e.pos);
    const meta = META_FUNCTIONS[name];
    const scalar = SCALAR_FUNCTIONS[name];
    const spec = meta ?? scalar;
    if (!spec) throw new SqlError(`unknown function "${name}"`, e.pos);
    arity(name, spec.min, spec.max, e);
    if (meta) return this.meta(name, e, windowed);
    const pattern = e.args[1];
    if (name === 'regexp_match' && pattern?.k === 'lit' && typeof pattern.value === 'string') {
      // Refused at apply, not discovered as a null per message: rules' patterns are RE2 (linear time, no backreferences or lookaround).
      const problem = regexpProblem(pattern.value);
      if (problem) throw new SqlError(`regexp_match: ${problem}`, pattern.pos);
    }
    const args = e.args.map((a) => this.expr(a, clause, windowed, inAggregate));
    const fn = scalar!.fn;
    if (args.length === 1) {
      const a0 = args[0]!;
      return (c) => fn([a0(c)]);
    }
    return (c) => fn(args.map((a) => a(c)));
  }

  private meta(name: string, e: Extract<Expr, { k: 'call' }>, windowed: boolean): Eval {
    switch (name) {
      case 'topic': {
        if (!e.args.length) return (c) => c.row.topic;
        const n = e.args[0]!;
        // The parser reads -1 as a minus applied to 1.
        const level = n.k === 'lit' ? n.value : n.k === 'unary' && n.op === '-' && n.arg.k === 'lit' && typeof n.arg.value === 'number' ? -n.arg.value : null;
        if (typeof level !== 'number' || !Number.isInteger(level) || level === 0) {
          throw new SqlError('topic(n) takes a level number: 1 for the first level, -1 for the last', n.pos);
        }
        return (c) => {
          const levels = c.row.topic.split('/');
          return levels[level > 0 ? level - 1 : levels.length + level] ?? null;
        };
      }
      case 'device':
        return (c) => c.row.device;
      case 'payload':
        return (c) => c.row.payload;
      case 'now':
        return (c) => c.now;
      case 'event_time':
        return (c) => c.row.time;
      default:
        if (!windowed) throw new SqlError(`${name}() needs a window in GROUP BY`, e.pos);
        return name === 'window_start' ? (c) => c.window?.start ?? null : (c) => c.window?.end ?? null;
    }
  }

  private aggregate(e: Extract<Expr, { k: 'call' }>, clause: Clause, windowed: boolean, inAggregate: boolean): Eval {
    const name = e.name;
    if (inAggregate) throw new SqlError(`aggregates cannot be nested: ${name}() inside another aggregate`, e.pos);
    if (clause !== 'SELECT' && clause !== 'HAVING') throw new SqlError(`aggregate ${name}() is not allowed in ${clause}`, e.pos);
    if (!windowed) throw new SqlError(`aggregate ${name}() needs a window: add GROUP BY TUMBLING(1s) (or HOPPING, SLIDING, SESSION)`, e.pos);
    const kind = AGGREGATES[name]!;
    let arg: Eval;
    let param: number | undefined;
    if (e.star) {
      if (name !== 'count') throw new SqlError(`${name}(*) is not a thing: only count(*) takes *`, e.pos);
      arg = () => 1;
    } else {
      arity(name, kind.args, kind.args, e);
      arg = this.expr(e.args[0]!, clause, windowed, true);
      if (name === 'percentile') {
        const p = e.args[1]!;
        if (p.k !== 'lit' || typeof p.value !== 'number' || p.value < 0 || p.value > 1) throw new SqlError('percentile(x, p) takes p as a number from 0 to 1, e.g. 0.99', p.pos);
        param = p.value;
      }
    }
    const key = JSON.stringify(strip(e));
    let i = this.aggregateKeys.indexOf(key);
    if (i < 0) {
      i = this.aggregates.push({ kind, arg, param }) - 1;
      this.aggregateKeys.push(key);
    }
    const at = i;
    return (c) => (c.aggs ? c.aggs[at] : null);
  }
}
