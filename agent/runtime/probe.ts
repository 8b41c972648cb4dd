import http from 'node:http';
import net from 'node:net';
import type { WorkloadTemplate } from '../../core/index.ts';

export type Probe = NonNullable<WorkloadTemplate['readiness']>;

/**
 * One readiness check against the workload on 127.0.0.1. Any failure
 * (refused, timed out, bad status, unknown port name) is simply "not ready";
 * it never throws because a probe runs on a timer with nobody to catch.
 */
export async function probeOnce(probe: Probe, ports: Record<string, number>, timeoutMs: number): Promise<boolean> {
  try {
    if (probe.http) {
      const port = resolvePort(probe.http.port, ports);
      return port === undefined ? false : await httpReady(port, probe.http.path, timeoutMs);
    }
    if (probe.tcp) {
      const port = resolvePort(probe.tcp.port, ports);
      return port === undefined ? false : await tcpReady(port, timeoutMs);
    }
    return false;
  } catch {
    return false;
  }
}

function resolvePort(port: string | number, ports: Record<string, number>): number | undefined {
  const resolved = typeof port === 'number' ? port : ports[port];
  return resolved !== undefined && resolved > 0 && resolved <= 65535 ? resolved : undefined;
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
