// The uplink: one edge queue draining into the table sink of a real center
// process on 127.0.0.1 (messages/s, bytes on the wire per message, latency),
// and the queue's append rate per fsync mode. No peer runs alongside.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { startCenterProcess, waitFor, type NodeIdentity } from '../testkit/index.ts';
import { UplinkQueue, UplinkSender, type UplinkOptionsInput } from '../agent/uplink/index.ts';
import { joinNode, routeManifest, tableRows } from '../agent/uplink/test-helpers.ts';
import { metric, type Metric } from './results.ts';
import { percentile } from './stats.ts';

const SUSTAINED = 300_000;
const BACKLOG = 200_000;
/** The producer stays at most this far ahead of the center, so the rate measured is the pipeline's, not the producer's. */
const MAX_AHEAD = 20_000;
const DEVICES = 100;
const LATENCY_RATE = 1000;
const LATENCY_SECONDS = 5;

/** A ~100-byte JSON sensor reading whose values move like a real sensor's. */
function reading(i: number): { device: string; payload: Buffer } {
  const device = `sensor-${String(i % DEVICES).padStart(4, '0')}`;
  const t = 1_717_171_717_000 + i * 10;
  const body = { device, ts: t, temp: +(21 + Math.sin(i / 50) * 3).toFixed(2), humidity: +(48 + Math.cos(i / 70) * 5).toFixed(1), pressure: +(1013 + Math.sin(i / 300)).toFixed(2), battery: +(3.7 - (i % 1000) / 100_000).toFixed(3) };
  return { device, payload: Buffer.from(JSON.stringify(body)) };
}

export async function run(): Promise<Metric[]> {
  const center = await startCenterProcess();
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'gedge-bench-uplink-'));
    dirs.push(d);
    return d;
  };
  try {
    const node = await joinNode(center, 'bench-edge', 'bench-site', Array.from({ length: DEVICES }, (_, i) => reading(i).device));
    const edge = (o: UplinkOptionsInput = {}) => {
      const queue = UplinkQueue.open(tempDir(), { maxMessages: 10_000_000, ...o });
      return { queue, sender: new UplinkSender(queue, { center: center.url, node: 'bench-edge', credential: node.credential, tls: () => node.tls }) };
    };
    const append = (queue: UplinkQueue, route: string, i: number) => {
      const r = reading(i);
      queue.append({ project: 'default', route, topic: `devices/${r.device}/telemetry`, device: r.device, payload: r.payload, qos: 1 });
    };
    log(`payload example (${reading(7).payload.length} B): ${reading(7).payload.toString()}`);

    // 1. Sustained: a producer appending as fast as the pipeline takes it.
    const sustainedInto = async (into: { url: string }, cred: NodeIdentity, route: string) => {
      const queue = UplinkQueue.open(tempDir(), { maxMessages: 10_000_000 });
      const sender = new UplinkSender(queue, { center: into.url, node: 'bench-edge', credential: cred.credential, tls: () => cred.tls });
      sender.start();
      const t0 = performance.now();
      for (let i = 0; i < SUSTAINED; i++) {
        append(queue, route, i);
        // Like a broker fed by sockets, the producer gives the event loop back between bursts, and waits when far ahead.
        if (i % 1000 === 999) {
          await yieldToLoop();
          while (queue.stats().depthMessages > MAX_AHEAD) await sleep(1);
        }
      }
      await waitFor(() => queue.stats().depthMessages === 0, 300_000, `${route}: drained`, 5);
      const rate = SUSTAINED / ((performance.now() - t0) / 1000);
      await sender.stop();
      queue.close();
      return { rate, stats: sender.stats() };
    };
    await center.api.apply(routeManifest('sustained'));
    const { rate: sustainedRate, stats: st } = await sustainedInto(center, node, 'sustained');
    log(`sustained: ${SUSTAINED} messages at ${sustainedRate.toFixed(0)}/s in ${st.batches} batches; ${(st.wireBytes / SUSTAINED).toFixed(1)} B/msg on the wire, ${(st.rawBytes / SUSTAINED).toFixed(1)} B/msg raw`);
    // What the durable acknowledgement costs: the same into a center whose SQLite does not fsync each commit.
    const loose = await startCenterProcess({ storeSync: 'normal' });
    let looseRate: number;
    try {
      const looseCredential = await joinNode(loose, 'bench-edge', 'bench-site', Array.from({ length: DEVICES }, (_, i) => reading(i).device));
      await loose.api.apply(routeManifest('sustained'));
      looseRate = (await sustainedInto(loose, looseCredential, 'sustained')).rate;
    } finally {
      await loose.process.stop();
      rmSync(loose.dataDir, { recursive: true, force: true });
    }
    log(`sustained into a center with synchronous=NORMAL (acknowledges before the fsync): ${looseRate.toFixed(0)}/s; the durable ack costs ${((1 - sustainedRate / looseRate) * 100).toFixed(0)} %`);

    // 2. A backlog (what an outage leaves) drained from a full queue.
    await center.api.apply(routeManifest('backlog'));
    const b = edge();
    for (let i = 0; i < BACKLOG; i++) append(b.queue, 'backlog', i);
    const t1 = performance.now();
    b.sender.start();
    await waitFor(() => b.queue.stats().depthMessages === 0, 300_000, 'backlog: drained', 5);
    const backlogRate = BACKLOG / ((performance.now() - t1) / 1000);
    log(`backlog: ${BACKLOG} messages drained at ${backlogRate.toFixed(0)}/s`);
    await b.sender.stop();
    b.queue.close();

    // 3. Latency at a steady, modest rate: append time (edge clock) to row commit (center clock), same host.
    await center.api.apply(routeManifest('latency'));
    const l = edge();
    l.sender.start();
    const perTick = LATENCY_RATE / 100;
    for (let tick = 0, i = 0; tick < LATENCY_SECONDS * 100; tick++) {
      for (let k = 0; k < perTick; k++) append(l.queue, 'latency', i++);
      await sleep(10);
    }
    await waitFor(() => l.queue.stats().depthMessages === 0, 30_000, 'latency: drained');
    await l.sender.stop();
    l.queue.close();
    const latencies = (await tableRows(center.api, 'latency')).map((r) => Date.parse(r.receivedAt) - Date.parse(r.at));
    log(`latency at ${LATENCY_RATE}/s: p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms (linger 10 ms, group commit 10 ms)`);

    // 4. The queue alone: append rate per fsync mode.
    const appendRate = (fsync: 'always' | 'batch' | 'off', n: number) => {
      const q = UplinkQueue.open(tempDir(), { fsync, maxMessages: 10_000_000 });
      const t = performance.now();
      for (let i = 0; i < n; i++) append(q, 'r', i);
      q.close();
      return n / ((performance.now() - t) / 1000);
    };
    const always = appendRate('always', 20_000);
    const batch = appendRate('batch', 300_000);
    const off = appendRate('off', 300_000);
    log(`append rate: always ${always.toFixed(0)}/s, batch ${batch.toFixed(0)}/s, off ${off.toFixed(0)}/s`);

    return [
      metric('edge -> center table sink, sustained', 'msg/s', sustainedRate, '>= 20000 msg/s'),
      metric('sustained, acked after fsync (FULL) vs before (NORMAL)', 'msg/s', sustainedRate, 'report', { name: 'same center, synchronous=NORMAL', value: looseRate }),
      metric('backlog drain after an outage', 'msg/s', backlogRate, '>= 20000 msg/s'),
      metric('bytes on the wire per message (gzip JSON)', 'B', st.wireBytes / SUSTAINED, 'report'),
      metric('raw payload bytes per message', 'B', st.rawBytes / SUSTAINED, 'report'),
      metric('wire / raw', 'ratio', st.wireBytes / st.rawBytes, '<= 1'),
      metric('messages per batch, sustained', 'msg', SUSTAINED / st.batches, 'report'),
      metric(`append -> table p50 at ${LATENCY_RATE} msg/s`, 'ms', percentile(latencies, 50), 'report'),
      metric(`append -> table p99 at ${LATENCY_RATE} msg/s`, 'ms', percentile(latencies, 99), '<= 100 ms'),
      metric('queue append, fsync always', 'msg/s', always, 'report'),
      metric('queue append, fsync batch (10 ms group commit)', 'msg/s', batch, 'report'),
      metric('queue append, fsync off', 'msg/s', off, 'report'),
    ];
  } finally {
    await center.process.stop();
    rmSync(center.dataDir, { recursive: true, force: true });
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

function log(msg: string): void {
  console.log(`[uplink] ${msg}`);
}
