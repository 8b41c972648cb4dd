import type { ApiClient, Resource } from '../core/index.ts';
import { waitFor } from '../testkit/index.ts';
import type { InstanceWatch } from './instance-watch.ts';
import { childrenOf, countChildren } from './proc-stats.ts';
import { median, percentile } from './stats.ts';

/**
 * apply -> Running rounds: services of one replica each, a cheap long-lived
 * process (`/bin/sleep`, not a node process: 100 of those would need ~4 GB),
 * no resource requests; placement spreads them by instance count.
 */
export function sleeperService(name: string): Resource {
  return {
    apiVersion: 'gedge.io/v1',
    kind: 'Service',
    metadata: { name, labels: { bench: 'spine' } },
    spec: {
      replicas: 1,
      placement: {},
      template: { command: ['/bin/sleep', '3600'], resources: { cpu: 0, memoryMiB: 0, diskMiB: 0 }, stopGracePeriod: '1s' },
    },
  } as unknown as Resource;
}

export interface Round {
  services: string[];
  /** When each service's apply request started (performance.now()). */
  starts: number[];
  /** apply call start -> first seen Running on the watch, per service, ms. */
  latencies: number[];
  /** Duration of the apply request(s), ms. */
  applyMs: number;
}

const RUNNING_TIMEOUT_MS = 60_000;

/** Applies all services in one multi-document request, timed from that request's start. */
export async function batchRound(api: ApiClient, watch: InstanceWatch, services: string[]): Promise<Round> {
  const manifest = services.map((s) => JSON.stringify(sleeperService(s))).join('\n---\n');
  const t0 = performance.now();
  await api.apply(manifest);
  const applyMs = performance.now() - t0;
  await watch.untilRunning(services, RUNNING_TIMEOUT_MS);
  return finish(watch, services, services.map(() => t0), applyMs);
}

/** Applies the services one request each, one after the other, each timed from its own request's start. */
export async function sequentialRound(api: ApiClient, watch: InstanceWatch, services: string[]): Promise<Round> {
  const starts: number[] = [];
  const t0 = performance.now();
  for (const s of services) {
    starts.push(performance.now());
    await api.apply(JSON.stringify(sleeperService(s)));
  }
  const applyMs = performance.now() - t0;
  await watch.untilRunning(services, RUNNING_TIMEOUT_MS);
  return finish(watch, services, starts, applyMs);
}

function finish(watch: InstanceWatch, services: string[], starts: number[], applyMs: number): Round {
  return { services, starts, latencies: services.map((s, i) => watch.runningSince(s)! - starts[i]!), applyMs };
}

/** Where the time went, as seen on the watch: p50/p99 of each step, ms. */
export function breakdown(watch: InstanceWatch, r: Round): string {
  const steps: [string, number[]][] = [
    ['apply->created', []],
    ['created->bound', []],
    ['bound->Starting', []],
    ['Starting->Running', []],
  ];
  r.services.forEach((s, i) => {
    const m = watch.marksOf(s);
    const points = [r.starts[i]!, m.created, m.bound, m.starting, m.running];
    for (let k = 0; k < steps.length; k++) {
      const a = points[k];
      const b = points[k + 1];
      if (a !== undefined && b !== undefined) steps[k]![1].push(b - a);
    }
  });
  return steps
    .filter(([, v]) => v.length)
    .map(([name, v]) => `${name} ${median(v).toFixed(0)}/${percentile(v, 99).toFixed(0)}`)
    .join(', ');
}

/** Deletes the services and waits until their instances are gone and the agents have no workload processes left. */
export async function tearDown(api: ApiClient, watch: InstanceWatch, services: string[], agentPids: number[]): Promise<void> {
  for (let i = 0; i < services.length; i += 10) await Promise.all(services.slice(i, i + 10).map((s) => api.delete('Service', s)));
  await watch.untilGone(services, 60_000);
  await waitFor(() => [...countChildren(agentPids).values()].every((n) => n === 0), 60_000, 'every workload process stopped', 200).catch((e: Error) => {
    throw new Error(`${e.message}; still running: ${childrenOf(agentPids).map((c) => `${c.pid} (of ${c.ppid}): ${c.cmd.slice(0, 200)}`).join('; ')}`);
  });
}

export function serviceNames(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);
}
