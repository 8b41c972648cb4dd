import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { platform } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { InstanceUsage } from '../core/index.ts';
import { nameKey } from '../core/index.ts';

/** An instance to measure: the host pid at the root of its process tree (process runtime and podman alike). */
export interface InstanceRoot {
  project: string;
  name: string;
  pid: number;
}

const PAGE_BYTES = 4096;
const MiB = 1024 * 1024;

/** What one /proc/<pid>/stat says about a process. */
interface ProcStat {
  ppid: number;
  /** utime + stime of its threads, plus cutime + cstime of the children it reaped, in clock ticks. */
  ticks: number;
  rssPages: number;
}

/**
 * CPU and memory of each running instance, summed over its process tree.
 * CPU is in cores since the previous sample of the same instance; an
 * instance seen for the first time (or whose root pid changed: it
 * restarted) reports 0. Off Linux there is no /proc: nothing is reported.
 */
export class InstanceUsageSampler {
  private prev = new Map<string, { pid: number; ticks: number; at: number }>();
  private hz: Promise<number> | undefined;

  async sample(roots: readonly InstanceRoot[]): Promise<InstanceUsage[]> {
    if (platform() !== 'linux' || roots.length === 0) {
      this.prev.clear();
      return [];
    }
    const hz = await (this.hz ??= clockTicks());
    const procs = await scanProcs();
    const at = performance.now();
    const children = childrenOf(procs);
    const next = new Map<string, { pid: number; ticks: number; at: number }>();
    const out: InstanceUsage[] = [];
    for (const r of roots) {
      if (!procs.has(r.pid)) continue; // gone since the status said Running: report nothing rather than a guess
      const { ticks, rssPages } = treeTotals(r.pid, procs, children);
      const key = nameKey(r.project, r.name);
      const before = this.prev.get(key);
      const seconds = before ? (at - before.at) / 1000 : 0;
      // Ticks can go back when a descendant is reparented away from the tree; that interval counts 0.
      const cores = before && before.pid === r.pid && seconds > 0 ? Math.max(0, ticks - before.ticks) / hz / seconds : 0;
      next.set(key, { pid: r.pid, ticks, at });
      out.push({ project: r.project, name: r.name, cpu: Math.round(cores * 1000) / 1000, memoryMiB: Math.round(((rssPages * PAGE_BYTES) / MiB) * 10) / 10 });
    }
    this.prev = next; // instances no longer passed are forgotten
    return out;
  }
}

/** USER_HZ: 100 on every mainstream Linux; asked once, 100 when getconf is missing. */
function clockTicks(): Promise<number> {
  return new Promise((resolve) => {
    execFile('getconf', ['CLK_TCK'], { timeout: 2000 }, (err, stdout) => {
      const n = err ? NaN : Number(stdout.trim());
      resolve(Number.isInteger(n) && n > 0 ? n : 100);
    });
  });
}

/** One pass over /proc: every process that still exists when its stat is read. */
async function scanProcs(): Promise<Map<number, ProcStat>> {
  const procs = new Map<number, ProcStat>();
  const entries = await readdir('/proc').catch(() => [] as string[]);
  await Promise.all(
    entries.map(async (e) => {
      if (!/^\d+$/.test(e)) return;
      // A process may exit between readdir and read (ENOENT, ESRCH): it just is not part of this sample.
      const text = await readFile(`/proc/${e}/stat`, 'utf8').catch(() => undefined);
      const stat = text === undefined ? undefined : parseStat(text);
      if (stat) procs.set(Number(e), stat);
    }),
  );
  return procs;
}

/**
 * Parses /proc/<pid>/stat (proc(5)). The command name is in parentheses and
 * may itself hold spaces or parentheses, so fields are counted from the last
 * `)`. rss (field 24) is the same resident page count as statm's second field.
 */
export function parseStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // f[0] is field 3 (state); field n is f[n - 3].
  const f = text.slice(close + 2).split(' ');
  const num = (n: number): number => Number(f[n - 3]);
  const ppid = num(4);
  // Reaped children's time moves from their utime/stime into the parent's cutime/cstime: counting both keeps the tree's total from dropping when a child exits.
  const ticks = num(14) + num(15) + num(16) + num(17);
  const rssPages = num(24);
  if (![ppid, ticks, rssPages].every(Number.isFinite)) return undefined;
  return { ppid, ticks, rssPages: Math.max(0, rssPages) };
}

function childrenOf(procs: Map<number, ProcStat>): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const [pid, p] of procs) {
    const list = children.get(p.ppid);
    if (list) list.push(pid);
    else children.set(p.ppid, [pid]);
  }
  return children;
}

function treeTotals(root: number, procs: Map<number, ProcStat>, children: Map<number, number[]>): { ticks: number; rssPages: number } {
  let ticks = 0;
  let rssPages = 0;
  const seen = new Set<number>();
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    // A pid reused mid-scan could make the snapshot's parent links loop.
    if (seen.has(pid)) continue;
    seen.add(pid);
    const p = procs.get(pid);
    if (!p) continue;
    ticks += p.ticks;
    rssPages += p.rssPages;
    for (const c of children.get(pid) ?? []) stack.push(c);
  }
  return { ticks, rssPages };
}
