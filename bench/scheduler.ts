// `npm run bench -- scheduler`: placements per second and decision latency of
// the scheduler (filter -> score -> pick, then the binding accounted in the
// cluster state) for 50,000 instances onto 1,000 / 5,000 / 20,000 nodes in
// sites of 10 nodes, with the latency policy under an SLA and with binpack.
// Then the same through the center's placement controller with the SQLite
// store (each binding written with its explanation, plus an event).
import { Scheduler } from '../scheduler/index.ts';
import { metric, type Metric } from './results.ts';
import { median, percentile } from './stats.ts';
import { placeThroughStore } from './scheduler-store.ts';
import { SLA_MS, buildCluster, stateFor, workload } from './scheduler-cluster.ts';

interface Run {
  perSecond: number;
  p50Us: number;
  p99Us: number;
  unscheduled: number;
}

function placeAll(nodes: number, policy: 'latency' | 'binpack', count: number): Run {
  const cluster = buildCluster(nodes);
  const scheduler = new Scheduler(stateFor(cluster));
  const pods = workload(count, policy, cluster.clientSites);
  const times = new Float64Array(count);
  let unscheduled = 0;
  const at = new Date();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const s = process.hrtime.bigint();
    const d = scheduler.place(pods[i]!, at);
    if (d.node) scheduler.state.assume(pods[i]!, d.node);
    else unscheduled++;
    times[i] = Number(process.hrtime.bigint() - s) / 1000;
  }
  const totalS = Number(process.hrtime.bigint() - t0) / 1e9;
  const sorted = Array.from(times);
  return { perSecond: count / totalS, p50Us: percentile(sorted, 50), p99Us: percentile(sorted, 99), unscheduled };
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

export async function run(): Promise<Metric[]> {
  const metrics: Metric[] = [];
  const perNode: Record<string, Record<number, number>> = { latency: {}, binpack: {} };
  for (const policy of ['latency', 'binpack'] as const) {
    for (const nodes of [1000, 5000, 20000]) {
      const runs: Run[] = [];
      for (let r = 0; r < ROUNDS; r++) runs.push(placeAll(nodes, policy, 50_000));
      const rate = median(runs.map((x) => x.perSecond));
      const p50 = median(runs.map((x) => x.p50Us));
      const p99 = median(runs.map((x) => x.p99Us));
      perNode[policy]![nodes] = 1e6 / rate;
      console.error(`${policy} ${nodes} nodes: ${Math.round(rate)}/s p50 ${p50.toFixed(1)} us p99 ${p99.toFixed(1)} us, unscheduled ${runs[0]!.unscheduled}`);
      const goal = nodes === 5000 ? '>= 8000 placements/s' : 'report';
      metrics.push(metric(`${policy}${policy === 'latency' ? ` (SLA ${SLA_MS} ms)` : ''}: 50k instances onto ${nodes} nodes, rate`, 'placements/s', rate, goal));
      metrics.push(metric(`${policy}: ${nodes} nodes, decision p50`, 'us', p50, 'report'));
      metrics.push(metric(`${policy}: ${nodes} nodes, decision p99`, 'us', p99, 'report'));
    }
    // Growth: how much more a placement costs at 20x the nodes, as an exponent (1 = linear).
    const growth = Math.log(perNode[policy]![20000]! / perNode[policy]![1000]!) / Math.log(20);
    metrics.push(metric(`${policy}: cost growth exponent, 1k -> 20k nodes`, 'exponent', growth, '<= 1'));
  }
  const e2e = await placeThroughStore(5000, 5000);
  metrics.push(metric('through the center (SQLite; binding + explanation + event written): 5k instances onto 5000 nodes', 'placements/s', e2e.perSecond, 'report'));
  metrics.push(metric('through the center: decision + write p99', 'ms', e2e.p99Ms, 'report'));
  return metrics;
}
