import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { RuntimeError } from './errors.ts';

/**
 * Process-group signalling. Each workload leads its own group, so one signal
 * reaches everything it started (shell pipelines, worker children) unless a
 * descendant deliberately left with setsid.
 */

const POLL_MS = 50;
const AFTER_KILL_WAIT_MS = 5000;

/** Signals the whole group; false when no process of it is left. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  assertGroupId(pgid);
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Like signalGroup, for paths where a vanished or foreign group is nothing to report; true when signalled. */
export function signalGroupQuietly(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    return signalGroup(pgid, signal);
  } catch {
    // EPERM: the id now belongs to someone else's processes; leave them alone.
    return false;
  }
}

/** True while some process of the group is alive; zombies do not count. */
export async function groupAlive(pgid: number): Promise<boolean> {
  if (!signalGroup(pgid, 0)) return false;
  if (process.platform !== 'linux') return true;
  // kill(2) still finds zombies, which hold no resources but linger until
  // their parent reaps them, and some init processes never do.
  return hasLiveMember(pgid);
}

/**
 * Ends a process group the agent recorded before it crashed: SIGTERM, then
 * SIGKILL once graceMs have passed. Resolves when the group is gone (at once
 * if it already is); rejects if it survives SIGKILL.
 */
export async function killProcessGroup(pid: number, graceMs: number): Promise<void> {
  try {
    if (!(await groupAlive(pid))) return;
    signalGroup(pid, 'SIGTERM');
    const graceEnd = Date.now() + graceMs;
    while (Date.now() < graceEnd) {
      await sleep(Math.min(POLL_MS, Math.max(0, graceEnd - Date.now())));
      if (!(await groupAlive(pid))) return;
    }
    signalGroup(pid, 'SIGKILL');
    const killEnd = Date.now() + AFTER_KILL_WAIT_MS;
    while (Date.now() < killEnd) {
      if (!(await groupAlive(pid))) return;
      await sleep(POLL_MS);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPERM') return; // not ours (the id was reused)
    throw err;
  }
  throw new RuntimeError(`process group ${pid} is still alive after SIGKILL`);
}

/**
 * Whether a process group recorded by an earlier agent run may still be that
 * workload's. Pids wrap (pid_max is 32768 on many hosts), so a recorded id
 * may now lead someone else's group: while a process holds the id, it is
 * ours only if its environment is the one the workload was given. Once that
 * process is gone, the id cannot have been reused while any member of its
 * group lives, so whatever is left of the group is ours.
 */
export async function recordedGroupIsOurs(pid: number, env: Record<string, string>): Promise<boolean> {
  let environ: string;
  try {
    environ = await readFile(`/proc/${pid}/environ`, 'latin1');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
  const vars = new Set(environ.split('\0'));
  return Object.entries(env).every(([k, v]) => vars.has(`${k}=${v}`));
}

function assertGroupId(pgid: number): void {
  // -0 and -1 would signal our own group or every process we may signal.
  if (!Number.isInteger(pgid) || pgid <= 1 || pgid === process.pid) throw new RangeError(`refusing to signal process group ${pgid}`);
}

async function hasLiveMember(pgid: number): Promise<boolean> {
  if (isLive(await readStat(pgid), pgid)) return true; // the leader, the common case
  let pids: string[];
  try {
    pids = await readdir('/proc');
  } catch {
    return true; // cannot tell; kill(2) said yes
  }
  for (const pid of pids) {
    if (/^\d+$/.test(pid) && isLive(await readStat(Number(pid)), pgid)) return true;
  }
  return false;
}

interface ProcStat {
  state: string;
  pgrp: number;
}

async function readStat(pid: number): Promise<ProcStat | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!text) return undefined;
  // "pid (comm) state ppid pgrp ..."; comm may itself contain ") ".
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', pgrp: Number(fields[2]) };
}

function isLive(st: ProcStat | undefined, pgid: number): boolean {
  return st !== undefined && st.pgrp === pgid && st.state !== 'Z' && st.state !== 'X';
}
