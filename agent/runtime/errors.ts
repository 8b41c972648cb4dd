/**
 * Named runtime errors. They are not GedgeErrors on purpose: they never cross
 * the HTTP API; the supervisor turns them into instance status and events.
 */
export class RuntimeError extends Error {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = new.target.name;
  }
}

/** The workload could not be started at all: no such executable, no such working directory, no permission. */
export class StartFailedError extends RuntimeError {}
/** A command could not be run inside a workload (exec, or an exec probe). */
export class ExecFailedError extends RuntimeError {}
