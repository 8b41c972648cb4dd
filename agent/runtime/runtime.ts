import type { WorkloadTemplate } from '../../core/index.ts';

/**
 * The pluggable runtime contract. The process runtime is the first; container,
 * rules and model runtimes implement the same interface and must pass the
 * shared suite in runtime-contract.ts.
 */

export interface RunSpec {
  /** Unique instance id on this node, e.g. 'default.hello-x7k2p'; safe as a directory name. */
  id: string;
  template: WorkloadTemplate;
  /**
   * The complete environment of the workload apart from PATH and HOME, which
   * come from the agent. Nothing else of the agent's environment is passed:
   * it holds the agent's credentials.
   */
  env: Record<string, string>;
  /** Where this instance's logs go; created if missing. */
  logDir: string;
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
}

export interface Runtime {
  readonly kind: string;
  /** Rejects with a StartFailedError when the workload cannot be started at all. */
  start(spec: RunSpec): Promise<Execution>;
  logs(spec: Pick<RunSpec, 'logDir'>, opts: LogReadOptions): AsyncIterable<string>;
}
