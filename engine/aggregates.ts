import { isNum, type Value } from './values.ts';

/**
 * Aggregate functions. An accumulator's state is plain JSON so a window can
 * be checkpointed and restored after an agent restart. Nulls and values of
 * the wrong type are skipped, as in SQL; an aggregate over no values is null
 * (count is 0).
 */
export interface AggregateKind {
  /** Argument count, besides `*` for count. */
  args: number;
  init(): unknown;
  add(state: unknown, value: Value): unknown;
  result(state: unknown, param: number | undefined): Value;
}

type Sum = { s: number; n: number };
type Welford = { n: number; mean: number; m2: number };
type Extreme = { v: number | null };

const sumLike = (result: (s: Sum) => Value): AggregateKind => ({
  args: 1,
  init: (): Sum => ({ s: 0, n: 0 }),
  add: (st, v) => {
    const s = st as Sum;
    if (isNum(v)) {
      s.s += v;
      s.n++;
    }
    return s;
  },
  result: (st) => result(st as Sum),
});

const extreme = (better: (a: number, b: number) => boolean): AggregateKind => ({
  args: 1,
  init: (): Extreme => ({ v: null }),
  add: (st, v) => {
    const s = st as Extreme;
    if (isNum(v) && (s.v === null || better(v, s.v))) s.v = v;
    return s;
  },
  result: (st) => (st as Extreme).v,
});

/** Every value, kept: percentile and collect need them all. */
const values = (result: (vs: Value[], p: number | undefined) => Value, numeric: boolean): AggregateKind => ({
  args: numeric ? 2 : 1,
  init: (): Value[] => [],
  add: (st, v) => {
    const vs = st as Value[];
    if (numeric ? isNum(v) : v !== null && v !== undefined) vs.push(v);
    return vs;
  },
  result: (st, p) => result(st as Value[], p),
});

/** Linear interpolation between the closest ranks (the "R-7" definition, as in numpy and Excel). */
export function percentileOf(sorted: number[], p: number): number | null {
  if (!sorted.length) return null;
  const rank = p * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

export const AGGREGATES: Readonly<Record<string, AggregateKind>> = {
  count: {
    args: 1,
    init: () => 0,
    // count(*) is compiled with a constant non-null argument.
    add: (st, v) => (v === null || v === undefined ? st : (st as number) + 1),
    result: (st) => st as number,
  },
  sum: sumLike((s) => (s.n ? s.s : null)),
  avg: sumLike((s) => (s.n ? s.s / s.n : null)),
  min: extreme((a, b) => a < b),
  max: extreme((a, b) => a > b),
  stddev: {
    // Sample standard deviation, by Welford's method (stable for long windows).
    args: 1,
    init: (): Welford => ({ n: 0, mean: 0, m2: 0 }),
    add: (st, v) => {
      const w = st as Welford;
      if (isNum(v)) {
        w.n++;
        const d = v - w.mean;
        w.mean += d / w.n;
        w.m2 += d * (v - w.mean);
      }
      return w;
    },
    result: (st) => {
      const w = st as Welford;
      return w.n < 2 ? null : Math.sqrt(w.m2 / (w.n - 1));
    },
  },
  percentile: values((vs, p) => percentileOf((vs as number[]).slice().sort((a, b) => a - b), p ?? 0.5), true),
  collect: values((vs) => vs.slice(), false),
};

export const isAggregate = (name: string): boolean => Object.prototype.hasOwnProperty.call(AGGREGATES, name);
