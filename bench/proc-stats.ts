import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

// Linux /proc readers for the processes a benchmark started (proc(5)).

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** Resident set size in MiB (VmRSS of /proc/<pid>/status). */
export function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** CPU seconds used so far (utime + stime, fields 14 and 15 of /proc/<pid>/stat). */
export function cpuSeconds(pid: number): number {
  const fields = statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return (Number(fields[13]) + Number(fields[14])) / CLK_TCK;
}

/** Samples the CPU use of `pids` over `ms`, as % of one core each. */
export async function cpuPercent(pids: number[], ms: number): Promise<number[]> {
  const t0 = performance.now();
  const before = pids.map(cpuSeconds);
  await new Promise((r) => setTimeout(r, ms));
  const after = pids.map(cpuSeconds);
  const wall = (performance.now() - t0) / 1000;
  return pids.map((_, i) => ((after[i]! - before[i]!) / wall) * 100);
}

/** How many live processes have a parent in `parents`. */
export function countChildren(parents: number[]): Map<number, number> {
  const counts = new Map(parents.map((p) => [p, 0]));
  for (const c of childrenOf(parents)) counts.set(c.ppid, counts.get(c.ppid)! + 1);
  return counts;
}

/** The live processes whose parent is in `parents`: pid, parent and command line. */
export function childrenOf(parents: number[]): { pid: number; ppid: number; cmd: string }[] {
  const wanted = new Set(parents);
  const out: { pid: number; ppid: number; cmd: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    const fields = statFields(stat);
    const ppid = Number(fields[3]);
    // Zombies are gone as far as workloads go; their parent only has to reap them.
    if (!wanted.has(ppid) || fields[2] === 'Z') continue;
    let cmd = fields[1] ?? '';
    try {
      cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim() || cmd;
    } catch {
      // exited while we looked: its name from stat stands
    }
    out.push({ pid: Number(entry), ppid, cmd });
  }
  return out;
}

/** The fields of a stat line; the command (field 2) may hold spaces and parentheses. */
function statFields(stat: string): string[] {
  const close = stat.lastIndexOf(')');
  return [stat.slice(0, stat.indexOf(' ')), stat.slice(stat.indexOf('(') + 1, close), ...stat.slice(close + 2).trim().split(' ')];
}

/**
 * Seconds of stall since boot from pressure stall information (PSI,
 * /proc/pressure/<resource>): `some` (at least one task waited) or `full`
 * (every non-idle task did); null without PSI. The machine's own noise, for
 * telling a slow run from a slow gedge.
 */
export function stallSeconds(resource: 'cpu' | 'io' | 'memory', kind: 'some' | 'full'): number | null {
  try {
    const m = new RegExp(`^${kind} .*total=(\\d+)`, 'm').exec(readFileSync(`/proc/pressure/${resource}`, 'utf8'));
    return m ? Number(m[1]) / 1e6 : null;
  } catch {
    return null;
  }
}
