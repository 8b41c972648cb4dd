import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * What the container runtime learns from the host's /proc about a
 * container's processes, where podman's CLI has no answer or only a slow one.
 */

const POLL_MS = 5;
/** After the container's init is up, how long to look for the workload's exec before assuming it happened unseen. */
const EXEC_WAIT_MS = 5000;

export interface StartOutcome {
  /** Host pid of the container's init (from podman's --pidfile), when it was created. */
  pid?: number;
  /** Set when `podman run` exited before the workload was seen running. */
  podmanExit?: number | null;
}

/**
 * Waits until the workload runs: init (catatonit) has a child that is no
 * longer a copy of itself, i.e. whose exec succeeded. Only then can start()
 * say the command was found; catatonit reports a failed exec by exiting 1,
 * like any workload might. Ends early when podman exits first.
 */
export async function waitForWorkloadExec(pidFile: string, podmanClosed: Promise<number | null>): Promise<StartOutcome> {
  let podmanExit: number | null | undefined;
  let exited = false;
  const closed = podmanClosed.then((code) => {
    podmanExit = code;
    exited = true;
  });
  let pid: number | undefined;
  let execDeadline = Infinity; // image pulls may take long; only the exec itself is bounded
  while (!exited) {
    if (pid === undefined) {
      pid = await readPidFile(pidFile);
      if (pid !== undefined) execDeadline = Date.now() + EXEC_WAIT_MS;
    }
    if (pid !== undefined && ((await hasExecedChild(pid)) || Date.now() > execDeadline)) return { pid };
    await Promise.race([sleep(POLL_MS), closed]);
  }
  pid ??= await readPidFile(pidFile);
  return { pid, podmanExit };
}

export async function readPidFile(path: string): Promise<number | undefined> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

async function hasExecedChild(initPid: number): Promise<boolean> {
  const init = await readStat(initPid);
  // Before runc starts the container, its init is runc's own ("runc:[2:INIT]") and has no children.
  if (!init || init.comm.startsWith('runc:')) return false;
  for (const pid of await listPids()) {
    const st = await readStat(pid);
    if (st && st.ppid === initPid && st.comm !== init.comm) return true;
  }
  return false;
}

/**
 * SIGKILLs every process whose environment holds `tag` (NAME=value): the
 * command of a `podman exec -e NAME=value` and whatever it started.
 */
export async function killTagged(tag: string): Promise<void> {
  const needle = Buffer.from(`${tag}\0`);
  for (const pid of await listPids()) {
    if (pid === process.pid) continue;
    const environ = await readFile(`/proc/${pid}/environ`).catch(() => undefined);
    if (!environ) continue;
    const at = environ.indexOf(needle);
    if (at === 0 || (at > 0 && environ[at - 1] === 0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

async function listPids(): Promise<number[]> {
  const names = await readdir('/proc').catch(() => [] as string[]);
  return names.filter((n) => /^\d+$/.test(n)).map(Number);
}

async function readStat(pid: number): Promise<{ comm: string; ppid: number } | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!text) return undefined;
  // "pid (comm) state ppid ..."; comm may itself contain ") ".
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  return { comm: text.slice(text.indexOf('(') + 1, close), ppid: Number(fields[1]) };
}
