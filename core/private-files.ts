import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';

/**
 * Data directories hold credentials, local state and logs: only their owner
 * may list or read them (0700 by default), whatever the umask, including one
 * an earlier version created open. A shared directory given by mistake
 * (sticky, like /tmp, or someone else's) is left as it is.
 */
export function ensurePrivateDir(dir: string, mode = 0o700): void {
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode });
    chmodSync(dir, mode); // mkdir's mode is filtered by the umask
    return;
  }
  const st = statSync(dir);
  const mine = process.getuid === undefined || st.uid === process.getuid();
  if (mine && (st.mode & 0o1000) === 0 && (st.mode & 0o777) !== mode) chmodSync(dir, mode);
}

/** A file holding secrets or state: owner read and write only (0600). */
export function restrictFile(file: string): void {
  if (existsSync(file)) chmodSync(file, 0o600);
}
