import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { workloadTemplateSchema } from '../../core/index.ts';
import type { WorkloadTemplate } from '../../core/index.ts';
import type { Runtime } from './runtime.ts';

/** Test-only helpers for the runtime tests. */

export { waitFor } from '../../core/wait-for.ts';


/** A fresh directory under the OS temp dir, removed by the returned cleanup. */
export async function makeTempDir(prefix = 'gedge-runtime-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** True while the process exists and is not a zombie (this sandbox's init never reaps orphans). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
}

/** A validated template with the schema's defaults. */
export function template(fields: Partial<WorkloadTemplate> & { command: string[] }): WorkloadTemplate {
  return workloadTemplateSchema.parse(fields);
}

/** node -e SCRIPT, with the node running the tests. */
export function nodeCommand(script: string): string[] {
  return [process.execPath, '-e', script];
}

/** Everything in the instance's current log right now. */
export async function readAll(runtime: Runtime, logDir: string): Promise<string> {
  let text = '';
  for await (const chunk of runtime.logs({ logDir }, { tailBytes: 0, follow: false, signal: new AbortController().signal })) text += chunk;
  return text;
}
