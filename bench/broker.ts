// `npm run bench -- broker`: the edge MQTT broker next to bare aedes and the
// local Mosquitto, under the same MQTT.js client load.
//  - Throughput: 2 publishers -> 1 subscriber on a wildcard, clean sessions,
//    100-byte payloads; delivered msg/s at the subscriber (first to last
//    message), QoS 0 and QoS 1 (publishers keep a window of messages out).
//    Also per broker core: delivered messages per CPU second of the broker
//    process (user + system). On a 2-core machine that other work shares, the
//    wall-clock rate swings with the neighbours; CPU per message much less.
//  - Latency at low load: one message at a time, publish -> deliver, p50/p99,
//    every peer in turn in slices before any load of the round.
// Each broker runs in its own process (bench/broker-server.ts: ours with
// authentication, ACL and all hooks on and its SQLite session store, bare
// aedes with its in-memory one; clean sessions touch neither on the message
// path). Mosquitto is the system one on 127.0.0.1:1883, anonymous, under a
// unique topic prefix; under this open-loop load it drops some QoS 1 messages
// (its default max_queued_messages), and its rate counts what it delivered.
// The clients run in two forked processes (bench/broker-load.ts): one for
// the subscriber, one for the publishers, so no client shares a thread with
// another or with this coordinator; each run logs the broker's CPU share.
// A fourth broker is ours with the agent's uplink hook and a Route over the
// load's topics: QoS 1 messages go on disk (fsync batch) before their PUBACK
// and delivery, the price of exactly-once, reported against ours without it.
// Over TLS: ours with MQTTS only (a certificate from a gedge CA made for the
// run, as an agent serves its node certificate) against a Mosquitto started
// here on a free port with a TLS listener and the same certificate; the
// clients verify both against the CA (TLS 1.3, P-256).
// Peers run back to back within each round; each figure is the median of
// BENCH_ROUNDS rounds (5). Ours writes each connection's packets of one
// event-loop turn in one writev (broker/wire.ts), which bare aedes
// does not: that is where it gains on aedes in throughput. Ours runs with
// gedge's node flags (cli/launch.ts): without them, once the throughput runs
// have come and gone V8 keeps a 1 MiB young generation, and the scavenge every
// 50-80 round trips was our low-load p99 (and still is bare aedes').
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { GEDGE_NODE_FLAGS } from '../cli/launch.ts';
import { startMosquittoTls } from '../testkit/mosquitto-tls.ts';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { BENCH_PROJECT, benchSecret } from './broker-server.ts';
import type { Creds, LoadCommand, LoadReply } from './broker-load.ts';
import { cpuSeconds } from './proc-stats.ts';
import { metric, type Metric } from './results.ts';
import { median, percentile } from './stats.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const MESSAGES = { 0: 100_000, 1: 50_000 } as const;
const WINDOW = { 0: 1000, 1: 100 } as const;
const PUBLISHERS = 2;
const SIZE = 100;
/** Round trips per peer, QoS and round, taken in LATENCY_SLICES slices (each after its own warm-up). */
const LATENCY_SAMPLES = 4000;
const LATENCY_SLICES = 4;
const MOSQUITTO = { host: '127.0.0.1', port: 1883 };

interface Peer {
  name: string;
  url: string;
  pid: number | undefined;
  /** Topic prefix (Mosquitto is shared with others on this machine). */
  prefix: string;
  creds(device: string): Creds;
}
interface Figures {
  rate: Record<0 | 1, number[]>;
  /** Delivered messages per second of broker CPU (user + system): capacity per core, unaffected by idle gaps or other load on the machine. */
  perCore: Record<0 | 1, number[]>;
  p50: Record<0 | 1, number[]>;
  p99: Record<0 | 1, number[]>;
}

export async function run(): Promise<Metric[]> {
  const started = performance.now();
  // max_queued_messages: under this open-loop load Mosquitto would drop QoS 1 messages at its default.
  const mosquittoTls = await startMosquittoTls(['max_queued_messages 100000']);
  const pki = mosquittoTls.material;
  const servers = await Promise.all([startServer('ours'), startServer('aedes'), startServer('ours-uplink'), startServer('ours-tls', pki)]);
  const loads = [forkLoad(), forkLoad()];
  const [subLoad, pubLoad] = loads as [ChildProcess, ChildProcess];
  const tag = `gedge-bench-${process.pid}`;
  const peers: Peer[] = [
    { name: 'ours', url: `mqtt://127.0.0.1:${servers[0].port}`, pid: servers[0].child.pid, prefix: '', creds: (d) => ({ clientId: `${BENCH_PROJECT}/${d}`, username: `${BENCH_PROJECT}/${d}`, password: benchSecret(d) }) },
    { name: 'aedes', url: `mqtt://127.0.0.1:${servers[1].port}`, pid: servers[1].child.pid, prefix: '', creds: (d) => ({ clientId: `${tag}-${d}` }) },
    { name: 'mosquitto', url: `mqtt://${MOSQUITTO.host}:${MOSQUITTO.port}`, pid: mosquittoPid(), prefix: `${tag}/`, creds: (d) => ({ clientId: `${tag}-${d}` }) },
    { name: 'ours-uplink', url: `mqtt://127.0.0.1:${servers[2].port}`, pid: servers[2].child.pid, prefix: '', creds: (d) => ({ clientId: `${BENCH_PROJECT}/${d}`, username: `${BENCH_PROJECT}/${d}`, password: benchSecret(d) }) },
    { name: 'ours-tls', url: `mqtts://127.0.0.1:${servers[3].port}`, pid: servers[3].child.pid, prefix: '', creds: (d) => ({ clientId: `${BENCH_PROJECT}/${d}`, username: `${BENCH_PROJECT}/${d}`, password: benchSecret(d), ca: pki.ca }) },
    { name: 'mosquitto-tls', url: `mqtts://127.0.0.1:${mosquittoTls.port}`, pid: mosquittoTls.child.pid, prefix: '', creds: (d) => ({ clientId: `${tag}-${d}`, ca: pki.ca }) },
  ];
  const figures = new Map<string, Figures>(peers.map((p) => [p.name, { rate: { 0: [], 1: [] }, perCore: { 0: [], 1: [] }, p50: { 0: [], 1: [] }, p99: { 0: [], 1: [] } }]));
  try {
    for (let r = 1; r <= ROUNDS; r++) {
      // Low load first: every peer's round trips in slices taken in turn, so
      // a noisy second on this shared machine falls on all peers alike, not
      // on whichever one it happened to be measuring.
      const samples = new Map(peers.map((p) => [p.name, { 0: [] as number[], 1: [] as number[] }]));
      for (let slice = 0; slice < LATENCY_SLICES; slice++) {
        for (const peer of peers) {
          for (const qos of [0, 1] as const) samples.get(peer.name)![qos].push(...(await latency(peer, pubLoad, qos, `load/lat${r}s${slice}q${qos}`)));
        }
      }
      for (const peer of peers) {
        const f = figures.get(peer.name)!;
        for (const qos of [0, 1] as const) {
          const lat = samples.get(peer.name)![qos];
          f.p50[qos].push(percentile(lat, 50));
          f.p99[qos].push(percentile(lat, 99));
          log(`round ${r} ${peer.name} QoS ${qos}: round trip p50 ${fmt(percentile(lat, 50))} us p99 ${fmt(percentile(lat, 99))} us (${lat.length} samples)`);
        }
      }
      for (const peer of peers) {
        const f = figures.get(peer.name)!;
        for (const qos of [0, 1] as const) {
          const { rate, perCore } = await throughput(peer, subLoad, pubLoad, qos, `load/r${r}q${qos}`);
          f.rate[qos].push(rate);
          if (perCore !== undefined) f.perCore[qos].push(perCore);
        }
      }
    }
  } finally {
    for (const l of loads) l.kill();
    await Promise.all([...servers.map((s) => s.stop()), mosquittoTls.stop()]);
  }
  log(`done in ${fmt((performance.now() - started) / 1000)} s`);
  const m = (peer: string, what: keyof Figures, qos: 0 | 1) => median(figures.get(peer)![what][qos]);
  const vs = (peer: string, what: keyof Figures, qos: 0 | 1) => ({ name: peer, value: m(peer, what, qos) });
  const out: Metric[] = [];
  for (const qos of [0, 1] as const) {
    out.push(metric(`QoS ${qos} msg/s per broker core, auth+ACL+hooks vs bare aedes`, 'msg/s/core', m('ours', 'perCore', qos), `>= ${Math.round(0.95 * m('aedes', 'perCore', qos))} (0.95x aedes)`, vs('aedes', 'perCore', qos)));
    if (figures.get('mosquitto')!.perCore[qos].length) out.push(metric(`QoS ${qos} msg/s per broker core vs Mosquitto`, 'msg/s/core', m('ours', 'perCore', qos), 'report', vs('mosquitto', 'perCore', qos)));
    out.push(metric(`QoS ${qos} throughput, auth+ACL+hooks vs bare aedes`, 'msg/s', m('ours', 'rate', qos), `>= ${Math.round(0.95 * m('aedes', 'rate', qos))} msg/s (0.95x aedes)`, vs('aedes', 'rate', qos)));
    out.push(metric(`QoS ${qos} throughput vs Mosquitto`, 'msg/s', m('ours', 'rate', qos), qos === 1 ? `>= ${Math.round(0.8 * m('mosquitto', 'rate', qos))} msg/s (0.8x Mosquitto)` : 'report', vs('mosquitto', 'rate', qos)));
  }
  // The agent's real uplink hook: QoS 1 is acknowledged and routed once on disk. Compared with ours without it: the price of exactly-once.
  for (const qos of [0, 1] as const) {
    out.push(metric(`QoS ${qos} throughput with an uplink Route (QoS 1: on disk before PUBACK) vs without`, 'msg/s', m('ours-uplink', 'rate', qos), 'report', { name: 'ours', value: m('ours', 'rate', qos) }));
    out.push(metric(`QoS ${qos} round trip p50, low load, with an uplink Route vs without`, 'us', m('ours-uplink', 'p50', qos), 'report', { name: 'ours', value: m('ours', 'p50', qos) }));
    out.push(metric(`QoS ${qos} round trip p99, low load, with an uplink Route vs without`, 'us', m('ours-uplink', 'p99', qos), 'report', { name: 'ours', value: m('ours', 'p99', qos) }));
  }
  // Over TLS, both with the same certificate: the goals (>= 0.8x Mosquitto's QoS 1 throughput, p99 within 1.5x).
  for (const qos of [0, 1] as const) {
    out.push(metric(`TLS: QoS ${qos} throughput vs Mosquitto over TLS`, 'msg/s', m('ours-tls', 'rate', qos), qos === 1 ? `>= ${Math.round(0.8 * m('mosquitto-tls', 'rate', qos))} msg/s (0.8x Mosquitto)` : 'report', vs('mosquitto-tls', 'rate', qos)));
    out.push(metric(`TLS: QoS ${qos} msg/s per broker core vs Mosquitto over TLS`, 'msg/s/core', m('ours-tls', 'perCore', qos), 'report', vs('mosquitto-tls', 'perCore', qos)));
    out.push(metric(`TLS: QoS ${qos} round trip p50, low load, vs Mosquitto over TLS`, 'us', m('ours-tls', 'p50', qos), 'report', vs('mosquitto-tls', 'p50', qos)));
    out.push(metric(`TLS: QoS ${qos} round trip p99, low load, vs Mosquitto over TLS`, 'us', m('ours-tls', 'p99', qos), `<= ${Math.round(1.5 * m('mosquitto-tls', 'p99', qos))} us (1.5x Mosquitto)`, vs('mosquitto-tls', 'p99', qos)));
  }
  for (const qos of [0, 1] as const) {
    out.push(metric(`QoS ${qos} round trip p50, low load, vs aedes`, 'us', m('ours', 'p50', qos), 'report', vs('aedes', 'p50', qos)));
    out.push(metric(`QoS ${qos} round trip p50, low load, vs Mosquitto`, 'us', m('ours', 'p50', qos), 'report', vs('mosquitto', 'p50', qos)));
    out.push(metric(`QoS ${qos} round trip p99, low load, vs aedes`, 'us', m('ours', 'p99', qos), 'report', vs('aedes', 'p99', qos)));
    out.push(metric(`QoS ${qos} round trip p99, low load, vs Mosquitto`, 'us', m('ours', 'p99', qos), `<= ${Math.round(1.5 * m('mosquitto', 'p99', qos))} us (1.5x Mosquitto)`, vs('mosquitto', 'p99', qos)));
  }
  return out;
}

async function throughput(peer: Peer, subLoad: ChildProcess, pubLoad: ChildProcess, qos: 0 | 1, topic: string): Promise<{ rate: number; perCore?: number }> {
  const expect = MESSAGES[qos];
  const ready = reply(subLoad, 'ready');
  const received = reply(subLoad, 'received', ready);
  command(subLoad, { op: 'subscribe', url: peer.url, creds: peer.creds('sub'), filter: `${peer.prefix}${topic}/#`, qos, expect });
  await ready;
  const cpu0 = peer.pid ? cpuSeconds(peer.pid) : 0;
  const t0 = performance.now();
  const publishers = Array.from({ length: PUBLISHERS }, (_, i) => peer.creds(`pub-${i}`));
  const published = reply(pubLoad, 'published');
  command(pubLoad, { op: 'publish', url: peer.url, creds: publishers, topic: `${peer.prefix}${topic}`, count: expect, qos, window: WINDOW[qos], size: SIZE });
  await published;
  const got = (await received) as Extract<LoadReply, { op: 'received' }>;
  const cpuS = peer.pid ? cpuSeconds(peer.pid) - cpu0 : NaN;
  const wallS = (performance.now() - t0) / 1000;
  if (got.count < expect) log(`  ${peer.name} QoS ${qos}: ${expect - got.count} of ${expect} messages never arrived`);
  const rate = ((got.count - 1) * 1000) / (got.lastMs - got.firstMs);
  const perCore = got.count / cpuS;
  log(`  ${peer.name} QoS ${qos}: ${Math.round(rate)} msg/s, broker CPU ${fmt((100 * cpuS) / wallS)} % of a core, ${fmt(1e6 / perCore)} us CPU per message`);
  return Number.isFinite(perCore) ? { rate, perCore } : { rate };
}

async function latency(peer: Peer, load: ChildProcess, qos: 0 | 1, topic: string): Promise<number[]> {
  const done = reply(load, 'latency');
  command(load, { op: 'latency', url: peer.url, pub: peer.creds('lat-pub'), sub: peer.creds('lat-sub'), topic: `${peer.prefix}${topic}`, qos, samples: LATENCY_SAMPLES / LATENCY_SLICES, warmup: 300, size: SIZE });
  return ((await done) as Extract<LoadReply, { op: 'latency' }>).us;
}

function forkLoad(): ChildProcess {
  return fork(fileURLToPath(new URL('./broker-load.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

const command = (child: ChildProcess, m: LoadCommand): void => void child.send(m);

/** The next reply `op` from a load process (after `after`, when replies come in order). */
async function reply(child: ChildProcess, op: LoadReply['op'], after?: Promise<unknown>): Promise<LoadReply> {
  await after;
  return new Promise((resolve, reject) => {
    const onMessage = (m: LoadReply) => {
      if (m.op === 'error') reject(new Error(`load process: ${m.message}`));
      else if (m.op !== op) return;
      else resolve(m);
      child.off('message', onMessage);
    };
    child.on('message', onMessage);
  });
}

async function startServer(kind: 'ours' | 'ours-uplink' | 'ours-tls' | 'aedes', tls?: { ca: string; cert: string; key: string }): Promise<{ port: number; child: ChildProcess; stop(): Promise<void> }> {
  const env = tls ? { ...process.env, GEDGE_BENCH_TLS: JSON.stringify(tls) } : process.env;
  // Ours runs with the node flags of every gedge process; bare aedes as node starts it.
  const flags = kind === 'aedes' ? [] : GEDGE_NODE_FLAGS;
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', fileURLToPath(new URL('./broker-server.ts', import.meta.url)), kind], { stdio: ['pipe', 'pipe', 'inherit'], env });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`${kind} broker exited with ${code}`)));
  });
  const { port } = JSON.parse(line) as { port: number };
  return { port, child, stop: () => new Promise((resolve) => (child.once('exit', () => resolve()), child.stdin!.end())) };
}

/** The pid of the Mosquitto listening on MOSQUITTO.port (pidof would also name the TLS one this bench starts). */
function mosquittoPid(): number | undefined {
  try {
    const out = execFileSync('ss', ['-Hltnp', `sport = :${MOSQUITTO.port}`]).toString();
    return Number(/"mosquitto",pid=(\d+)/.exec(out)?.[1]) || undefined;
  } catch {
    return undefined; // CPU is then not reported for it
  }
}

function log(s: string): void {
  console.error(s);
}

const fmt = (n: number): string => (Number.isFinite(n) ? n.toFixed(n >= 100 ? 0 : 1) : 'n/a');
