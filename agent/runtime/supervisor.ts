import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Backoff, durationMs } from '../../core/index.ts';
import type { InstanceStatus, RestartPolicy } from '../../core/index.ts';
import { ProbeLoop, type ProbeTarget } from './probe.ts';
import type { Execution, ExitInfo, RunSpec, Runtime } from './runtime.ts';

export interface SupervisorEvent {
  reason: 'Started' | 'Exited' | 'BackOff' | 'StartFailed' | 'Unhealthy' | 'Stopped';
  message: string;
  type: 'Normal' | 'Warning';
}

export interface SupervisorOptions {
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** A run at least this long counts as healthy and resets the back-off. */
  resetAfterMs?: number;
  now?: () => number;
}

export interface SupervisorEvents {
  status: [InstanceStatus];
  event: [SupervisorEvent];
}

interface RunOutcome {
  exit: ExitInfo;
  /** Non-zero exit, a signal, or no start at all. */
  failed: boolean;
  ranMs: number;
  message: string;
}

/**
 * Keeps one instance running per its restart policy, with exponential
 * back-off between restarts (as the kubelet does for a crash-looping
 * container), and tracks readiness. Listeners must not throw.
 */
export class InstanceSupervisor extends EventEmitter<SupervisorEvents> {
  private state: InstanceStatus;
  private readonly backoff: Backoff;
  private readonly resetAfterMs: number;
  private readonly now: () => number;
  private execution: Execution | undefined;
  private loopDone: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private stopRequested = false;
  /** Cuts a back-off wait short when stop() comes. */
  private readonly wake = new AbortController();
  /** This run's readiness and liveness loops. */
  private probes: ProbeLoop[] = [];
  private probesStopped: Promise<unknown> | undefined;
  /** Set when a failed liveness probe ended the current run. */
  private livenessFailure: string | undefined;
  private readonly probeTarget: ProbeTarget;

  constructor(
    private readonly runtime: Runtime,
    private readonly spec: RunSpec,
    opts: SupervisorOptions = {},
  ) {
    super();
    const { backoffInitialMs = 1000, backoffMaxMs = 60_000, resetAfterMs = 10_000, now = Date.now } = opts;
    this.backoff = new Backoff({ initialMs: backoffInitialMs, maxMs: backoffMaxMs, jitter: 0.2 });
    this.resetAfterMs = resetAfterMs;
    this.now = now;
    this.state = { phase: 'Pending', ready: false, restarts: 0, ports: { ...spec.ports }, conditions: [] };
    const portMap: Record<number, number> = {};
    for (const p of spec.template.ports) {
      const host = spec.ports[p.name];
      if (host !== undefined) portMap[p.containerPort ?? (p.port || host)] = host;
    }
    this.probeTarget = { ports: spec.ports, portMap, exec: (command) => runtime.exec(spec, { command, tty: false }) };
  }

  get status(): InstanceStatus {
    return { ...this.state, ports: { ...this.state.ports }, conditions: [...this.state.conditions] };
  }

  get pid(): number | undefined {
    return this.state.pid;
  }

  start(): void {
    if (this.loopDone || this.stopRequested) return;
    this.loopDone = this.loop().catch((err: unknown) => {
      // Only a throwing listener gets here; record it rather than crash the agent.
      this.state = { ...this.state, phase: 'Unknown', message: `supervisor failed: ${String(err)}` };
    });
  }

  /** Stops the instance gracefully (template.stopGracePeriod) and for good. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.stopRequested = true;
    this.wake.abort();
    this.stopProbing();
    // The loop sees the exit and records the final status.
    const stopped = this.execution?.stop(durationMs(this.spec.template.stopGracePeriod));
    await Promise.all([stopped, this.loopDone, this.probesStopped]);
  }

  private async loop(): Promise<void> {
    const policy = this.spec.template.restartPolicy;
    while (true) {
      const outcome = await this.runOnce();
      if (this.stopRequested) return this.finishStopped(outcome);
      if (!restartWanted(policy, outcome.failed)) return this.finish(outcome);
      if (outcome.ranMs >= this.resetAfterMs) this.backoff.reset();
      const delay = this.backoff.next();
      this.emitEvent('Warning', 'BackOff', `back-off ${delay}ms restarting instance after ${outcome.message}`);
      this.update({ phase: 'Starting', ready: false, pid: undefined, ...exitFields(outcome.exit), message: `back-off ${delay}ms after ${outcome.message}` });
      await sleep(delay, undefined, { signal: this.wake.signal }).catch(() => {});
      if (this.stopRequested) return this.finishStopped(outcome);
      this.state.restarts++;
    }
  }

  private async runOnce(): Promise<RunOutcome> {
    const startedAtMs = this.now();
    this.update({ phase: 'Starting', ready: false, pid: undefined, startedAt: new Date(startedAtMs).toISOString() });
    let execution: Execution;
    try {
      execution = await this.runtime.start(this.spec);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.emitEvent('Warning', 'StartFailed', message);
      return { exit: { code: null, signal: null }, failed: true, ranMs: this.now() - startedAtMs, message: `start failure: ${message}` };
    }
    this.execution = execution;
    this.livenessFailure = undefined;
    this.update({ phase: 'Running', pid: execution.pid, ready: !this.spec.template.readiness, exitCode: undefined, signal: undefined, message: undefined });
    this.emitEvent('Normal', 'Started', `started ${this.spec.id} (pid ${execution.pid ?? 'unknown'})`);
    if (this.stopRequested) void execution.stop(durationMs(this.spec.template.stopGracePeriod)); // stop() came while starting
    else this.startProbing(execution);

    const exit = await execution.exited.catch((): ExitInfo => ({ code: null, signal: null }));
    this.execution = undefined;
    this.stopProbing();
    const failed = exit.code !== 0 || this.livenessFailure !== undefined;
    const ended = exit.signal ? `killed by signal ${exit.signal}` : `exit code ${exit.code}`;
    const message = this.livenessFailure ? `${this.livenessFailure} (${ended})` : ended;
    if (!this.stopRequested) this.emitEvent(failed ? 'Warning' : 'Normal', 'Exited', `${this.spec.id} exited: ${message}`);
    return { exit, failed, ranMs: this.now() - startedAtMs, message };
  }

  private finish(outcome: RunOutcome): void {
    this.update({ phase: outcome.failed ? 'Failed' : 'Succeeded', ready: false, pid: undefined, ...exitFields(outcome.exit), message: outcome.message });
  }

  /** A deliberate stop is not a workload failure, so it ends Succeeded whatever the exit code. */
  private finishStopped(outcome: RunOutcome): void {
    this.update({ phase: 'Succeeded', ready: false, pid: undefined, ...exitFields(outcome.exit), message: `stopped (${outcome.message})` });
    this.emitEvent('Normal', 'Stopped', `${this.spec.id} stopped (${outcome.message})`);
  }

  private startProbing(execution: Execution): void {
    const { readiness, liveness } = this.spec.template;
    if (readiness) {
      this.probes.push(
        new ProbeLoop(readiness, this.probeTarget, (passed, failures) => {
          if (passed && !this.state.ready) this.update({ ready: true });
          else if (!passed && this.state.ready && failures >= readiness.failureThreshold) {
            this.emitEvent('Warning', 'Unhealthy', `${this.spec.id}: readiness probe failed ${failures} times`);
            this.update({ ready: false });
          }
        }),
      );
    }
    if (liveness) {
      this.probes.push(
        new ProbeLoop(liveness, this.probeTarget, (passed, failures) => {
          if (passed || failures < liveness.failureThreshold || this.livenessFailure || this.stopRequested) return;
          this.livenessFailure = `liveness probe failed ${failures} times`;
          this.emitEvent('Warning', 'Unhealthy', `${this.spec.id}: ${this.livenessFailure}; restarting it`);
          this.update({ ready: false });
          void execution.stop(durationMs(this.spec.template.stopGracePeriod));
        }),
      );
    }
    for (const p of this.probes) p.start();
  }

  private stopProbing(): void {
    const loops = this.probes.splice(0);
    if (loops.length) this.probesStopped = Promise.all(loops.map((p) => p.stop()));
  }

  private update(patch: Partial<InstanceStatus>): void {
    const next: InstanceStatus = { ...this.state, ...patch };
    for (const key of Object.keys(next) as Array<keyof InstanceStatus>) if (next[key] === undefined) delete next[key];
    this.state = next;
    this.emit('status', this.status);
  }

  private emitEvent(type: SupervisorEvent['type'], reason: SupervisorEvent['reason'], message: string): void {
    this.emit('event', { reason, message, type });
  }
}

function restartWanted(policy: RestartPolicy, failed: boolean): boolean {
  return policy === 'Always' || (policy === 'OnFailure' && failed);
}

function exitFields(exit: ExitInfo): Pick<InstanceStatus, 'exitCode' | 'signal'> {
  return { exitCode: exit.code, signal: exit.signal };
}
