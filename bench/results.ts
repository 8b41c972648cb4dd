import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * One measured figure. `peer`, `peerName` and `ratio` are null when no peer
 * runs in the same benchmark; `goal` is a comparison such as "<= 1000 ms",
 * or "report" when the figure has no target yet.
 */
export interface Metric {
  name: string;
  unit: string;
  ours: number;
  peer: number | null;
  peerName: string | null;
  ratio: number | null;
  goal: string;
}

/** What `bench/results/<suite>.json` holds. */
export interface SuiteResult {
  suite: string;
  at: string;
  metrics: Metric[];
}

/** A metric; the ratio is ours / peer, so below 1 is better when lower is better. */
export function metric(name: string, unit: string, ours: number, goal: string, peer?: { name: string; value: number }): Metric {
  return {
    name,
    unit,
    ours: round(ours),
    peer: peer ? round(peer.value) : null,
    peerName: peer?.name ?? null,
    ratio: peer && peer.value !== 0 ? round(ours / peer.value) : null,
    goal,
  };
}

/** PASS or MISS against a goal like "<= 60 MiB"; null when the goal is not a comparison. */
export function meetsGoal(m: Metric): boolean | null {
  const g = /^\s*(<=|>=|<|>)\s*(-?[\d.]+)/.exec(m.goal);
  if (!g) return null;
  const limit = Number(g[2]);
  switch (g[1]) {
    case '<=':
      return m.ours <= limit;
    case '<':
      return m.ours < limit;
    case '>=':
      return m.ours >= limit;
    default:
      return m.ours > limit;
  }
}

export function writeResults(file: string, r: SuiteResult): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(r, null, 2) + '\n');
}

/** A plain-text table: metric, unit, ours, peer (name), ratio, goal, and PASS/MISS. */
export function formatTable(r: SuiteResult): string {
  const rows = [
    ['metric', 'unit', 'ours', 'peer', 'ratio', 'goal', ''],
    ...r.metrics.map((m) => {
      const ok = meetsGoal(m);
      return [
        m.name,
        m.unit,
        String(m.ours),
        m.peer === null ? '-' : `${m.peer} (${m.peerName})`,
        m.ratio === null ? '-' : m.ratio.toFixed(2),
        m.goal,
        ok === null ? '' : ok ? 'PASS' : 'MISS',
      ];
    }),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row
      .map((cell, i) => (i >= 2 && i <= 4 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [`${r.suite} @ ${r.at}`, line(rows[0]!), line(widths.map((w) => '-'.repeat(w))), ...rows.slice(1).map(line)].join('\n');
}

function round(v: number): number {
  return Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 100) / 100;
}
