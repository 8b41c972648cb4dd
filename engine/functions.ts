import { RE2JS } from 're2js';
import { isNum, likeMatcher, toEpochMs, toNumber, toText, type Value } from './values.ts';

/**
 * The scalar functions of the rule language (docs/rules-sql.md). Each takes
 * evaluated arguments and returns null for arguments of the wrong type. The
 * functions that read the message or the window (topic(), device(),
 * payload(), now(), window_start(), window_end(), event_time()) are compiled
 * in compile.ts; the aggregates live in aggregates.ts.
 */
export interface ScalarFunction {
  min: number;
  max: number;
  fn: (args: Value[]) => Value;
}

const num1 = (f: (x: number) => number) => (a: Value[]): Value => {
  const x = toNumber(a[0]);
  if (x === null) return null;
  const r = f(x);
  return Number.isFinite(r) ? r : null;
};
const str1 = (f: (s: string) => Value) => (a: Value[]): Value => {
  const s = toText(a[0]);
  return s === null ? null : f(s);
};
const str2 = (f: (s: string, t: string) => Value) => (a: Value[]): Value => {
  const s = toText(a[0]);
  const t = toText(a[1]);
  return s === null || t === null ? null : f(s, t);
};

/**
 * Compiled patterns by source (rules reuse a few at high rates). RE2 syntax,
 * matched in time linear in the input: a pattern such as `^(a+)+$`, which
 * takes a backtracking engine exponential time on the wrong input, cannot
 * freeze an edge. null: not a valid pattern.
 */
const regexps = new Map<string, RE2JS | null>();
function regexp(src: string): RE2JS | null {
  let re = regexps.get(src);
  if (re === undefined) {
    try {
      re = RE2JS.compile(src);
    } catch {
      re = null;
    }
    if (regexps.size > 1000) regexps.clear();
    regexps.set(src, re);
  }
  return re;
}

/** Why a pattern cannot be a rule's regular expression (undefined: it can). */
export function regexpProblem(src: string): string | undefined {
  try {
    RE2JS.compile(src);
    return undefined;
  } catch (e) {
    return `${(e as Error).message} (patterns are RE2: linear time, no backreferences or lookaround)`;
  }
}

function round(a: Value[]): Value {
  const x = toNumber(a[0]);
  const d = a.length > 1 ? toNumber(a[1]) : 0;
  if (x === null || d === null || !Number.isInteger(d) || d < 0 || d > 15) return null;
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

function substring(a: Value[]): Value {
  const s = toText(a[0]);
  const start = toNumber(a[1]);
  const len = a.length > 2 ? toNumber(a[2]) : null;
  if (s === null || start === null || (a.length > 2 && len === null)) return null;
  // SQL positions are 1-based.
  const from = Math.max(0, Math.trunc(start) - 1);
  return len === null ? s.slice(from) : s.slice(from, from + Math.max(0, Math.trunc(len)));
}

function extreme(pick: (a: number, b: number) => number) {
  return (a: Value[]): Value => {
    let best: number | null = null;
    for (const v of a) if (isNum(v)) best = best === null ? v : pick(best, v);
    return best;
  };
}

function formatTime(a: Value[]): Value {
  const ms = toEpochMs(a[0]);
  if (ms === null) return null;
  const fmt = a.length > 1 ? toText(a[1]) : 'iso';
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return null;
  switch (fmt) {
    case 'iso':
      return d.toISOString();
    case 'date':
      return d.toISOString().slice(0, 10);
    case 'time':
      return d.toISOString().slice(11, 23);
    case 'epoch':
      return Math.floor(ms / 1000);
    default:
      return null;
  }
}

function toBool(a: Value[]): Value {
  const v = a[0];
  if (typeof v === 'boolean') return v;
  if (isNum(v)) return v !== 0;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (s === 'true' || s === '1' || s === 'yes' || s === 'on') return true;
    if (s === 'false' || s === '0' || s === 'no' || s === 'off') return false;
  }
  return null;
}

function parseJson(a: Value[]): Value {
  const s = toText(a[0]);
  if (s === null) return null;
  try {
    return JSON.parse(s) as Value;
  } catch {
    return null;
  }
}

export const SCALAR_FUNCTIONS: Readonly<Record<string, ScalarFunction>> = {
  // strings
  lower: { min: 1, max: 1, fn: str1((s) => s.toLowerCase()) },
  upper: { min: 1, max: 1, fn: str1((s) => s.toUpperCase()) },
  trim: { min: 1, max: 1, fn: str1((s) => s.trim()) },
  length: { min: 1, max: 1, fn: (a) => (Array.isArray(a[0]) ? a[0].length : typeof a[0] === 'string' ? a[0].length : null) },
  concat: { min: 1, max: 64, fn: (a) => a.map((v) => toText(v) ?? '').join('') },
  substring: { min: 2, max: 3, fn: substring },
  replace: { min: 3, max: 3, fn: (a) => { const s = toText(a[0]); const f = toText(a[1]); const t = toText(a[2]); return s === null || f === null || t === null || f === '' ? null : s.split(f).join(t); } },
  split: { min: 2, max: 2, fn: str2((s, sep) => s.split(sep)) },
  starts_with: { min: 2, max: 2, fn: str2((s, p) => s.startsWith(p)) },
  ends_with: { min: 2, max: 2, fn: str2((s, p) => s.endsWith(p)) },
  contains: { min: 2, max: 2, fn: (a) => (Array.isArray(a[0]) ? a[0].includes(a[1]) : str2((s, p) => s.includes(p))(a)) },
  regexp_match: { min: 2, max: 2, fn: str2((s, re) => { const r = regexp(re); return r === null ? null : r.test(s); }) },
  like: { min: 2, max: 2, fn: str2((s, p) => likeMatcher(p)(s)) },
  // math
  abs: { min: 1, max: 1, fn: num1(Math.abs) },
  round: { min: 1, max: 2, fn: round },
  floor: { min: 1, max: 1, fn: num1(Math.floor) },
  ceil: { min: 1, max: 1, fn: num1(Math.ceil) },
  sqrt: { min: 1, max: 1, fn: num1(Math.sqrt) },
  exp: { min: 1, max: 1, fn: num1(Math.exp) },
  ln: { min: 1, max: 1, fn: num1(Math.log) },
  log10: { min: 1, max: 1, fn: num1(Math.log10) },
  pow: { min: 2, max: 2, fn: (a) => { const x = toNumber(a[0]); const y = toNumber(a[1]); if (x === null || y === null) return null; const r = x ** y; return Number.isFinite(r) ? r : null; } },
  mod: { min: 2, max: 2, fn: (a) => { const x = toNumber(a[0]); const y = toNumber(a[1]); return x === null || y === null || y === 0 ? null : x % y; } },
  greatest: { min: 1, max: 64, fn: extreme(Math.max) },
  least: { min: 1, max: 64, fn: extreme(Math.min) },
  // time
  format_time: { min: 1, max: 2, fn: formatTime },
  to_ms: { min: 1, max: 1, fn: (a) => toEpochMs(a[0]) },
  // conversion and conditionals
  to_number: { min: 1, max: 1, fn: (a) => toNumber(a[0]) },
  cast_number: { min: 1, max: 1, fn: (a) => toNumber(a[0]) },
  to_string: { min: 1, max: 1, fn: (a) => toText(a[0]) },
  to_bool: { min: 1, max: 1, fn: toBool },
  coalesce: { min: 1, max: 64, fn: (a) => a.find((v) => v !== null && v !== undefined) ?? null },
  if: { min: 3, max: 3, fn: (a) => (a[0] === true ? a[1] : a[2]) },
  json: { min: 1, max: 1, fn: parseJson },
};
