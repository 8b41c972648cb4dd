// Containers: apply -> Running for 20 container instances, and a 10-replica
// rollout across two edge sites, on a real center, real agents and real
// podman; bare podman doing the same work, back to back, is the floor: in a
// vfs store of its own, each container in a user namespace (a project's uid
// as its root, the project's range for the rest), no capabilities, as the
// agent runs them. What that isolation costs is reported too: the same
// `podman run -d` in the node's overlay store without a user namespace.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApiClient, Resource, Service } from '../core/index.ts';
import { Podman } from '../agent/runtime/podman.ts';
import { deriveImage, ensureTestImage } from '../agent/runtime/test-image.ts';
import { FIRST_WORKLOAD_UID, subordinateIds } from '../agent/workload-users.ts';
import { startPlatform, waitFor, type Platform } from '../testkit/index.ts';
import { InstanceWatch } from './instance-watch.ts';
import { metric, type Metric } from './results.ts';
import { median, percentile } from './stats.ts';

const START_INSTANCES = 20;
const ROLLOUT_REPLICAS = 10;
const ROUNDS = 3;
const PROBE_MS = 100;
const SITES = ['edge-a', 'edge-b'];

const server = (version: string) =>
  `require('http').createServer((q, s) => s.end('${version}')).listen(Number(process.env.PORT), '0.0.0.0'); process.on('SIGTERM', () => process.exit(0));`;

/** What the agent adds to `podman run` for a project's container (container-runtime.ts): the first project's ids. */
const SUB = subordinateIds(FIRST_WORKLOAD_UID);
const ISOLATION = [
  ...['--uidmap', '--gidmap'].flatMap((flag) => [flag, `0:${FIRST_WORKLOAD_UID}:1`, flag, `1:${SUB.first}:${SUB.count}`]),
  ...['--cap-drop', 'all', '--security-opt', 'no-new-privileges'],
];

export async function run(): Promise<Metric[]> {
  const node = new Podman(join(tmpdir(), 'gedge-podman'));
  const base = await ensureTestImage(node);
  const images = {
    v1: await deriveImage(node, base, 'localhost/gedge-bench:v1', [process.execPath, '-e', server('v1')]),
    v2: await deriveImage(node, base, 'localhost/gedge-bench:v2', [process.execPath, '-e', server('v2')]),
  };
  const podman = new Podman(join(tmpdir(), 'gedge-bench-peer'), { ownStore: true });
  for (const image of [base, images.v1, images.v2]) await podman.adopt(image);
  log(`images ready; starting a center and ${SITES.length} agents`);
  const p = await startPlatform({ heartbeatMs: 1000, agents: SITES.map((site) => ({ name: `${site}-1`, site, cpu: 8, memoryMiB: 16_384 })) });
  const stores = [...p.agents.values()].map((a) => new Podman(join(a.dataDir, 'containers'), { ownStore: true }));
  const starts = { ours: [] as number[], peer: [] as number[], bare: [] as number[] };
  const rollouts = { ours: [] as number[], peer: [] as number[] };
  try {
    const watch = await InstanceWatch.open(p.center.api);
    for (let r = 1; r <= ROUNDS; r++) {
      const ours = await startRound(p.center.api, watch, stores, base, `s${r}`);
      const peer = await peerStartRound(podman, base, `s${r}`, ISOLATION);
      const bare = await peerStartRound(node, base, `s${r}`, []);
      starts.ours.push(...ours);
      starts.peer.push(...peer);
      starts.bare.push(...bare);
      log(`start round ${r}: ours p50 ${fmt(percentile(ours, 50))} p99 ${fmt(percentile(ours, 99))} ms; podman run p50 ${fmt(percentile(peer, 50))} p99 ${fmt(percentile(peer, 99))} ms; without isolation p50 ${fmt(percentile(bare, 50))} ms`);
    }
    await watch.close();
    await deploy(p, images.v1);
    for (let r = 1; r <= ROUNDS; r++) {
      const ours = await rolloutRound(p, r % 2 === 1 ? images.v2 : images.v1);
      const peer = await peerRolloutRound(podman, images.v1, images.v2);
      rollouts.ours.push(ours);
      rollouts.peer.push(peer);
      log(`rollout round ${r}: ours ${fmt(ours)} ms; bare podman ${fmt(peer)} ms`);
    }
  } finally {
    await p.close();
    await podman.run(['rm', '-f', '-t', '0', '--filter', 'name=^gedge-peer-']).catch(() => undefined);
    await node.run(['rm', '-f', '-t', '0', '--filter', 'name=^gedge-peer-']).catch(() => undefined);
  }
  // The goal: at most 20 % over bare podman doing the same work.
  const vsPodman = (name: string, unit: string, ours: number, peerName: string, peer: number): Metric =>
    metric(name, unit, ours, `<= ${Math.round(1.2 * peer)} ${unit} (1.2x podman)`, { name: peerName, value: peer });
  return [
    vsPodman(`apply -> Running p50, ${START_INSTANCES} containers at once (${ROUNDS} rounds)`, 'ms', percentile(starts.ours, 50), 'podman run -d', percentile(starts.peer, 50)),
    vsPodman(`apply -> Running p99, ${START_INSTANCES} containers at once (${ROUNDS} rounds)`, 'ms', percentile(starts.ours, 99), 'podman run -d', percentile(starts.peer, 99)),
    vsPodman(`rollout of ${ROLLOUT_REPLICAS} replicas over ${SITES.length} sites (median of ${ROUNDS})`, 'ms', median(rollouts.ours), 'podman run + rm by hand', median(rollouts.peer)),
    metric(`isolation's price: podman run -d p50, ${START_INSTANCES} at once, own vfs store + user namespace vs the node's overlay store without`, 'ms', percentile(starts.peer, 50), 'report', { name: 'podman run -d, overlay, no user namespace', value: percentile(starts.bare, 50) }),
  ];
}

function sleeper(name: string, image: string): Resource {
  return { apiVersion: 'gedge.io/v1', kind: 'Service', metadata: { name, labels: { bench: 'containers' } }, spec: { replicas: 1, template: { runtime: 'container', image, command: ['/bin/sleep', '3600'], stopGracePeriod: '0s' } } } as unknown as Resource;
}

/** One apply of 20 single-instance services; each one's apply -> Running latency. */
async function startRound(api: ApiClient, watch: InstanceWatch, stores: Podman[], image: string, prefix: string): Promise<number[]> {
  const names = Array.from({ length: START_INSTANCES }, (_, i) => `bench-${prefix}-${i}`);
  const t0 = performance.now();
  await api.apply(names.map((n) => JSON.stringify(sleeper(n, image))).join('\n---\n'));
  await watch.untilRunning(names, 120_000);
  const latencies = names.map((n) => watch.runningSince(n)! - t0);
  for (const n of names) await api.delete('Service', n);
  await watch.untilGone(names, 60_000);
  const left = async () => (await Promise.all(stores.map((podman) => podman.check(['ps', '-q'])))).join('').trim();
  await waitFor(async () => (await left()) === '', 60_000, 'our containers removed', 200);
  return latencies;
}

/** The floor: 20 `podman run -d` at once, each timed until it returns (the container started). */
async function peerStartRound(podman: Podman, image: string, prefix: string, isolation: string[]): Promise<number[]> {
  const t0 = performance.now();
  const latencies = await Promise.all(
    Array.from({ length: START_INSTANCES }, async (_, i) => {
      await podman.check(['run', '-d', '--init', '--pull', 'never', ...isolation, '--name', `gedge-peer-${prefix}-${i}`, image, '/bin/sleep', '3600']);
      return performance.now() - t0;
    }),
  );
  await podman.run(['rm', '-f', '-t', '0', '--filter', 'name=^gedge-peer-']);
  return latencies;
}

function webService(image: string): Resource {
  return {
    apiVersion: 'gedge.io/v1',
    kind: 'Service',
    metadata: { name: 'bench-web', labels: { bench: 'containers' } },
    spec: {
      replicas: ROLLOUT_REPLICAS,
      maxSurge: 1,
      maxUnavailable: 1,
      placement: { tiers: ['edge'], policy: 'spread' },
      template: { runtime: 'container', image, ports: [{ name: 'http' }], readiness: { http: { port: 'http', path: '/' }, period: `${PROBE_MS}ms`, failureThreshold: 1 }, stopGracePeriod: '2s' },
    },
  } as unknown as Resource;
}

async function deploy(p: Platform, image: string): Promise<void> {
  await p.center.api.apply(JSON.stringify(webService(image)));
  await waitFor(async () => (await p.center.api.get<Service>('Service', 'bench-web')).status?.rollout?.phase === 'Complete', 120_000, 'the first revision', 100);
}

/** apply a new image -> the rollout Complete, as the service's watch shows it. */
async function rolloutRound(p: Platform, image: string): Promise<number> {
  const api = p.center.api;
  const before = await api.get<Service>('Service', 'bench-web');
  const ac = new AbortController();
  const t0 = performance.now();
  await api.apply(JSON.stringify(webService(image)));
  try {
    for await (const ev of api.watch('Service', { since: before.metadata.revision, signal: ac.signal })) {
      const s = ev.object as Service | undefined;
      if (s?.metadata.name !== 'bench-web' || !s.status?.rollout || s.status.rollout.revision === before.status?.revision) continue;
      if (s.status.rollout.phase === 'Complete') return performance.now() - t0;
      if (s.status.rollout.phase !== 'Progressing') throw new Error(`rollout ended ${s.status.rollout.phase}: ${s.status.rollout.message}`);
    }
  } finally {
    ac.abort();
  }
  throw new Error('the watch ended before the rollout completed');
}

/**
 * The floor: the same replacement by hand with podman, two at a time (the
 * rollout's maxSurge + maxUnavailable): run the new container, poll it until
 * it answers (every PROBE_MS, like the readiness probe), remove an old one.
 */
async function peerRolloutRound(podman: Podman, oldImage: string, newImage: string): Promise<number> {
  const run = async (name: string, image: string, port: number) => {
    await podman.check(['run', '-d', '--init', '--pull', 'never', ...ISOLATION, '--name', name, '-e', `PORT=${port}`, '-p', `127.0.0.1:${port}:${port}`, image]);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/`).then((r) => r.ok).catch(() => false)) || undefined, 60_000, `${name} answering`, PROBE_MS);
  };
  const ports = await Promise.all(Array.from({ length: ROLLOUT_REPLICAS * 2 }, () => freePort()));
  await Promise.all(Array.from({ length: ROLLOUT_REPLICAS }, (_, i) => run(`gedge-peer-old-${i}`, oldImage, ports[i]!)));
  const t0 = performance.now();
  const lane = async (from: number) => {
    for (let i = from; i < ROLLOUT_REPLICAS; i += 2) {
      await run(`gedge-peer-new-${i}`, newImage, ports[ROLLOUT_REPLICAS + i]!);
      await podman.check(['rm', '-f', '-t', '2', `gedge-peer-old-${i}`]);
    }
  };
  await Promise.all([lane(0), lane(1)]);
  const took = performance.now() - t0;
  await podman.run(['rm', '-f', '-t', '0', '--filter', 'name=^gedge-peer-']);
  return took;
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function fmt(ms: number): string {
  return ms.toFixed(0);
}

function log(msg: string): void {
  console.error(`[containers] ${msg}`);
}
