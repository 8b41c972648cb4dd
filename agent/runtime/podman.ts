import { spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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

/**
 * The storage.conf of an own store: vfs, the one driver that gives a
 * container a user namespace on every kernel (overlay needs idmapped or
 * chowned lower layers, which fail on many hosts, this project's machines
 * among them: "creating overlay mount … permission denied"). vfs copies a
 * layer where overlay would mount it: more disk per container, no
 * kernel feature needed. Images and containers under `store`; the run
 * root (conmon's sockets, locks, mount points) at a short path of its own
 * under /run (see runRoot).
 */
export function storageConf(store: string): string {
  return `[storage]\ndriver = "vfs"\ngraphroot = ${JSON.stringify(join(store, 'graph'))}\nrunroot = ${JSON.stringify(runRoot(store))}\n`;
}

/**
 * The run root of a store: /run/gedge-podman/<hash of the store's path>
 * (for a non-root agent under XDG_RUNTIME_DIR). Short, because podman 4.3
 * with a run root of ~50 characters no longer hears a container's exit from
 * conmon and `podman run` returns ~20 s late (measured); and on a tmpfs, as
 * a run root should be, emptied at boot.
 */
export function runRoot(store: string): string {
  const base = process.getuid?.() === 0 ? '/run' : (process.env.XDG_RUNTIME_DIR ?? tmpdir());
  return join(base, 'gedge-podman', createHash('sha256').update(store).digest('hex').slice(0, 16));
}

export interface PodmanOptions {
  /** The podman executable; default 'podman' on PATH. */
  bin?: string;
  /**
   * Keep images and containers in a store of this podman's own, under
   * `<dir>/store` (see storageConf), instead of the node's: the agent's
   * containers then live apart from whatever else the node runs, and can
   * have user namespaces. Default: the node's store.
   */
  ownStore?: boolean;
}

export class Podman {
  private confWritten: Promise<NodeJS.ProcessEnv> | undefined;
  readonly bin: string;
  readonly ownStore: boolean;

  /** `dir` holds containers.conf (created if missing), and with `ownStore` storage.conf and the store. */
  constructor(
    readonly dir: string,
    opts: PodmanOptions = {},
  ) {
    this.bin = opts.bin ?? 'podman';
    this.ownStore = opts.ownStore ?? false;
  }

  /** Where an own store keeps images and containers. */
  get store(): string {
    return join(this.dir, 'store');
  }

  get confPath(): string {
    return join(this.dir, 'containers.conf');
  }

  /** The podman of the node's own store, with the same containers.conf and executable (where images a node administrator loaded are). */
  nodeStore(): Podman {
    return this.ownStore ? new Podman(this.dir, { bin: this.bin }) : this;
  }

  /**
   * The environment of every podman call: the agent's (podman needs e.g.
   * XDG_RUNTIME_DIR when rootless) plus CONTAINERS_CONF, and with an own
   * store CONTAINERS_STORAGE_CONF. Containers never see it: they get only
   * `-e` values.
   */
  async env(): Promise<NodeJS.ProcessEnv> {
    this.confWritten ??= (async () => {
      await writeConf(this.dir, 'containers.conf', CONTAINERS_CONF);
      if (!this.ownStore) return { CONTAINERS_CONF: this.confPath };
      await writeConf(this.dir, 'storage.conf', storageConf(this.store));
      return { CONTAINERS_CONF: this.confPath, CONTAINERS_STORAGE_CONF: join(this.dir, 'storage.conf') };
    })();
    return { ...process.env, ...(await this.confWritten) };
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

  /**
   * Copies `image` from the node's store into this podman's own (save | load)
   * unless it has it already or the node has not; a failed copy rejects
   * with podman's message. Whether this store has the image now (without an
   * own store: whether the node's has it).
   */
  async adopt(image: string): Promise<boolean> {
    if ((await this.run(['image', 'exists', image])).code === 0) return true;
    if (!this.ownStore) return false;
    const node = this.nodeStore();
    if ((await node.run(['image', 'exists', image])).code !== 0) return false;
    const save = await node.spawn(['save', image], { stdio: ['ignore', 'pipe', 'pipe'] });
    let saveErr = '';
    save.stderr?.setEncoding('utf8').on('data', (d: string) => (saveErr += d));
    const saved = new Promise<number | null>((resolve) => save.once('close', resolve));
    const loaded = await this.run(['load'], save.stdout!);
    const saveCode = await saved;
    if (saveCode !== 0) throw new Error(`podman save failed (exit ${saveCode}): ${lastLine(saveErr)}`);
    if (loaded.code !== 0) throw new Error(`podman load failed (exit ${loaded.code}): ${lastLine(loaded.stderr)}`);
    return true;
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
 * Writes dir/name unless it already holds `text`. Atomically (a rename),
 * since other agents or test processes may share the directory and a podman
 * reading a half-written file would fall back to the defaults.
 */
async function writeConf(dir: string, name: string, text: string): Promise<void> {
  const path = join(dir, name);
  if ((await readFile(path, 'utf8').catch(() => '')) === text) return;
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

/** Where podman 4 looks for its --init binary (containers.conf init_path default, and Debian's package). */
const INIT_PATHS = ['/usr/libexec/podman/catatonit', '/usr/bin/catatonit'];

/** The last non-empty line of podman's stderr: its error message. */
export function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.at(-1)?.replace(/^Error: /, '') ?? '(no message)';
}
