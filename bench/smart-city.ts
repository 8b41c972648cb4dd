// `npm run bench -- smart-city`: the smart-city scenario at default scale, as
// `npm start` runs it (`gedge up`: a center, six agents, the WAN emulated on
// loopback, 200 simulated devices at 10 msg/s), for BENCH_DURATION_MS (5 min),
// with edge-b cut off from the cloud for 30 s in the middle. Measured from
// outside, like a user would: observers on every edge broker read the
// latency each light measured (sensor reading -> decision -> actuation), a
// watcher on the cloud's broker counts the aggregates that arrive, /proc
// gives CPU and RSS. The "peer" of the latencies is the same decision made
// through the cloud (i1 of every edge), in the same run.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { ApiClient, waitFor, type Node, type Rule } from '../core/index.ts';
import { freePort } from '../testkit/index.ts';
import { cpuSeconds, rssMiB } from './proc-stats.ts';
import { metric, type Metric } from './results.ts';
import { percentile } from './stats.ts';

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 300_000);
const PROJECT = 'city';
const EDGES = ['edge-a', 'edge-b', 'edge-c', 'edge-d'];
const BIN = fileURLToPath(new URL('../bin/gedge.mjs', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function run(): Promise<Metric[]> {
  const dir = mkdtempSync(join(tmpdir(), 'gedge-bench-city-'));
  const port = await freePort();
  const outageAt = Math.round(DURATION_MS / 2 / 1000);
  const up = spawn(process.execPath, [BIN, 'up', '--data-dir', dir, '--port', String(port), '--outage', `edge-b:30s@${outageAt}s`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  up.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const clients: mqtt.MqttClient[] = [];
  try {
    const url = await waitFor(() => /Dashboard:\s+(http:\/\/[^/\s]+)/.exec(out)?.[1], 180_000, 'gedge up to be up', 500);
    const api = new ApiClient(url, readFileSync(join(dir, 'admin.token'), 'utf8').trim());
    const nodes = (await api.list<Node>('Node')).items;
    const broker = (site: string) => nodes.find((n) => n.spec.site === site)!.status!.mqtt!.tcp;

    const samples: { via: string; ms: number }[] = [];
    let measuring = false;
    for (const site of EDGES) {
      const c = await device(api, `bench-observer-${site}`, site, broker(site), ['traffic/+/+/light']);
      c.on('message', (_t, payload) => {
        const b = JSON.parse(payload.toString()) as { latencyMs: number | null; via: string | null };
        if (measuring && b.latencyMs !== null && b.via) samples.push({ via: b.via, ms: b.latencyMs });
      });
      clients.push(c);
    }
    const flows = new Set<string>();
    /** Aggregates that reached the cloud more than 5 s after their window: held in an edge's queue meanwhile. */
    let buffered = 0;
    const watcher = await device(api, 'bench-watcher', 'cloud', broker('cloud'), ['flows/#'], { clean: false, properties: { sessionExpiryInterval: 3600 } });
    watcher.on('message', (_t, payload, packet) => {
      const id = packet.properties?.userProperties?.['gedge-msg-id'];
      if (typeof id !== 'string' || flows.has(id)) return;
      flows.add(id);
      if (Date.now() - (JSON.parse(payload.toString()) as { windowEnd: number }).windowEnd > 5000) buffered++;
    });
    clients.push(watcher);

    // Warm-up (every device connected, every rule's first decisions), then the measured run.
    await sleep(20_000);
    const pids = [childPid(up.pid!, ['center']), ...nodes.map((n) => n.status!.agent!.pid)];
    const cpu0 = pids.map(cpuSeconds);
    const t0 = performance.now();
    measuring = true;
    const rss: number[][] = [];
    const end = Date.now() + DURATION_MS;
    while (Date.now() < end) {
      await sleep(Math.min(10_000, end - Date.now()));
      rss.push(pids.map(rssMiB));
    }
    measuring = false;
    const cpu = pids.map((p, i) => ((cpuSeconds(p) - cpu0[i]!) / ((performance.now() - t0) / 1000)) * 100);

    // Nothing lost: the devices stop; once the edges' uplinks drain, every aggregate they made is in the cloud.
    process.kill(childPid(up.pid!, ['sim', 'traffic']), 'SIGTERM');
    const made = async () => Object.values((await api.get<Rule>('Rule', 'flows', PROJECT)).status?.nodes ?? {}).reduce((s, n) => s + n.out, 0);
    await waitFor(async () => ((await made()) === flows.size ? true : undefined), 90_000, 'every aggregate in the cloud', 1000).catch(() => undefined);
    const lost = Math.max(0, (await made()) - flows.size);
    const volume = await volumes(api);
    const edge = samples.filter((s) => s.via === 'edge').map((s) => s.ms);
    const cloud = samples.filter((s) => s.via === 'cloud').map((s) => s.ms);
    const maxRss = (i: number) => Math.max(...rss.map((r) => r[i]!));
    const agents = nodes.map((n, i) => ({ name: n.metadata.name, cpu: cpu[i + 1]!, rss: maxRss(i + 1) }));
    const edgeAgents = agents.filter((a) => a.name.startsWith('edge-'));
    const cloudPath = (v: number) => ({ name: 'same decision via the cloud', value: v });
    console.log(`samples: edge ${edge.length}, cloud ${cloud.length}; aggregates received ${flows.size}, lost ${lost}; raw ${volume.traffic} B, uplinked ${volume.flows} B`);
    return [
      metric('control loop p50, edge', 'ms', percentile(edge, 50), 'report', cloudPath(percentile(cloud, 50))),
      metric('control loop p99, edge', 'ms', percentile(edge, 99), '<= 10 ms', cloudPath(percentile(cloud, 99))),
      metric('commands measured, edge', 'count', edge.length, 'report', { name: 'via the cloud', value: cloud.length }),
      metric('data reduction, raw / uplinked bytes', 'x', volume.traffic / Math.max(1, volume.flows), '>= 10 x'),
      metric('aggregates buffered at an edge and delivered late (edge-b cut off 30 s)', 'count', buffered, 'report'),
      metric('aggregates lost', 'count', lost, '<= 0'),
      metric('center CPU', '% of a core', cpu[0]!, 'report'),
      metric('center RSS, max', 'MiB', maxRss(0), 'report'),
      metric('edge agent CPU, mean', '% of a core', mean(edgeAgents.map((a) => a.cpu)), 'report'),
      metric('edge agent RSS, max', 'MiB', Math.max(...edgeAgents.map((a) => a.rss)), 'report'),
      metric('cloud agent CPU', '% of a core', agents.find((a) => a.name === 'cloud-1')!.cpu, 'report'),
    ];
  } finally {
    for (const c of clients) await c.endAsync(true).catch(() => {});
    if (up.exitCode === null) {
      up.kill('SIGINT'); // the simulator, then the agents, then the center
      await new Promise((r) => up.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A device of our own on a broker, subscribed to `topics` (QoS 1, MQTT 5 for the sinks' message ids). */
async function device(api: ApiClient, name: string, site: string, port: number, topics: string[], more: mqtt.IClientOptions = {}): Promise<mqtt.MqttClient> {
  await api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name, project: PROJECT }, spec: { site, grants: { subscribe: topics } } }));
  const cred = await api.issueDeviceCredential(PROJECT, name);
  const c = await waitFor(
    () => mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: cred.clientId, username: cred.clientId, password: cred.password, protocolVersion: 5, reconnectPeriod: 1000, ...more }, false).catch(() => undefined),
    30_000,
    `${name} signed in`,
    500,
  );
  await c.subscribeAsync(topics, { qos: 1 });
  return c;
}

/** The process `gedge up` started with these words in its command line (`center`; `sim traffic`). */
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
