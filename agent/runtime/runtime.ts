import type { Instance, WorkloadTemplate } from '../../core/index.ts';

/**
 * The pluggable runtime contract: the process, container and model
 * runtimes implement it. Every runtime passes the shared lifecycle suite
 * in runtime-contract.ts (start, log, stop, refused start, exec, reap);
 * the runtimes of commands pass its command suite too.
 */

export interface RunSpec {
  /** Unique instance id on this node, e.g. 'default.hello-x7k2p'; safe as a directory name. */
  id: string;
  /** The instance's project (a model instance's file is the project's). */
  project?: string;
  template: WorkloadTemplate;
  /** Model runtime, a gated rollout's new version: what to measure it against before it serves (Instance spec.evaluation). */
  evaluation?: NonNullable<Instance['spec']['evaluation']>;
  /**
   * The complete environment of the workload apart from PATH and HOME, which
   * come from the agent. Nothing else of the agent's environment is passed:
   * it holds the agent's credentials.
   */
  env: Record<string, string>;
  /** Where this instance's logs go; created if missing. */
  logDir: string;
  /** Host port of each declared port, by name (allocated by the agent when declared as 0). */
  ports: Record<string, number>;
  /** Host directory of each declared volume, by name; created by the agent, kept across restarts. */
  volumes: Record<string, string>;
  /** The unprivileged user a workload runs as (its project's; a container's user namespace maps its root to it); absent: the agent's own user. */
  user?: WorkloadUser;
}

/** A user id with no account behind it, its group, and the home it owns. */
export interface WorkloadUser {
  uid: number;
  gid: number;
  home: string;
  /**
   * Host ids of the project's own, for a container's user namespace: its
   * root is `uid`/`gid`, its ids 1..count are first..first+count-1 (as
   * /etc/subuid would give a rootless user).
   */
  subordinate: { first: number; count: number };
}

export interface ExitInfo {
  code: number | null;
  signal: string | null;
}

/** One run of a workload. */
export interface Execution {
  readonly pid: number | undefined;
  /** Resolves once, when the workload and everything it started are gone and its output is on disk. */
  readonly exited: Promise<ExitInfo>;
  /** SIGTERM, then SIGKILL after graceMs; safe to call any number of times and after exit. */
  stop(graceMs: number): Promise<ExitInfo>;
}

export interface LogReadOptions {
  /** Start this many bytes before the end; 0 = the whole current file. */
  tailBytes: number;
  /** Keep yielding appended output until `signal` aborts. */
  follow: boolean;
  signal: AbortSignal;
  /**
   * Only output written at or after this time (ms since the epoch), reaching
   * into rotated files; at most one second older may come along (the log
   * index's resolution). `tailBytes` then caps how much of it.
   */
  since?: number;
}

export interface ExecOptions {
  command: string[];
  /** Run under a pseudo-terminal (stdout and stderr merged, resize() honoured). */
  tty: boolean;
  cols?: number;
  rows?: number;
}

/** A command running inside a workload, started by Runtime.exec. */
export interface ExecSession {
  /** Output as it comes: fd 1 (with a tty, everything) or fd 2. */
  onOutput(listener: (fd: 1 | 2, data: Buffer) => void): void;
  write(data: Buffer): void;
  /** Closes the command's stdin (EOF). */
  endInput(): void;
  /** Terminal size; ignored without a tty. */
  resize(cols: number, rows: number): void;
  /** Resolves once, with the command's exit, after its output has been delivered. */
  readonly exited: Promise<ExitInfo>;
  /** Ends the command (SIGKILL); safe after exit. */
  kill(): void;
  /** Flow control: stop delivering output until resume() (the command blocks once its buffers fill). */
  pause?(): void;
  resume?(): void;
}

export interface Runtime {
  readonly kind: string;
  /** Rejects with a StartFailedError when the workload cannot be started at all. */
  start(spec: RunSpec): Promise<Execution>;
  logs(spec: Pick<RunSpec, 'logDir'>, opts: LogReadOptions): AsyncIterable<string>;
  /**
   * Runs a command inside the running workload: its environment and working
   * directory (process), or its container. Rejects with ExecFailedError when
   * the command cannot be started (no such executable, workload not running).
   */
  exec(spec: RunSpec, opts: ExecOptions): Promise<ExecSession>;
  /**
   * At agent start-up: ends whatever a crashed agent left running for this
   * instance (`pid` is the last one recorded, when any) before it is started again.
   */
  reap(spec: RunSpec, pid: number | null): Promise<void>;
}
