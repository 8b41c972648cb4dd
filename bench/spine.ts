// The spine: apply -> Running latency, agent and center footprint, and sync
// traffic, on a real center and three real agents (separate processes, 127.0.0.1).
import { startPlatform, waitFor, type LogLine, type Platform } from '../testkit/index.ts';
import { InstanceWatch } from './instance-watch.ts';
import { parsePromText, sumOf, type PromSample } from './prom-text.ts';
import { cpuPercent, countChildren, rssMiB } from './proc-stats.ts';
import { metric, type Metric } from './results.ts';
import { batchRound, breakdown, sequentialRound, serviceNames, tearDown, type Round } from './spine-rounds.ts';
import { median, percentile } from './stats.ts';

const AGENTS = [
  { name: 'agent-a', site: 'edge-a' },
  { name: 'agent-b', site: 'edge-b' },
  { name: 'agent-c', site: 'edge-c' },
];
const INSTANCES = 100;
const ROUNDS = 5;
const HEARTBEAT_MS = 2000;
/** CPU is sampled over windows of this length, several in a row; traffic over all of them. */
const CPU_WINDOW_MS = 10_000;
const CPU_WINDOWS = 3;
/** An agent younger than this still carries its start-up garbage. */
const MIN_AGENT_AGE_MS = 10_000;

export async function run(): Promise<Metric[]> {
  const started = performance.now();
  log(`starting a center and ${AGENTS.length} agents (heartbeat ${HEARTBEAT_MS} ms)`);
  const platform = await startPlatform({ heartbeatMs: HEARTBEAT_MS, agents: AGENTS });
  const readyAt = performance.now();
  let watch: InstanceWatch | undefined;
  try {
    const api = platform.center.api;
    const agentPids = AGENTS.map((a) => platform.agents.get(a.name)!.process.pid);
    watch = await InstanceWatch.open(api);

    await waitFor(() => performance.now() - readyAt >= MIN_AGENT_AGE_MS, MIN_AGENT_AGE_MS + 1000, 'agents past start-up', 200);
    log(`idle, no workloads: sampling for ${(CPU_WINDOW_MS * CPU_WINDOWS) / 1000} s`);
    const empty = await measureIdle(platform, agentPids);

    // A small warm-up round also proves the watch stream is live before anything is timed.
    const warm = serviceNames('warm', 6);
    await batchRound(api, watch, warm);
    await tearDown(api, watch, warm, agentPids);

    const batch: Round[] = [];
    const sequential: Round[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      const seq = await sequentialRound(api, watch, serviceNames(`seq${r}`, INSTANCES));
      sequential.push(seq);
      log(`sequential round ${r}: p50 ${fmt(percentile(seq.latencies, 50))} ms, p99 ${fmt(percentile(seq.latencies, 99))} ms (${INSTANCES} applies took ${fmt(seq.applyMs)} ms)`);
      log(`  p50/p99 ms: ${breakdown(watch, seq)}`);
      await tearDown(api, watch, seq.services, agentPids);
      const b = await batchRound(api, watch, serviceNames(`batch${r}`, INSTANCES));
      batch.push(b);
      log(`batch round ${r}: p50 ${fmt(percentile(b.latencies, 50))} ms, p99 ${fmt(percentile(b.latencies, 99))} ms (apply request ${fmt(b.applyMs)} ms)`);
      log(`  p50/p99 ms: ${breakdown(watch, b)}`);
      // The last batch stays up for the footprint measurement with workloads.
      if (r < ROUNDS) await tearDown(api, watch, b.services, agentPids);
    }

    const perAgent = countChildren(agentPids);
    log(`workload processes per agent: ${AGENTS.map((a, i) => `${a.name}=${perAgent.get(agentPids[i]!)}`).join(' ')}`);
    await watch.untilQuiet(2 * HEARTBEAT_MS, 30_000);
    log(`idle, ${INSTANCES} instances running: sampling for ${(CPU_WINDOW_MS * CPU_WINDOWS) / 1000} s`);
    const loaded = await measureIdle(platform, agentPids);

    reportLogProblems(platform);
    log(`done in ${fmt((performance.now() - started) / 1000)} s; tearing down`);
    const p = (rounds: Round[], q: number) => median(rounds.map((r) => percentile(r.latencies, q)));
    return [
      metric('apply->Running p50, batch apply', 'ms', p(batch, 50), 'report'),
      metric('apply->Running p99, batch apply', 'ms', p(batch, 99), '<= 1000 ms'),
      metric('apply->Running p99, sequential applies', 'ms', p(sequential, 99), '<= 1000 ms'),
      metric('batch apply request (100 docs)', 'ms', median(batch.map((r) => r.applyMs)), 'report'),
      // The default spread with services of one replica that request nothing: even is a third each.
      metric(`workload processes on the busiest of ${AGENTS.length} agents, ${INSTANCES} single-replica services`, 'instances', Math.max(...agentPids.map((pid) => perAgent.get(pid) ?? 0)), `<= ${Math.ceil((1.2 * INSTANCES) / AGENTS.length)} (even: ${Math.ceil(INSTANCES / AGENTS.length)})`),
      metric('agent RSS, idle, 100 instances running', 'MiB', loaded.agentRss, '<= 60 MiB'),
      metric('agent RSS, idle, no instances', 'MiB', empty.agentRss, '<= 60 MiB'),
      metric('agent CPU, idle, 100 instances running', '% core', loaded.agentCpu, 'report'),
      metric('center RSS, 3 agents idle', 'MiB', empty.centerRss, 'report'),
      metric('center CPU, 3 agents idle', '% core', empty.centerCpu, 'report'),
      metric('center RSS, 100 instances running', 'MiB', loaded.centerRss, 'report'),
      metric('center CPU, 100 instances running', '% core', loaded.centerCpu, 'report'),
      metric('sync bytes per heartbeat', 'B', empty.bytesPerHeartbeat, 'report'),
      metric('sync bytes/s per agent, idle, both directions', 'B/s', empty.bytesPerSecondPerAgent, 'report'),
      metric('sync bytes/s per agent, 100 instances, both directions', 'B/s', loaded.bytesPerSecondPerAgent, 'report'),
    ];
  } finally {
    await watch?.close();
    await platform.close();
  }
}

interface Idle {
  agentRss: number;
  agentCpu: number;
  centerRss: number;
  centerCpu: number;
  bytesPerHeartbeat: number;
  bytesPerSecondPerAgent: number;
}

/**
 * Footprint and sync traffic of an idle platform. RSS is sampled after each
 * CPU window (median per process, then median across agents). Traffic is the
 * center's own byte counters (JSON payloads, without WebSocket framing or
 * pings). The center counts heartbeat bytes but not heartbeats, so their
 * number is what the period gives: agents x window / heartbeat period.
 */
async function measureIdle(platform: Platform, agentPids: number[]): Promise<Idle> {
  const centerPid = platform.center.process.pid;
  const pids = [centerPid, ...agentPids];
  const rss: number[][] = pids.map(() => []);
  const cpu: number[][] = pids.map(() => []);
  const before = await scrape(platform);
  const t0 = performance.now();
  for (let w = 0; w < CPU_WINDOWS; w++) {
    (await cpuPercent(pids, CPU_WINDOW_MS)).forEach((c, i) => cpu[i]!.push(c));
    pids.forEach((pid, i) => rss[i]!.push(rssMiB(pid)));
  }
  const after = await scrape(platform);
  const seconds = (performance.now() - t0) / 1000;
  const delta = (match: Record<string, string>) => sumOf(after, 'gedge_agent_bytes_total', match) - sumOf(before, 'gedge_agent_bytes_total', match);
  const heartbeats = agentPids.length * Math.round((seconds * 1000) / HEARTBEAT_MS);
  const hbBytes = delta({ direction: 'in', type: 'hb' });
  const types = [...new Set(after.filter((s) => s.name === 'gedge_agent_bytes_total').map((s) => `${s.labels.direction}/${s.labels.type}`))];
  const byType = types.map((t) => [t, delta({ direction: t.split('/')[0]!, type: t.split('/')[1]! })] as const).filter(([, b]) => b > 0);
  log(`  window ${fmt(seconds)} s: ${hbBytes} B of heartbeats (${heartbeats} expected), ${delta({})} B in all (${byType.map(([t, b]) => `${t} ${b}`).join(', ')})`);
  return {
    centerRss: median(rss[0]!),
    centerCpu: median(cpu[0]!),
    agentRss: median(rss.slice(1).map(median)),
    agentCpu: median(cpu.slice(1).map(median)),
    bytesPerHeartbeat: hbBytes / heartbeats,
    bytesPerSecondPerAgent: delta({}) / seconds / agentPids.length,
  };
}

async function scrape(platform: Platform): Promise<PromSample[]> {
  const res = await platform.center.api.raw('GET', '/metrics');
  if (!res.ok) throw new Error(`GET /metrics: ${res.status}`);
  return parsePromText(await res.text());
}

/** Warnings and errors the center and agents logged (pino levels 40 and up). */
function reportLogProblems(platform: Platform): void {
  const procs = [platform.center.process, ...[...platform.agents.values()].map((a) => a.process)];
  for (const p of procs) {
    const bad = p.lines.filter((l: LogLine) => typeof l.level === 'number' && l.level >= 40);
    if (bad.length === 0) continue;
    log(`${p.name} logged ${bad.length} warnings/errors, e.g.:`);
    for (const l of bad.slice(0, 5)) log(`  ${JSON.stringify(l).slice(0, 300)}`);
  }
}

function log(msg: string): void {
  console.log(`[spine] ${msg}`);
}

function fmt(n: number): string {
  return n >= 100 ? n.toFixed(0) : n.toFixed(1);
}
