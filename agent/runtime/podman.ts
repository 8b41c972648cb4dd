import { spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The podman command line, as the container runtime calls it.
 *
 * Every call gets CONTAINERS_CONF pointing at a containers.conf this module
 * writes: podman 4.3 then reads that file instead of the system's, so the node
 * administrator's defaults cannot change how workloads run. runc rather than
 * crun, because crun fails on hybrid cgroup v1/v2 layouts such as this
 * project's machines; explicit ulimits, because the inherited ones can be
 * unlimited and some programs allocate per possible descriptor.
 */
export const CONTAINERS_CONF = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
`;

export interface PodmanResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export class Podman {
  private confWritten: Promise<string> | undefined;

  /** `dir` holds containers.conf (created if missing); `bin` is the podman executable. */
  constructor(
    readonly dir: string,
    readonly bin = 'podman',
  ) {}

  get confPath(): string {
    return join(this.dir, 'containers.conf');
  }

  /** The environment of every podman call: the agent's (podman needs e.g. XDG_RUNTIME_DIR when rootless) plus CONTAINERS_CONF. Containers never see it: they get only `-e` values. */
  async env(): Promise<NodeJS.ProcessEnv> {
    this.confWritten ??= writeConf(this.dir).then(() => this.confPath);
    return { ...process.env, CONTAINERS_CONF: await this.confWritten };
  }

  /** Starts podman with the given arguments; the caller owns the child. */
  async spawn(args: string[], opts: Omit<SpawnOptions, 'env'> = {}): Promise<ChildProcess> {
    const child = spawn(this.bin, args, { ...opts, env: await this.env() });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    return child;
  }

  /** Runs podman to completion and collects its output; rejects only when podman cannot be run at all. */
  async run(args: string[], input?: NodeJS.ReadableStream): Promise<PodmanResult> {
    const child = await this.spawn(args, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    if (input && child.stdin) input.pipe(child.stdin);
    child.stdin?.on('error', () => {}); // podman may exit before reading all input; its exit code says why
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
    return { code, stdout, stderr };
  }

  /** Like run, but a non-zero exit rejects with podman's own error message. */
  async check(args: string[]): Promise<string> {
    const r = await this.run(args);
    if (r.code !== 0) throw new Error(`podman ${args[0]} failed (exit ${r.code}): ${lastLine(r.stderr)}`);
    return r.stdout;
  }

  /**
   * Whether podman with runc works on this node, and if not why. Also checks
   * for the init binary that `--init` mounts (Debian: package catatonit).
   */
  async probe(): Promise<{ ok: true; version: string } | { ok: false; reason: string }> {
    let r: PodmanResult;
    try {
      r = await this.run(INFO_ARGS);
    } catch (err) {
      return { ok: false, reason: `cannot run ${this.bin}: ${(err as Error).message}` };
    }
    return judgeInfo(r);
  }
}

/** Arguments of the `podman info` call that probe() judges. */
export const INFO_ARGS = ['info', '--format', '{{.Version.Version}} {{.Host.OCIRuntime.Name}}'];

export function judgeInfo(r: PodmanResult): { ok: true; version: string } | { ok: false; reason: string } {
  if (r.code !== 0) return { ok: false, reason: `podman info failed (exit ${r.code}): ${lastLine(r.stderr)}` };
  const [version = '', ociRuntime = ''] = r.stdout.trim().split(' ');
  if (ociRuntime !== 'runc') return { ok: false, reason: `podman ${version} uses OCI runtime "${ociRuntime}", not runc` };
  if (!INIT_PATHS.some((p) => existsSync(p))) return { ok: false, reason: `no init binary for podman run --init (${INIT_PATHS.join(' or ')}); install catatonit` };
  return { ok: true, version };
}

/**
 * Writes dir/containers.conf unless it is already right. Atomically (a
 * rename), since other agents or test processes may share the directory and
 * a podman reading a half-written file would fall back to the defaults.
 */
export async function writeConf(dir: string): Promise<void> {
  const path = join(dir, 'containers.conf');
  if ((await readFile(path, 'utf8').catch(() => '')) === CONTAINERS_CONF) return;
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, CONTAINERS_CONF);
  await rename(tmp, path);
}

/** Where podman 4 looks for its --init binary (containers.conf init_path default, and Debian's package). */
const INIT_PATHS = ['/usr/libexec/podman/catatonit', '/usr/bin/catatonit'];

/** The last non-empty line of podman's stderr: its error message. */
export function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.at(-1)?.replace(/^Error: /, '') ?? '(no message)';
}
