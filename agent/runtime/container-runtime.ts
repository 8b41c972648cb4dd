import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { durationMs } from '../../core/index.ts';
import { ExecFailedError, RuntimeError, StartFailedError } from './errors.ts';
import { RotatingLog, readLog } from './log-files.ts';
import type { RotatingLogOptions } from './log-files.ts';
import { Podman, lastLine } from './podman.ts';
import { killTagged, waitForWorkloadExec } from './container-procs.ts';
import { PipeExecSession } from './process-runtime.ts';
import { spawnPtySession } from './pty-session.ts';
import type { ExecOptions, ExecSession, Execution, ExitInfo, LogReadOptions, RunSpec, Runtime } from './runtime.ts';

/**
 * Runs each instance as a podman container (runc, see podman.ts), one
 * container per run, named after the instance so that reap() finds what a
 * crashed agent left behind.
 *
 * In a store of the runtime's own (`<dir>/store`, vfs: see podman.ts), apart
 * from the node's other containers, images copied in from the node's store
 * on first use. A container of a project runs in a user namespace: its root
 * is the project's unprivileged user on the host, its other ids the
 * project's own range (WorkloadUser.subordinate).
 *
 * Through podman's CLI rather than its REST API: podman is daemonless, and
 * the REST API needs `podman system service` running as one more daemon the
 * agent would have to keep alive. The CLI needs nothing running, and a
 * container outlives the agent under its conmon.
 *
 * `podman run` stays attached (not -d): its stdout and stderr go into the
 * instance's RotatingLog as with the process runtime (podman keeps no log of
 * its own: --log-driver none), and its exit is the container's. `--init`
 * makes catatonit PID 1, so signals reach the workload and orphans are reaped;
 * when PID 1 exits, the kernel ends everything else in the container. The
 * restart policy is the supervisor's, so podman gets none.
 *
 * Exit codes: a container's exit code 128+N means its init ended by signal N.
 * It is reported as `{code: null, signal: 'SIG…'}` only when the agent sent N
 * itself (stop: TERM, then KILL) or podman says the kernel's OOM killer
 * struck (N = 9); otherwise it stays a plain exit code, since a program may
 * exit with 137 of its own accord.
 */

export interface ContainerRuntimeOptions {
  /** Where the runtime keeps its containers.conf and pid files, e.g. `<dataDir>/containers`. */
  dir: string;
  log?: RotatingLogOptions;
  /** Container names are this plus the instance id; default 'gedge-'. */
  namePrefix?: string;
  /** podman run --pull; default 'missing' (a local image, else the configured registries). */
  pull?: 'missing' | 'never' | 'always' | 'newer';
  /** The podman executable; default 'podman' on PATH. */
  podman?: string;
}

/** What catatonit prints when the workload's command cannot be executed. */
const EXEC_FAILURE = /failed to exec pid1: (.*)/;
/** Keep this much of podman's stderr while starting, to explain a failure. */
const EARLY_STDERR_BYTES = 16 * 1024;
/** Variable by which exec() finds its command's processes to end them (podman exec forwards no signals). */
const EXEC_TAG = 'GEDGE_EXEC_ID';

export class ContainerRuntime implements Runtime {
  readonly kind = 'container';
  private readonly podman: Podman;
  private readonly prefix: string;

  /**
   * Images in the runtime's store, checked (or copied from the node's) once:
   * the next starts of an image run no podman call for it. Two starts of one
   * image share the check and the copy. Forgotten when a start fails, or
   * when the image was nowhere yet (a registry pull or an administrator's
   * load may bring it).
   */
  private readonly images = new Map<string, Promise<boolean>>();

  constructor(private readonly opts: ContainerRuntimeOptions) {
    this.podman = new Podman(opts.dir, { bin: opts.podman, ownStore: true });
    this.prefix = opts.namePrefix ?? 'gedge-';
  }

  /** Whether podman with runc and an --init binary works on this node (with the runtime's own store); the agent offers the runtime only then. */
  static available(opts: Pick<ContainerRuntimeOptions, 'dir' | 'podman'>): Promise<{ ok: true; version: string } | { ok: false; reason: string }> {
    return new Podman(opts.dir, { bin: opts.podman, ownStore: true }).probe();
  }

  /** The container of an instance: deterministic, so a restarted agent finds it. */
  containerName(id: string): string {
    return this.prefix + id.replace(/[^a-zA-Z0-9_.-]/g, '_');
  }

  async start(spec: RunSpec): Promise<Execution> {
    const name = this.containerName(spec.id);
    const args = this.runArgs(spec, name);
    await this.importImage(spec.template.image!, spec.id);
    await mkdir(spec.logDir, { recursive: true });
    const pidFile = this.pidFile(name);
    await rm(pidFile, { force: true });

    const log = new RotatingLog(spec.logDir, this.opts.log);
    let child: ChildProcess;
    try {
      // Its own process group: a Ctrl-C meant for the agent must not reach the workload through podman.
      child = await this.podman.spawn(args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      await log.close();
      throw new StartFailedError(`${spec.id}: cannot run podman: ${(err as Error).message}`, { cause: err });
    }
    let early = '';
    let starting = true;
    child.on('error', () => {}); // failed signals; the exit is what counts
    child.stdout?.on('data', (chunk: Buffer) => log.write(chunk));
    child.stderr?.on('data', (chunk: Buffer) => {
      log.write(chunk);
      if (starting && early.length < EARLY_STDERR_BYTES) early += chunk.toString('utf8');
    });
    const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));

    const started = await waitForWorkloadExec(pidFile, closed);
    starting = false;
    if (started.podmanExit !== undefined) {
      const image = spec.template.image ?? '';
      const execFailure = EXEC_FAILURE.exec(early)?.[1];
      const failure = execFailure
        ? `cannot run ${spec.template.command[0] ?? "the image's command"} in image ${image}: ${execFailure}`
        : started.pid === undefined
          ? `cannot start a container of image ${image}: ${lastLine(early)} (podman exit ${started.podmanExit})`
          : undefined;
      if (failure) {
        this.images.delete(image); // gone from the store since it was checked, perhaps: look again next time
        await Promise.all([this.remove(name, 0).catch(() => undefined), log.close()]);
        throw new StartFailedError(`${spec.id}: ${failure}`);
      }
    }
    // Started (or already finished, e.g. `exit 3`): the exit is collected like any other.
    return new ContainerExecution(this.podman, name, started.pid, closed, async (podmanExit, sent) => {
      // `exited` must resolve: should podman fail to report or remove, podman run's own exit code stands.
      const exit = await this.collectExit(name, podmanExit, sent).catch(() => exitInfo(podmanExit, sent, false));
      await log.close();
      await rm(pidFile, { force: true });
      return exit;
    });
  }

  logs(spec: Pick<RunSpec, 'logDir'>, opts: LogReadOptions): AsyncIterable<string> {
    return readLog(spec.logDir, opts);
  }

  async exec(spec: RunSpec, opts: ExecOptions): Promise<ExecSession> {
    if (!opts.command[0]) throw new ExecFailedError(`${spec.id}: empty command`);
    const name = this.containerName(spec.id);
    const state = await this.inspect(name);
    if (state?.status !== 'running') throw new ExecFailedError(`${spec.id}: container ${name} is not running`);
    const tag = `${EXEC_TAG}=${randomBytes(12).toString('hex')}`;
    try {
      if (opts.tty) {
        const env = Object.fromEntries(Object.entries(await this.podman.env()).filter((e): e is [string, string] => e[1] !== undefined));
        const pty = spawnPtySession(this.podman.bin, ['exec', '-it', '-e', tag, name, ...opts.command], { env, cols: opts.cols, rows: opts.rows });
        return new TaggedExecSession(pty, tag);
      }
      const child = await this.podman.spawn(['exec', '-i', '-e', tag, name, ...opts.command], { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
      return new TaggedExecSession(new PipeExecSession(child), tag);
    } catch (err) {
      throw new ExecFailedError(`${spec.id}: cannot run podman exec: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Removes the instance's container, whatever its state, giving it the stop
   * grace (whole seconds: podman's unit). In the node's store too: an agent
   * from before stores of their own started its containers there, and one
   * left running would keep the instance's host port.
   */
  async reap(spec: RunSpec, _pid: number | null): Promise<void> {
    const name = this.containerName(spec.id);
    await Promise.all([this.remove(name, durationMs(spec.template.stopGracePeriod)), this.remove(name, durationMs(spec.template.stopGracePeriod), this.podman.nodeStore())]);
    await rm(this.pidFile(name), { force: true });
  }

  /**
   * Copies the image from the node's store into the runtime's own when only
   * the node has it (an administrator's `podman load` or `podman pull`, the
   * way images reach an edge without a registry), once per image. With
   * neither, `podman run --pull` goes to the registries; with `pull: always`
   * it does so anyway.
   */
  private async importImage(image: string, id: string): Promise<void> {
    if (this.opts.pull === 'always') return;
    let present = this.images.get(image);
    if (!present) this.images.set(image, (present = this.podman.adopt(image)));
    try {
      if (!(await present)) this.images.delete(image);
    } catch (err) {
      this.images.delete(image);
      throw new StartFailedError(`${id}: cannot copy image ${image} from the node's store: ${(err as Error).message}`, { cause: err });
    }
  }

  private runArgs(spec: RunSpec, name: string): string[] {
    const t = spec.template;
    if (!t.image) throw new StartFailedError(`${spec.id}: the container runtime needs an image`);
    // prettier-ignore
    const args = [
      // --http-proxy=false: podman would otherwise copy the agent's *_proxy variables into the container.
      'run', '--replace', '--name', name, '--init', '--sig-proxy=false', '--http-proxy=false', '--log-driver', 'none',
      '--pidfile', this.pidFile(name), '--pull', this.opts.pull ?? 'missing',
      '--label', `gedge.io/instance=${spec.id}`, '--stop-timeout', String(Math.ceil(durationMs(t.stopGracePeriod) / 1000)),
      // As Kubernetes' restricted Pod Security: no capabilities, no privilege gained through setuid binaries.
      '--cap-drop', 'all', '--security-opt', 'no-new-privileges',
    ];
    // A user namespace of the project's: its root is the project's unprivileged user on the host, who owns the
    // instance's volumes; the image's other users are ids of the project's own range, which nothing else owns.
    if (spec.user) {
      const { uid, gid, subordinate: sub } = spec.user;
      args.push('--uidmap', `0:${uid}:1`, '--uidmap', `1:${sub.first}:${sub.count}`, '--gidmap', `0:${gid}:1`, '--gidmap', `1:${sub.first}:${sub.count}`);
    }
    if (t.resources.cpu > 0) args.push('--cpus', String(t.resources.cpu));
    if (t.resources.memoryMiB > 0) args.push('--memory', String(Math.round(t.resources.memoryMiB * 1024 * 1024)));
    if (t.cwd) args.push('--workdir', t.cwd);
    for (const [key, value] of Object.entries(spec.env)) args.push('-e', `${key}=${value}`);
    for (const p of t.ports) {
      const host = spec.ports[p.name];
      if (!host) throw new StartFailedError(`${spec.id}: no host port for port ${p.name}`);
      args.push('-p', `127.0.0.1:${host}:${p.containerPort ?? host}`);
    }
    for (const v of t.volumes) {
      const dir = spec.volumes[v.name];
      if (!dir || !v.mountPath) throw new StartFailedError(`${spec.id}: volume ${v.name} needs a host directory and a mountPath`);
      if (dir.includes(':') || v.mountPath.includes(':')) throw new StartFailedError(`${spec.id}: volume ${v.name}: paths with ':' cannot be mounted`);
      args.push('-v', `${dir}:${v.mountPath}${v.readOnly ? ':ro' : ''}`);
    }
    args.push(t.image, ...t.command);
    return args;
  }

  private pidFile(name: string): string {
    return join(this.opts.dir, `${name}.pid`);
  }

  /** The container's exit code (podman's, if the container is gone), then removes the container. */
  private async collectExit(name: string, podmanExit: number | null, sent: ReadonlySet<number>): Promise<ExitInfo> {
    let state = await this.inspect(name);
    if (state?.status === 'running') {
      // podman run itself ended (killed?) while the container goes on: wait for the container.
      await this.podman.run(['wait', name]);
      state = await this.inspect(name);
    }
    await this.remove(name, 0).catch(() => undefined); // reap() or the next start (--replace) removes it then
    return exitInfo(state?.exitCode ?? podmanExit, sent, state?.oomKilled ?? false);
  }

  private async inspect(name: string): Promise<{ status: string; exitCode: number; oomKilled: boolean } | undefined> {
    const r = await this.podman.run(['container', 'inspect', '--format', '{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}', name]);
    if (r.code !== 0) return undefined;
    const [status = '', code = '', oom = ''] = r.stdout.trim().split(' ');
    return { status, exitCode: Number(code), oomKilled: oom === 'true' };
  }

  private async remove(name: string, graceMs: number, podman = this.podman): Promise<void> {
    const r = await podman.run(['rm', '--force', '--ignore', '--time', String(Math.ceil(graceMs / 1000)), name]);
    if (r.code !== 0) throw new RuntimeError(`cannot remove container ${name}: ${lastLine(r.stderr)}`);
  }
}

class ContainerExecution implements Execution {
  readonly exited: Promise<ExitInfo>;
  /** Signal numbers the agent sent, for the 128+N rule. */
  private readonly sent = new Set<number>();
  private over = false;
  private stopping: Promise<ExitInfo> | undefined;

  constructor(
    private readonly podman: Podman,
    private readonly name: string,
    readonly pid: number | undefined,
    closed: Promise<number | null>,
    finish: (podmanExit: number | null, sent: ReadonlySet<number>) => Promise<ExitInfo>,
  ) {
    this.exited = closed.then((code) => {
      this.over = true;
      return finish(code, this.sent);
    });
  }

  stop(graceMs: number): Promise<ExitInfo> {
    this.stopping ??= this.terminate(graceMs);
    return this.stopping;
  }

  private async terminate(graceMs: number): Promise<ExitInfo> {
    if (this.over) return this.exited;
    // Not `podman stop -t`: its grace is in whole seconds.
    this.signal('TERM');
    const timer = setTimeout(() => this.signal('KILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  private signal(name: 'TERM' | 'KILL'): void {
    if (this.over) return;
    this.sent.add(constants.signals[`SIG${name}`]);
    // Fails only when the container has just exited, which `exited` reports.
    void this.podman.run(['kill', '--signal', name, this.name]).catch(() => undefined);
  }
}

/**
 * A podman exec session (pipes or terminal). podman exec forwards no signals,
 * and ending the podman client leaves the command running in the container,
 * so kill() finds the command's processes by the tag in their environment.
 */
class TaggedExecSession implements ExecSession {
  readonly exited: Promise<ExitInfo>;
  private over = false;

  constructor(
    private readonly inner: ExecSession,
    private readonly tag: string,
  ) {
    this.exited = inner.exited.finally(() => (this.over = true));
  }

  onOutput(listener: (fd: 1 | 2, data: Buffer) => void): void {
    this.inner.onOutput(listener);
  }
  write(data: Buffer): void {
    this.inner.write(data);
  }
  endInput(): void {
    this.inner.endInput();
  }
  resize(cols: number, rows: number): void {
    this.inner.resize(cols, rows);
  }
  pause(): void {
    this.inner.pause?.();
  }
  resume(): void {
    this.inner.resume?.();
  }
  kill(): void {
    if (this.over) return;
    void killTagged(this.tag).finally(() => this.inner.kill());
  }
}

function exitInfo(code: number | null, sent: ReadonlySet<number>, oomKilled: boolean): ExitInfo {
  if (code !== null && code > 128) {
    const n = code - 128;
    const signal = Object.entries(constants.signals).find(([, value]) => value === n)?.[0];
    if (signal && (sent.has(n) || (oomKilled && n === constants.signals.SIGKILL))) return { code: null, signal };
  }
  return { code, signal: null };
}
