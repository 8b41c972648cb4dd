import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTAINERS_CONF, INFO_ARGS, judgeInfo } from './podman.ts';

/** Test-only: whether tests on real podman can run here. */

/** The directory of the containers.conf that container tests and the test image use. */
export const TEST_PODMAN_DIR = join(tmpdir(), 'gedge-podman');

let verdict: string | undefined | null = null;

/**
 * For `describe(..., { skip: requirePodman() })`: undefined when podman with
 * runc works, else the reason to skip. Under CI=true a missing podman throws
 * instead, so CI never passes by skipping (scripts/ensure-podman.sh installs it).
 */
export function requirePodman(): string | undefined {
  if (verdict === null) verdict = check();
  if (verdict !== undefined && process.env.CI === 'true') throw new Error(`container tests need podman with runc (scripts/ensure-podman.sh): ${verdict}`);
  return verdict === undefined ? undefined : `podman unavailable: ${verdict} (run scripts/ensure-podman.sh)`;
}

function check(): string | undefined {
  const conf = join(TEST_PODMAN_DIR, 'containers.conf');
  if (readText(conf) !== CONTAINERS_CONF) {
    // Atomically: other test processes may be running podman with this file.
    mkdirSync(TEST_PODMAN_DIR, { recursive: true });
    writeFileSync(`${conf}.${process.pid}`, CONTAINERS_CONF);
    renameSync(`${conf}.${process.pid}`, conf);
  }
  const r = spawnSync('podman', INFO_ARGS, { encoding: 'utf8', env: { ...process.env, CONTAINERS_CONF: conf }, timeout: 30_000 });
  if (r.error) return `cannot run podman: ${r.error.message}`;
  const judged = judgeInfo({ code: r.status, stdout: r.stdout, stderr: r.stderr });
  return judged.ok ? undefined : judged.reason;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
