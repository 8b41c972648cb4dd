import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, stat } from 'node:fs/promises';
import { durationMs } from '../../core/index.ts';
import { ExecFailedError, StartFailedError } from './errors.ts';
import { RotatingLog, readLog } from './log-files.ts';
import type { RotatingLogOptions } from './log-files.ts';
import { killProcessGroup, recordedGroupIsOurs, signalGroupQuietly } from './process-group.ts';
import { spawnPtySession } from './pty-session.ts';
import type { ExecOptions, ExecSession, Execution, ExitInfo, LogReadOptions, RunSpec, Runtime } from './runtime.ts';

export { killProcessGroup } from './process-group.ts';

/** How long output may keep arriving after the workload's group is gone (from a descendant that left the group). */
const STDIO_DRAIN_MS = 1000;

/** Runs a workload as a plain child process group on the node. */
export class ProcessRuntime implements Runtime {
  readonly kind = 'process';

  constructor(private readonly opts: { log?: RotatingLogOptions } = {}) {}

  async start(spec: RunSpec): Promise<Execution> {
    const [file, ...args] = spec.template.command;
    if (!file) throw new StartFailedError(`${spec.id}: empty command`);
    const { cwd } = spec.template;
    // spawn reports a missing cwd as a missing executable; say what is wrong.
    if (cwd && !(await isDirectory(cwd))) throw new StartFailedError(`${spec.id}: working directory ${cwd} does not exist`);
    await mkdir(spec.logDir, { recursive: true });

    const log = new RotatingLog(spec.logDir, this.opts.log);
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        cwd,
        env: envOf(spec),
        ...idOf(spec),
        // Leading its own group lets stop() reach everything the workload starts.
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout?.on('data', (chunk: Buffer) => log.write(chunk));
      child.stderr?.on('data', (chunk: Buffer) => log.write(chunk));
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
    } catch (err) {
      await log.close();
      throw new StartFailedError(`${spec.id}: cannot start ${file}: ${(err as Error).message}`, { cause: err });
    }
    return new ProcessExecution(child, log);
  }

  logs(spec: Pick<RunSpec, 'logDir'>, opts: LogReadOptions): AsyncIterable<string> {
    return readLog(spec.logDir, opts);
  }

  async exec(spec: RunSpec, opts: ExecOptions): Promise<ExecSession> {
    const [file, ...args] = opts.command;
    if (!file) throw new ExecFailedError(`${spec.id}: empty command`);
    if (opts.tty) {
      try {
        return spawnPtySession(file, args, { env: envOf(spec), cwd: spec.template.cwd, cols: opts.cols, rows: opts.rows, ...idOf(spec) });
      } catch (err) {
        throw new ExecFailedError(`${spec.id}: ${(err as Error).message}`, { cause: err });
      }
    }
    const child = spawn(file, args, { cwd: spec.template.cwd, env: envOf(spec), ...idOf(spec), detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
    } catch (err) {
      throw new ExecFailedError(`${spec.id}: cannot run ${file}: ${(err as Error).message}`, { cause: err });
    }
    return new PipeExecSession(child);
  }

  async reap(spec: RunSpec, pid: number | null): Promise<void> {
    if (pid && (await recordedGroupIsOurs(pid, spec.env))) await killProcessGroup(pid, durationMs(spec.template.stopGracePeriod));
  }
}

/** An exec'd command on plain pipes (no terminal). */
export class PipeExecSession implements ExecSession {
  readonly exited: Promise<ExitInfo>;
  private readonly listeners: Array<(fd: 1 | 2, data: Buffer) => void> = [];

  constructor(private readonly child: ChildProcess) {
    child.on('error', () => {});
    child.stdin?.on('error', () => {});
    child.stdout?.on('data', (d: Buffer) => this.emit(1, d));
    child.stderr?.on('data', (d: Buffer) => this.emit(2, d));
    this.exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  }

  onOutput(listener: (fd: 1 | 2, data: Buffer) => void): void {
    this.listeners.push(listener);
  }

  write(data: Buffer): void {
    this.child.stdin?.write(data);
  }

  endInput(): void {
    this.child.stdin?.end();
  }

  resize(): void {}

  pause(): void {
    this.child.stdout?.pause();
    this.child.stderr?.pause();
  }

  resume(): void {
    this.child.stdout?.resume();
    this.child.stderr?.resume();
  }

  kill(): void {
    if (this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null) signalGroupQuietly(this.child.pid, 'SIGKILL');
  }

  private emit(fd: 1 | 2, data: Buffer): void {
    for (const l of this.listeners) l(fd, data);
  }
}

class ProcessExecution implements Execution {
  readonly pid: number | undefined;
  readonly exited: Promise<ExitInfo>;
  private leaderGone = false;
  private stopping: Promise<ExitInfo> | undefined;

  constructor(child: ChildProcess, log: RotatingLog) {
    this.pid = child.pid;
    // Failed kill() calls are reported here; the exit that follows is what matters.
    child.on('error', () => {});
    const stdioClosed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const leaderExit = new Promise<ExitInfo>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    this.exited = leaderExit.then(async (info) => {
      this.leaderGone = true;
      // As when a container's init exits: what the workload leaves behind
      // dies with it, or restarts would pile up orphans holding its ports.
      if (this.pid !== undefined) signalGroupQuietly(this.pid, 'SIGKILL');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([stdioClosed, new Promise<void>((resolve) => (timer = setTimeout(resolve, STDIO_DRAIN_MS)))]);
      clearTimeout(timer);
      child.stdout?.destroy();
      child.stderr?.destroy();
      await log.close();
      return info;
    });
  }

  stop(graceMs: number): Promise<ExitInfo> {
    this.stopping ??= this.terminate(graceMs);
    return this.stopping;
  }

  private async terminate(graceMs: number): Promise<ExitInfo> {
    const pid = this.pid;
    if (pid === undefined || this.leaderGone) return this.exited;
    signalGroupQuietly(pid, 'SIGTERM');
    const timer = setTimeout(() => {
      if (!this.leaderGone) signalGroupQuietly(pid, 'SIGKILL');
    }, graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The only parts of the agent's environment a workload sees; the rest may hold the agent's credentials. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  if (process.env.PATH !== undefined) env.PATH = process.env.PATH;
  if (process.env.HOME !== undefined) env.HOME = process.env.HOME;
  return env;
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (st) => st.isDirectory(),
    () => false,
  );
}

/** The workload's environment: PATH and HOME (its project's home when it runs as its project's user), then its own. */
function envOf(spec: RunSpec): Record<string, string> {
  return { ...baseEnv(), ...(spec.user ? { HOME: spec.user.home } : {}), ...spec.env };
}

/** Who the workload runs as, in spawn's terms; nothing: as the agent. */
function idOf(spec: RunSpec): { uid?: number; gid?: number } {
  return spec.user ? { uid: spec.user.uid, gid: spec.user.gid } : {};
}
