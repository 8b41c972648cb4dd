import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterState, Scheduler } from '../scheduler/index.ts';
import { openSqliteStore } from '../center/store/sqlite-store.ts';
import { ObjectCache } from '../center/controllers/object-cache.ts';
import { PlacementController } from '../center/controllers/placement-controller.ts';
import { buildCluster, workload } from './scheduler-cluster.ts';
import { percentile } from './stats.ts';

/**
 * Placement through the center's own parts: a SQLite store holding the
 * cluster, the informer cache feeding the scheduler's state, and the
 * placement controller binding each instance (binding and explanation in one
 * write, then an event), one reconcile after another.
 */
export async function placeThroughStore(nodes: number, count: number): Promise<{ perSecond: number; p99Ms: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'gedge-bench-sched-'));
  const store = await openSqliteStore(join(dir, 'center.db'));
  const cache = new ObjectCache(store, ['Node', 'Site', 'Service', 'Instance', 'SiteLink', 'PriorityClass']);
  try {
    const cluster = buildCluster(nodes);
    for (let i = 0; i < cluster.objects.length; i += 1000) await store.apply(cluster.objects.slice(i, i + 1000));
    const pods = workload(count, 'latency', cluster.clientSites);
    for (let i = 0; i < pods.length; i += 1000) await store.apply(pods.slice(i, i + 1000));
    await cache.start();
    const scheduler = new Scheduler(new ClusterState());
    cache.attach((o, deleted) => scheduler.state.apply(o, deleted));
    for (const [a, b, rtt] of cluster.links) scheduler.state.latency.set(a, b, rtt, 'measured');
    const controller = new PlacementController(store, scheduler, cache);
    const times: number[] = [];
    const t0 = process.hrtime.bigint();
    for (const p of pods) {
      const s = process.hrtime.bigint();
      await controller.reconcile(`default/${p.metadata.name}`);
      times.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
    const totalS = Number(process.hrtime.bigint() - t0) / 1e9;
    return { perSecond: count / totalS, p99Ms: percentile(times, 99) };
  } finally {
    cache.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
