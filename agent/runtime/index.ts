/** The agent's runtimes: what runs a workload, keeps it running and keeps its logs. */
export type { ExecOptions, ExecSession, Execution, ExitInfo, LogReadOptions, RunSpec, Runtime } from './runtime.ts';
export { ExecFailedError, RuntimeError, StartFailedError } from './errors.ts';
export { ProcessRuntime, killProcessGroup } from './process-runtime.ts';
export { ContainerRuntime } from './container-runtime.ts';
export type { ContainerRuntimeOptions } from './container-runtime.ts';
export { RotatingLog, readLog } from './log-files.ts';
export type { RotatingLogOptions } from './log-files.ts';
export { probeOnce } from './probe.ts';
export type { Probe } from './probe.ts';
export { InstanceSupervisor } from './supervisor.ts';
export type { SupervisorEvent, SupervisorEvents, SupervisorOptions } from './supervisor.ts';
