import http from 'node:http';
import net from 'node:net';
import { durationMs, type ProbeSpec } from '../../core/index.ts';
import type { ExecSession } from './runtime.ts';

export type Probe = ProbeSpec;

/** How a probe reaches the workload: its host ports by name, numeric ports translated (a container port to its host port), and exec. */
export interface ProbeTarget {
  ports: Record<string, number>;
  /** Declared container port -> host port (container runtime). */
  portMap?: Record<number, number>;
  exec?: (command: string[]) => Promise<ExecSession>;
}

/**
 * One check against the workload: HTTP or TCP on 127.0.0.1, or a command run
 * inside it. Any failure (refused, timed out, bad status, unknown port name,
 * non-zero exit) is simply "failed"; it never throws because a probe runs on
 * a timer with nobody to catch.
 */
export async function probeOnce(probe: Probe, t: ProbeTarget, timeoutMs: number): Promise<boolean> {
  try {
    if (probe.http) {
      const port = resolvePort(probe.http.port, t);
      return port === undefined ? false : await httpReady(port, probe.http.path, timeoutMs);
    }
    if (probe.tcp) {
      const port = resolvePort(probe.tcp.port, t);
      return port === undefined ? false : await tcpReady(port, timeoutMs);
    }
    if (probe.exec && t.exec) return await execPasses(t.exec, probe.exec.command, timeoutMs);
    return false;
  } catch {
    return false;
  }
}

function resolvePort(port: string | number, t: ProbeTarget): number | undefined {
  const resolved = typeof port === 'number' ? (t.portMap?.[port] ?? port) : t.ports[port];
  return resolved !== undefined && resolved > 0 && resolved <= 65535 ? resolved : undefined;
}

async function execPasses(exec: NonNullable<ProbeTarget['exec']>, command: string[], timeoutMs: number): Promise<boolean> {
  const session = await exec(command);
  session.endInput();
  const timer = setTimeout(() => session.kill(), timeoutMs);
  try {
    const exit = await session.exited;
    return exit.code === 0;
  } finally {
    clearTimeout(timer);
  }
}

function tcpReady(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    const finish = (ready: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ready);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once('connect', () => finish(true));
    socket.on('error', () => finish(false));
  });
}

function httpReady(port: number, path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    // No keep-alive agent: a pooled socket would outlive the probe and hold the workload's connection slot.
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers: { 'user-agent': 'gedge-probe' } });
    const finish = (ready: boolean): void => {
      clearTimeout(timer);
      req.destroy();
      resolve(ready);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    req.once('response', (res) => {
      res.on('error', () => {});
      res.resume();
      const status = res.statusCode ?? 0;
      finish(status >= 200 && status < 400);
    });
    req.on('error', () => finish(false));
  });
}

/**
 * Runs one probe on a timer for one run of a workload: first check after
 * initialDelay, then every period, one check at a time. Reports each
 * result with the count of consecutive failures so far.
 */
export class ProbeLoop {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private failures = 0;
  private stopped = false;

  constructor(
    private readonly probe: Probe,
    private readonly target: ProbeTarget,
    private readonly onResult: (passed: boolean, consecutiveFailures: number) => void,
  ) {}

  start(): void {
    this.schedule(durationMs(this.probe.initialDelay));
  }

  /** No more checks; resolves when a check in flight has finished (its result is dropped). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.inFlight;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.inFlight = probeOnce(this.probe, this.target, durationMs(this.probe.timeout)).then((passed) => {
        if (this.stopped) return;
        this.failures = passed ? 0 : this.failures + 1;
        this.onResult(passed, this.failures);
        this.schedule(durationMs(this.probe.period));
      });
    }, delayMs);
  }
}
