// `npm run bench -- engine`: the rule engine, alone on one core and through
// the edge broker next to Node-RED 4.
//  - On one core, in this process: a filter rule and a 1 s tumbling window
//    GROUP BY deviceId over 1,000 devices, fed pre-built JSON payloads in
//    batches (a setImmediate between batches lets window timers fire).
//  - End to end, on one real platform (center + one agent with its edge
//    broker): our Rule against Node-RED's equivalent flow
//    (bench/node-red-peer.ts), back to back in each round, same broker, same
//    load, only one of the two running at a time.
//    Window rule: loaders write N messages QoS 0 as fast as the sockets
//    take them; a sink sums `n` over the result rows until it has all N,
//    which is at the close of the window in which processing ended (up to
//    1 s later, at a whole second). Throughput is N over the time from the
//    first publish to when the process that runs the rule (the agent; or
//    Node-RED) was last busy before that close: the wait for the close would
//    quantize the figure. Messages per CPU second: ours is the agent's CPU;
//    Node-RED's is the agent's (the broker forwards every message to
//    Node-RED) plus Node-RED's.
//    Latency sensor -> rule -> actuator: 10k msg/s paced from one loader,
//    1% of them a queue that turns a light red; the sink's receive time minus
//    the reading's send time (both epoch ms with sub-ms precision in
//    processes forked together), after a warm-up.
// Loaders and the sink are forked processes (bench/engine-load.ts); the bed
// they run on (platform, devices, rules, CPU sampling, IPC) is bench/engine-bed.ts.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../engine/index.ts';
import { startPlatform, type Platform } from '../testkit/index.ts';
import { applyRule, command, CpuTrace, cpuOf, crashed, deleteRule, EDGE, forkLoad, log, reply, setUp, type Bed } from './engine-bed.ts';
import { loopMessages } from './engine-load.ts';
import { PING_TOPIC, PONG_TOPIC, startNodeRed, type NodeRedFlow } from './node-red-peer.ts';
import { metric, type Metric } from './results.ts';
import { median, percentile } from './stats.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DEVICES = 1000;
/** In-process: how long each run feeds the engine, and how many messages between yields to the event loop. */
const IN_PROCESS_MS = 5000;
const BATCH = 10_000;
const POOL = 1 << 16;
/** Window rule through the broker: messages per run (and per warm-up), spread over LOADERS processes of 2 clients. */
const WINDOW_MESSAGES = 500_000;
const WINDOW_WARMUP = 20_000;
const LOADERS = 2;
/** The sink gives up this long after the last row (before the first: FIRST_ROW_MS). */
const IDLE_MS = 3000;
const FIRST_ROW_MS = 60_000;
/** Latency: paced rate, warm-up, measured span, and 1 in RED_EVERY readings turns a light red. */
const RATE = 10_000;
const LAT_WARMUP_MS = 2000;
const LAT_MEASURE_MS = 10_000;
const RED_EVERY = 100;
/** Both sides must deliver at least this share of the red commands sent. */
const DELIVERED_GOAL = 99.9;

const PEER = 'Node-RED 4';
const FILTER_SQL = `SELECT deviceId, speed FROM "traffic/+/loop" WHERE speed < 20`;
const WINDOW_SQL = `SELECT deviceId, avg(speed) AS v, count(*) AS n FROM "traffic/+/loop" GROUP BY deviceId, TUMBLING(1s)`;
const ACTUATE_SQL = `SELECT deviceId, ts FROM "traffic/+/queue" WHERE queue > 5`;
const WINDOW_RULE = { name: 'bench-window', sql: WINDOW_SQL, action: { mqtt: { topic: 'out/window', qos: 0 } } };
const ACTUATE_RULE = { name: 'bench-actuate', sql: ACTUATE_SQL, action: { mqtt: { topic: 'lights/{{deviceId}}', qos: 0, payload: '{"light":"red","ts":{{ts}}}' } } };
const NR_WINDOW: NodeRedFlow = { kind: 'window', input: 'traffic/+/loop', output: 'nrout/window', windowMs: 1000 };
const NR_ACTUATE: NodeRedFlow = { kind: 'actuate', input: 'traffic/+/queue', output: 'nrlights' };

/** Devices of the end-to-end part and their grants (a device may also use devices/<name>/#). */
const LOADER_NAMES = Array.from({ length: 2 * LOADERS }, (_, i) => `load-${i}`);
const DEVICE_GRANTS: Record<string, { publish: string[]; subscribe: string[] }> = {
  ...Object.fromEntries(LOADER_NAMES.map((n) => [n, { publish: ['traffic/#'], subscribe: [] }])),
  sink: { publish: [], subscribe: ['out/#', 'nrout/#', 'lights/#', 'nrlights/#'] },
  nodered: { publish: ['nrout/#', 'nrlights/#', PONG_TOPIC], subscribe: ['traffic/#', PING_TOPIC] },
  'nodered-probe': { publish: [PING_TOPIC], subscribe: [PONG_TOPIC] },
};

interface WindowFigures {
  rate: number;
  perCpu: number;
  /** The agent died during the run (NaN figures). */
  crashed?: boolean;
}
interface LatencyFigures {
  p50: number;
  p99: number;
  deliveredPct: number;
  crashed?: boolean;
}

export async function run(): Promise<Metric[]> {
  const started = performance.now();
  const inFilter: number[] = [];
  const inWindow: number[] = [];
  const msgs = loopMessages(POOL, DEVICES);
  for (let r = 1; r <= ROUNDS; r++) {
    inFilter.push(await inProcess(FILTER_SQL, msgs, `round ${r} in-process filter`));
    inWindow.push(await inProcess(WINDOW_SQL, msgs, `round ${r} in-process window`));
  }
  const e2e = await endToEnd();
  log(`done in ${fmt((performance.now() - started) / 1000)} s`);

  const window = split(e2e.window);
  const latency = split(e2e.latency);
  const vs = (value: number) => ({ name: PEER, value });
  const threeX = (peer: number, unit: string) => `>= ${Math.round(3 * peer)} ${unit} (3x ${PEER})`;
  const rate = { ours: med(window.ours.map((f) => f.rate)), peer: med(window.peer.map((f) => f.rate)) };
  const perCpu = { ours: med(window.ours.map((f) => f.perCpu)), peer: med(window.peer.map((f) => f.perCpu)) };
  const p50 = { ours: med(latency.ours.map((f) => f.p50)), peer: med(latency.peer.map((f) => f.p50)) };
  const p99 = { ours: med(latency.ours.map((f) => f.p99)), peer: med(latency.peer.map((f) => f.p99)) };
  return [
    metric('filter rule, in-process, one core', 'msg/s', median(inFilter), '>= 100000 msg/s (eKuiper anchor: 12k msg/s on a Pi 3B+)'),
    metric(`1 s tumbling window avg GROUP BY deviceId over ${DEVICES} devices, in-process, one core`, 'msg/s', median(inWindow), 'report (eKuiper anchor: 10k msg/s at 25% CPU on a t2.micro)'),
    metric(`window rule via the edge broker, ${WINDOW_MESSAGES / 1000}k msgs QoS 0: throughput`, 'msg/s', rate.ours, threeX(rate.peer, 'msg/s'), vs(rate.peer)),
    metric('window rule via the edge broker: msgs per CPU second (ours: agent; Node-RED: agent + Node-RED)', 'msg/cpu-s', perCpu.ours, threeX(perCpu.peer, 'msg/cpu-s'), vs(perCpu.peer)),
    metric(`sensor -> rule -> actuator p50 at ${RATE / 1000}k msg/s`, 'ms', p50.ours, 'report', vs(p50.peer)),
    metric(`sensor -> rule -> actuator p99 at ${RATE / 1000}k msg/s`, 'ms', p99.ours, '<= 2 ms', vs(p99.peer)),
    // The worst round: a side that lost commands in any round shows it.
    metric(`red commands delivered at ${RATE / 1000}k msg/s (worst round)`, '%', Math.min(...latency.ours.map((f) => f.deliveredPct)), `>= ${DELIVERED_GOAL} %`, vs(Math.min(...latency.peer.map((f) => f.deliveredPct)))),
    metric(`runs through the edge broker during which the agent died (each run once more)`, 'runs', e2e.crashes, '<= 0'),
  ];
}

/** Runs alternate ours, Node-RED. */
function split<T>(runs: T[]): { ours: T[]; peer: T[] } {
  return { ours: runs.filter((_, i) => i % 2 === 0), peer: runs.filter((_, i) => i % 2 === 1) };
}

/** The median of the runs that produced a figure (NaN: the agent died during the run). */
function med(xs: number[]): number {
  const ok = xs.filter(Number.isFinite);
  return ok.length ? median(ok) : NaN;
}

// ---- on one core, in this process -------------------------------------------

/** Feeds one rule for IN_PROCESS_MS; msg/s. */
async function inProcess(sql: string, msgs: { topics: string[]; payloads: Buffer[] }, label: string): Promise<number> {
  let rows = 0;
  let counted = 0;
  const engine = new Engine({
    emit: (_rule, out) => {
      rows += out.length;
      for (const row of out) if (typeof row.n === 'number') counted += row.n;
    },
  });
  engine.apply({ project: 'bench', name: 'r', sql });
  const { topics, payloads } = msgs;
  let i = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < IN_PROCESS_MS) {
    for (const end = i + BATCH; i < end; ) {
      const j = i++ & (POOL - 1);
      engine.ingest('bench', topics[j]!, payloads[j]!, 'load-0');
    }
    await new Promise((r) => setImmediate(r));
  }
  const rate = (i * 1000) / (performance.now() - t0);
  engine.remove('bench', 'r');
  const what = counted ? `${rows} rows counting ${counted} msgs in closed windows` : `${rows} rows (${fmt((100 * rows) / i)} % passed)`;
  log(`${label}: ${Math.round(rate)} msg/s (${i} msgs, ${what})`);
  return rate;
}

// ---- end to end through the edge broker, ours vs Node-RED ----------------------

/** Alternating ours, Node-RED per round; `crashes`: runs during which the agent died (each is run once more). */
async function endToEnd(): Promise<{ window: WindowFigures[]; latency: LatencyFigures[]; crashes: number }> {
  // Forked together first, so that their clocks' origins agree (see engine-load.ts).
  const children = Array.from({ length: LOADERS + 1 }, forkLoad);
  const [sink, ...loaders] = children as [ChildProcess, ...ChildProcess[]];
  const userDirs: string[] = [];
  let platform: Platform | undefined;
  const window: WindowFigures[] = [];
  const latency: LatencyFigures[] = [];
  let crashes = 0;
  /** Runs once more when the agent died during the run; `prepare` goes before each. */
  const retryOnCrash = async <T extends { crashed?: boolean }>(run: () => Promise<T>, prepare: () => Promise<void> = async () => undefined): Promise<T> => {
    await prepare();
    const first = await run();
    if (!first.crashed) return first;
    crashes++;
    await prepare();
    const again = await run();
    if (again.crashed) crashes++;
    return again;
  };
  try {
    log('starting a center and an agent with its edge broker');
    platform = await startPlatform({ agents: [{ name: EDGE, site: 'edge-a', mqtt: true }] });
    const bed = await setUp(platform, DEVICE_GRANTS, loaders, sink);
    const nodeRed = async <T>(flow: NodeRedFlow, body: (pid: number) => Promise<T>): Promise<T> => {
      const userDir = mkdtempSync(join(tmpdir(), 'gedge-bench-node-red-'));
      userDirs.push(userDir);
      const c = bed.creds;
      const peer = await startNodeRed({ mqttUrl: bed.url, clientId: 'nodered', username: 'nodered', password: c.nodered!.password!, flow, userDir, probe: { clientId: 'nodered-probe', username: 'nodered-probe', password: c['nodered-probe']!.password! } });
      try {
        return await body(peer.pid);
      } finally {
        await peer.stop();
      }
    };
    for (let r = 1; r <= ROUNDS; r++) {
      window.push(await retryOnCrash(() => windowRun(bed, `round ${r} ours`, 'out/window'), () => applyRule(bed.api, WINDOW_RULE)));
      await deleteRule(bed.api, WINDOW_RULE.name);
      window.push(await retryOnCrash(() => nodeRed(NR_WINDOW, (pid) => windowRun(bed, `round ${r} ${PEER}`, 'nrout/window', pid))));

      latency.push(await retryOnCrash(() => latencyRun(bed, `round ${r} ours`, 'lights/#'), () => applyRule(bed.api, ACTUATE_RULE)));
      await deleteRule(bed.api, ACTUATE_RULE.name);
      latency.push(await retryOnCrash(() => nodeRed(NR_ACTUATE, () => latencyRun(bed, `round ${r} ${PEER}`, 'nrlights/#'))));
    }
  } finally {
    for (const c of children) c.kill();
    await platform?.close();
    for (const d of userDirs) rmSync(d, { recursive: true, force: true });
  }
  return { window, latency, crashes };
}

/**
 * A warm-up of WINDOW_WARMUP messages (it also proves the path), then
 * WINDOW_MESSAGES timed. `peerPid`: Node-RED's process, which then runs the
 * rule; else the agent does.
 */
async function windowRun(bed: Bed, label: string, output: string, peerPid?: number): Promise<WindowFigures> {
  const died = { rate: NaN, perCpu: NaN, crashed: true };
  await blastAndSum(bed, output, WINDOW_WARMUP);
  if (await crashed(bed, `${label} window warm-up`)) return died;
  const pids = peerPid === undefined ? [bed.agent.process.pid] : [bed.agent.process.pid, peerPid];
  const cpu0 = cpuOf(pids);
  const trace = new CpuTrace(pids[pids.length - 1]!);
  const { sum, startAt, endAt, lastAt } = await blastAndSum(bed, output, WINDOW_MESSAGES).finally(() => trace.stop());
  const cpuS = cpuOf(pids).map((c, i) => c - cpu0[i]!);
  if (await crashed(bed, `${label} window (${sum} of ${WINDOW_MESSAGES} messages counted)`)) return died;
  // Processing ended in the final window, whose close (at a whole second) is
  // when the sum completes: up to 1 s later. The end is when the process
  // that runs the rule was last busy before that close.
  const finalClose = Math.floor(lastAt / 1000) * 1000;
  const busyUntil = trace.busyUntil(finalClose);
  const rate = sum / (((busyUntil ?? lastAt) - startAt) / 1000);
  if (busyUntil === undefined) log(`  ${label}: no busy spell of the rule's process seen; the rate includes the wait for the final window's close`);
  const perCpu = sum / cpuS.reduce((a, b) => a + b, 0);
  const wallS = ((busyUntil ?? lastAt) - startAt) / 1000;
  const share = cpuS.map((s) => `${fmt((100 * s) / wallS)} %`).join(' + ');
  log(
    `${label} window: ${Math.round(rate)} msg/s, ${Math.round(perCpu)} msg per CPU second (CPU ${share} of a core; ` +
      `the loaders wrote at ${Math.round((WINDOW_MESSAGES * 1000) / (endAt - startAt))} msg/s; ${Math.round((sum * 1000) / (lastAt - startAt))} msg/s up to the final close)`,
  );
  if (sum < WINDOW_MESSAGES) log(`  ${label}: only ${sum} of ${WINDOW_MESSAGES} messages were counted (no row for ${IDLE_MS} ms): the rates are of what was counted`);
  return { rate, perCpu };
}

async function blastAndSum(bed: Bed, output: string, count: number): Promise<{ sum: number; startAt: number; endAt: number; lastAt: number }> {
  const ready = reply(bed.sink, 'ready');
  const summed = reply(bed.sink, 'summed', ready);
  command(bed.sink, { op: 'sum', url: bed.url, creds: bed.creds.sink!, filter: output, expect: count, idleMs: IDLE_MS, firstMs: FIRST_ROW_MS });
  await ready;
  const per = count / bed.loaders.length;
  const blasted = bed.loaders.map((l, i) => {
    const done = reply(l, 'blasted');
    command(l, { op: 'blast', url: bed.url, creds: [bed.creds[`load-${2 * i}`]!, bed.creds[`load-${2 * i + 1}`]!], count: per, devices: DEVICES });
    return done;
  });
  const starts = await Promise.all(blasted);
  const s = await summed;
  return { sum: s.sum, startAt: Math.min(...starts.map((b) => b.startAt)), endAt: Math.max(...starts.map((b) => b.endAt)), lastAt: s.lastAt };
}

async function latencyRun(bed: Bed, label: string, filter: string): Promise<LatencyFigures> {
  const ready = reply(bed.sink, 'ready');
  command(bed.sink, { op: 'listen', url: bed.url, creds: bed.creds.sink!, filter });
  await ready;
  const loader = bed.loaders[0]!;
  const paced = reply(loader, 'paced');
  command(loader, { op: 'pace', url: bed.url, creds: bed.creds['load-0']!, rate: RATE, warmupMs: LAT_WARMUP_MS, measureMs: LAT_MEASURE_MS, redEvery: RED_EVERY, devices: DEVICES });
  const p = await paced;
  const got = reply(bed.sink, 'latencies');
  command(bed.sink, { op: 'stop', expect: p.red, graceMs: 3000 });
  const l = await got;
  if (await crashed(bed, `${label} latency`)) return { p50: NaN, p99: NaN, deliveredPct: 0, crashed: true };
  const ms = l.ms.filter((_, i) => l.ts[i]! >= p.from && l.ts[i]! < p.until);
  const deliveredPct = (100 * ms.length) / p.redMeasured;
  const sentRate = (p.sent * 1000) / (LAT_WARMUP_MS + LAT_MEASURE_MS);
  if (!ms.length) {
    log(`${label} latency: NONE of ${p.redMeasured} red commands arrived (${l.ms.length} in all, warm-up included)`);
    return { p50: NaN, p99: NaN, deliveredPct };
  }
  const figures = { p50: percentile(ms, 50), p99: percentile(ms, 99), deliveredPct };
  log(`${label} latency at ${Math.round(sentRate)} msg/s: p50 ${fmt(figures.p50)} ms, p99 ${fmt(figures.p99)} ms, max ${fmt(Math.max(...ms))} ms; ${ms.length} of ${p.redMeasured} red commands (${fmt(deliveredPct)} %)`);
  if (deliveredPct < DELIVERED_GOAL) log(`  ${label}: FAILED to deliver ${p.redMeasured - ms.length} of ${p.redMeasured} red commands`);
  return figures;
}

const fmt = (n: number): string => (Number.isFinite(n) ? n.toFixed(n >= 100 ? 0 : 2) : 'n/a');
