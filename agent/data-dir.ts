import { chmodSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir } from '../core/index.ts';

/** The parts of the data dir workloads reach (each project only its own subdirectory: its home and volumes, which it owns; its model files, its group's to read). */
const SHARED = new Set(['homes', 'volumes', 'models']);

/**
 * The agent's data dir: 0711, so that a workload running as its project's
 * user can pass through to its home, volumes and model files but cannot list anything;
 * everything else in it is the agent's alone (files 0600, directories 0700),
 * including what an earlier version left open.
 */
export function prepareDataDir(dir: string): void {
  ensurePrivateDir(dir, 0o711);
  for (const name of readdirSync(dir)) {
    if (SHARED.has(name)) continue;
    const path = join(dir, name);
    const st = statSync(path);
    if (st.uid !== process.getuid?.()) continue;
    if (st.isDirectory()) {
      if ((st.mode & 0o077) !== 0) chmodSync(path, 0o700);
    } else if (st.isFile() && (st.mode & 0o077) !== 0) chmodSync(path, 0o600);
  }
  for (const name of SHARED) ensurePrivateDir(join(dir, name), 0o711);
}
