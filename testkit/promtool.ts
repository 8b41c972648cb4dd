import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where scripts/ensure-promtool.sh unpacks promtool when it is not on PATH. */
const UNPACKED = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'gedge', 'promtool', 'usr', 'bin', 'promtool');

/**
 * Runs `promtool check metrics` (Prometheus' own linter of the exposition
 * format and its naming conventions) on a /metrics text; its complaints, or
 * none. promtool on PATH or as scripts/ensure-promtool.sh left it.
 */
export function promtoolProblems(metrics: string): string[] {
  const bin = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).stdout.trim() || (existsSync(UNPACKED) ? UNPACKED : undefined);
  if (!bin) throw new Error('promtool is missing: run scripts/ensure-promtool.sh (npm test does)');
  const r = spawnSync(bin, ['check', 'metrics'], { input: metrics, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  return r.status === 0 ? [] : `${r.stdout}${r.stderr}`.split('\n').filter(Boolean);
}

/** One series' value in a /metrics text (`name` or `name{labels}` exactly as exposed); NaN when it is not there. */
export function metricSample(text: string, series: string): number {
  return Number(new RegExp(`^${series.replace(/[{}"+.\\]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}
