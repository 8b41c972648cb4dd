import type { Expr } from './language/ast.ts';
import { SqlError } from './language/errors.ts';
import type { Eval } from './query.ts';
import { arith, cmpOp, member, toText, truth, type Value } from './values.ts';

/**
 * What the compiler (compile.ts) builds its closures from: operators with
 * SQL's three-valued logic, field paths with the common depths unrolled,
 * and facts about syntax trees (arity, mentions, default names, position-
 * free forms).
 */

/** A binary operator over two compiled operands: AND/OR with NULL as unknown, ||, arithmetic and comparisons. */
export function binaryOp(op: string, l: Eval, r: Eval): Eval {
  switch (op) {
    case 'AND':
      return (c) => {
        const a = truth(l(c));
        if (a === false) return false;
        const b = truth(r(c));
        return b === false ? false : a === null || b === null ? null : true;
      };
    case 'OR':
      return (c) => {
        const a = truth(l(c));
        if (a === true) return true;
        const b = truth(r(c));
        return b === true ? true : a === null || b === null ? null : false;
      };
    case '||':
      return (c) => { const a = toText(l(c)); const b = toText(r(c)); return a === null || b === null ? null : a + b; };
    case '+':
    case '-':
    case '*':
    case '/':
    case '%':
      return (c) => arith(op, l(c), r(c));
    default:
      return (c) => cmpOp(op, l(c), r(c));
  }
}

export function arity(name: string, min: number, max: number, e: Extract<Expr, { k: 'call' }>): void {
  const n = e.args.length;
  if (n >= min && n <= max) return;
  const want = min === max ? `${min} argument${min === 1 ? '' : 's'}` : `${min} to ${max} arguments`;
  throw new SqlError(`${name}() takes ${want}, got ${n}`, e.pos);
}

/** A field path read from a base value, with the common one- and two-level cases unrolled. */
export function path(base: Eval, parts: string[]): Eval {
  if (parts.length === 0) return base;
  if (parts.length === 1) {
    const a = parts[0]!;
    return (c) => member(base(c), a);
  }
  if (parts.length === 2) {
    const [a, b] = parts as [string, string];
    return (c) => member(member(base(c), a), b);
  }
  return (c) => parts.reduce<Value>((v, p) => member(v, p), base(c));
}

export function mentions(e: Expr, alias: string): boolean {
  let found = false;
  const visit = (x: unknown): void => {
    if (found || !x || typeof x !== 'object') return;
    const n = x as { k?: string; parts?: string[] };
    if (n.k === 'ref' && n.parts?.[0] === alias) found = true;
    for (const v of Object.values(x)) if (v && typeof v === 'object') visit(v);
  };
  visit(e);
  return found;
}

/** The name of an output column without an alias: a field's last part, a function's name. */
export function defaultName(e: Expr, n: number): string {
  if (e.k === 'ref') return e.parts.at(-1)!;
  if (e.k === 'member') return e.name;
  if (e.k === 'call') return e.name;
  return `col${n + 1}`;
}

/** A node without positions: the same expression written twice compares equal. */
export function strip(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(strip);
  if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).filter(([k]) => k !== 'pos').map(([k, v]) => [k, strip(v)]));
  return x;
}
