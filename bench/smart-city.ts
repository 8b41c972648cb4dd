// `npm run bench -- smart-city`: the smart-city scenario at default scale, as
// `npm start` runs it (`gedge up`: a center, six agents, the WAN emulated on
// loopback, 200 simulated devices at 10 msg/s, started once the observers
// listen), for BENCH_DURATION_MS (5 min),
// with edge-b cut off from the cloud for 30 s in the middle. Measured from
// outside, like a user would: observers on every edge broker read the
// latency each light measured (sensor reading -> decision -> actuation), a
// watcher on the cloud's broker counts the aggregates that arrive, /proc
// gives CPU and RSS. The "peer" of the latencies is the same decision made
// through the cloud (i1 of every edge), in the same run.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { gedgeArgv } from '../cli/launch.ts';
import { ApiClient, waitFor, type Node, type Rule } from '../core/index.ts';
import { freePort, startWakeupProbe } from '../testkit/index.ts';
import { cpuSeconds, rssMiB, stallSeconds } from './proc-stats.ts';
import { metric, type Metric } from './results.ts';
import { percentile } from './stats.ts';

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 300_000);
const PROJECT = 'city';
const EDGES = ['edge-a', 'edge-b', 'edge-c', 'edge-d'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function run(): Promise<Metric[]> {
  // The machine before anything runs: how long it takes to wake a sleeping process (a VM whose vCPUs wait for
  // their host takes milliseconds; a healthy machine tens of microseconds). Every crossing of the control loop pays it.
  const idle = await (await startWakeupProbe()).stop(100);
  const dir = mkdtempSync(join(tmpdir(), 'gedge-bench-city-'));
  const port = await freePort();
  const outageAt = Math.round(DURATION_MS / 2 / 1000);
  // The simulator is started here, not by `up`, once the cloud's watcher listens: every aggregate made is then one it can see.
  // No vehicles (`up` runs them by default): the figures stay comparable with the runs before them.
  const up = spawn(process.execPath, gedgeArgv(['up', '--data-dir', dir, '--port', String(port), '--devices', '0', '--vehicles', '0', '--outage', `edge-b:30s@${outageAt}s`]), { stdio: ['ignore', 'pipe', 'inherit'] });
  let sim: ChildProcess | undefined;
  let out = '';
  up.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const clients: mqtt.MqttClient[] = [];
  try {
    const url = await waitFor(() => /Dashboard:\s+(http:\/\/[^/\s]+)/.exec(out)?.[1], 180_000, 'gedge up to be up', 500);
    const token = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
    const api = new ApiClient(url, token);
    // Ready before its status carries the broker's ports is possible: wait for the ports of every site measured here.
    const nodes = await waitFor(async () => {
      const items = (await api.list<Node>('Node')).items;
      return ['cloud', ...EDGES].every((site) => items.some((n) => n.spec.site === site && n.status?.mqtt?.tls)) ? items : undefined;
    }, 60_000, 'every broker port in the nodes\' status', 200);
    // The scenario's brokers speak MQTTS only (node certificates from the center's CA), as the simulated devices do.
    const broker = (site: string) => nodes.find((n) => n.spec.site === site)!.status!.mqtt!.tls!;
    const ca = readFileSync(join(dir, 'center', 'pki', 'ca.crt'), 'utf8');

    const samples: { site: string; via: string; ms: number; at: number }[] = [];
    let measuring = false;
    for (const site of EDGES) {
      const c = await device(api, `bench-observer-${site}`, site, broker(site), ca, ['traffic/+/+/light']);
      c.on('message', (_t, payload) => {
        const b = JSON.parse(payload.toString()) as { latencyMs: number | null; via: string | null };
        if (measuring && b.latencyMs !== null && b.via) samples.push({ site, via: b.via, ms: b.latencyMs, at: Date.now() });
      });
      clients.push(c);
    }
    const flows = new Set<string>();
    const received = new Map<string, number>();
    /** Aggregates that reached the cloud more than 5 s after their window: held in an edge's queue meanwhile. */
    let buffered = 0;
    const watcher = await device(api, 'bench-watcher', 'cloud', broker('cloud'), ca, ['flows/#'], { clean: false, properties: { sessionExpiryInterval: 3600 } });
    watcher.on('message', (_t, payload, packet) => {
      const id = packet.properties?.userProperties?.['gedge-msg-id'];
      if (typeof id !== 'string' || flows.has(id)) return;
      flows.add(id);
      const f = JSON.parse(payload.toString()) as { site: string; windowEnd: number };
      received.set(f.site, (received.get(f.site) ?? 0) + 1);
      if (Date.now() - f.windowEnd > 5000) buffered++;
    });
    clients.push(watcher);
    // What `gedge up` runs by default: 200 devices at 10 msg/s on the four edges, in their own process.
    sim = spawn(process.execPath, gedgeArgv(['sim', 'traffic', '-p', PROJECT, '--sites', EDGES.join(','), '--devices', '200', '--rate', '10', '--stats-every', '60s']), {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, GEDGE_SERVER: url, GEDGE_TOKEN: token },
    });

    // Warm-up (every device connected, every rule's first decisions), then the measured run.
    await sleep(20_000);
    const pids = [childPid(up.pid!, ['center']), ...nodes.map((n) => n.status!.agent!.pid)];
    const cpu0 = pids.map(cpuSeconds);
    const stall0 = { io: stallSeconds('io', 'full'), cpu: stallSeconds('cpu', 'some') };
    const t0 = performance.now();
    const start = Date.now();
    const busyProbe = await startWakeupProbe();
    measuring = true;
    const rss: number[][] = [];
    const end = Date.now() + DURATION_MS;
    while (Date.now() < end) {
      await sleep(Math.min(10_000, end - Date.now()));
      rss.push(pids.map(rssMiB));
    }
    measuring = false;
    const busy = await busyProbe.stop();
    const cpu = pids.map((p, i) => ((cpuSeconds(p) - cpu0[i]!) / ((performance.now() - t0) / 1000)) * 100);
    const stalled = (r: 'io' | 'cpu', kind: 'full' | 'some', at0: number | null) => (at0 === null ? null : stallSeconds(r, kind)! - at0);
    const stall = { io: stalled('io', 'full', stall0.io), cpu: stalled('cpu', 'some', stall0.cpu) };

    // Nothing lost: the devices stop, each intersection's last window closes, the edges' uplinks drain; then
    // every aggregate the edges made (the rule's `out`, once it holds still for 10 s) is in the cloud.
    sim.kill('SIGTERM');
    await new Promise((r) => sim!.once('exit', r));
    const made = async () => Object.values((await api.get<Rule>('Rule', 'flows', PROJECT)).status?.nodes ?? {}).reduce((s, n) => s + n.out, 0);
    let last = { made: -1, since: Date.now() };
    await waitFor(
      async () => {
        const m = await made();
        if (m !== last.made) last = { made: m, since: Date.now() };
        return m === flows.size && Date.now() - last.since >= 10_000 ? true : undefined;
      },
      120_000,
      'every aggregate in the cloud',
      1000,
    ).catch(() => undefined);
    const lost = Math.max(0, last.made - flows.size);
    if (lost > 0) {
      const nodes = (await api.get<Rule>('Rule', 'flows', PROJECT)).status?.nodes ?? {};
      console.log(`aggregates made / received per edge: ${EDGES.map((e) => `${e} ${nodes[`${e}-1`]?.out ?? 0}/${received.get(e) ?? 0}`).join(', ')}`);
    }
    const volume = await volumes(api);
    const ms = (via: string, sites = EDGES) => samples.filter((s) => s.via === via && sites.includes(s.site)).map((s) => s.ms);
    const [edge, cloud] = [ms('edge'), ms('cloud')];
    // The cloud's decisions for edge-b wait out its outage (30 s late): the p99 of the sites never cut off shows the WAN alone.
    const connected = EDGES.filter((e) => e !== 'edge-b');
    const peakB = (await api.get<Node>('Node', 'edge-b-1')).status?.uplink?.peakDepthMessages ?? 0;
    const maxRss = (i: number) => Math.max(...rss.map((r) => r[i]!));
    const agents = nodes.map((n, i) => ({ name: n.metadata.name, cpu: cpu[i + 1]!, rss: maxRss(i + 1) }));
    const edgeAgents = agents.filter((a) => a.name.startsWith('edge-'));
    const cloudPath = (v: number) => ({ name: 'same decision via the cloud', value: v });
    console.log(`samples: edge ${edge.length}, cloud ${cloud.length}; aggregates received ${flows.size}, lost ${lost}; raw ${volume.traffic} B, uplinked ${volume.flows} B`);
    // Where the edge's slow commands fell in the run (10 s buckets from the start of the measurement), and how much the machine itself stalled.
    const slow = samples.filter((x) => x.via === 'edge' && x.ms > 10);
    const buckets = new Map<number, number>();
    for (const x of slow) {
      const t = Math.floor((x.at - start) / 10_000) * 10;
      buckets.set(t, (buckets.get(t) ?? 0) + 1);
    }
    console.log(`edge commands over 10 ms: ${slow.length}${slow.length ? `, by second of the run: ${[...buckets].map(([t, n]) => `${t}s ${n}`).join(', ')}` : ''}`);
    console.log(`machine stalls while measured (PSI): io full ${stall.io?.toFixed(1) ?? 'n/a'} s, cpu some ${stall.cpu?.toFixed(1) ?? 'n/a'} s`);
    console.log(`machine: loopback round trip between two idle processes every 100 ms: before the run p50 ${idle.p50} / p99 ${idle.p99} ms, while measured p50 ${busy.p50} / p99 ${busy.p99} ms`);
    return [
      metric('control loop p50, edge', 'ms', percentile(edge, 50), 'report', cloudPath(percentile(cloud, 50))),
      metric('control loop p99, edge', 'ms', percentile(edge, 99), '<= 10 ms', cloudPath(percentile(cloud, 99))),
      metric('control loop p99, edge, sites never cut off', 'ms', percentile(ms('edge', connected), 99), '<= 10 ms', cloudPath(percentile(ms('cloud', connected), 99))),
      metric('commands measured, edge', 'count', edge.length, 'report', { name: 'via the cloud', value: cloud.length }),
      metric('data reduction, raw / uplinked bytes', 'x', volume.traffic / Math.max(1, volume.flows), '>= 10 x'),
      metric('aggregates buffered at an edge and delivered late (edge-b cut off 30 s)', 'count', buffered, 'report'),
      metric('peak uplink buffer of edge-b (every route: aggregates, stats, raw i1)', 'messages', peakB, 'report'),
      metric('aggregates lost', 'count', lost, '<= 0'),
      metric('machine: every task stalled on IO while measured (PSI io full)', 's', stall.io ?? Number.NaN, 'report'),
      metric('machine: some task waited for a CPU while measured (PSI cpu some)', 's', stall.cpu ?? Number.NaN, 'report'),
      metric('machine: wakeup round trip p99 between idle processes, before the run', 'ms', idle.p99, 'report'),
      metric('machine: wakeup round trip p99 between idle processes, while measured', 'ms', busy.p99, 'report'),
      metric('center CPU', '% of a core', cpu[0]!, 'report'),
      metric('center RSS, max', 'MiB', maxRss(0), 'report'),
      metric('edge agent CPU, mean', '% of a core', mean(edgeAgents.map((a) => a.cpu)), 'report'),
      metric('edge agent RSS, max', 'MiB', Math.max(...edgeAgents.map((a) => a.rss)), 'report'),
      metric('cloud agent CPU', '% of a core', agents.find((a) => a.name === 'cloud-1')!.cpu, 'report'),
    ];
  } finally {
    if (sim && sim.exitCode === null && sim.signalCode === null) sim.kill('SIGTERM');
    for (const c of clients) await c.endAsync(true).catch(() => {});
    if (up.exitCode === null) {
      up.kill('SIGINT'); // the agents, then the center
      await new Promise((r) => up.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A device of our own on a broker, subscribed to `topics` (QoS 1, MQTT 5 for the sinks' message ids). */
async function device(api: ApiClient, name: string, site: string, port: number, ca: string, topics: string[], more: mqtt.IClientOptions = {}): Promise<mqtt.MqttClient> {
  await api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name, project: PROJECT }, spec: { site, grants: { subscribe: topics } } }));
  const cred = await api.issueDeviceCredential(PROJECT, name);
  const c = await waitFor(
    () => mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, { clientId: cred.clientId, username: cred.clientId, password: cred.password, protocolVersion: 5, reconnectPeriod: 1000, ca, ...more }, false).catch(() => undefined),
    30_000,
    `${name} signed in`,
    500,
  );
  await c.subscribeAsync(topics, { qos: 1 });
  return c;
}

/** The process `gedge up` started with these words in its command line (`center`). */
function childPid(upPid: number, words: string[]): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1]);
      if (ppid === upPid && words.every((w) => cmd.includes(w))) return Number(entry);
    } catch {
      continue; // exited while we looked
    }
  }
  throw new Error(`no "${words.join(' ')}" process under gedge up`);
}

/** Bytes of the raw stream and of the aggregates, as the edges measured them (route city-stats). */
async function volumes(api: ApiClient): Promise<{ traffic: number; flows: number }> {
  const sum = { traffic: 0, flows: 0 };
  let after = 0;
  for (;;) {
    const page = await api.messages(PROJECT, 'city-stats', { after, limit: 1000 });
    for (const m of page.items) {
      after = m.id;
      if (!m.topic.endsWith('/volume')) continue;
      const r = JSON.parse(m.payload) as { stream: 'traffic' | 'flows'; bytes: number };
      sum[r.stream] += r.bytes;
    }
    if (page.items.length < 1000) return sum;
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
