import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { argmaxRow, decodeCut, encodeCut, ModelSession, normalizedEntropy, temperatureScale } from '../inference/index.ts';
import { LinkEmulator } from '../sim/net/link-emulator.ts';
import { DEFAULT_WAN } from '../sim/scenario/wan.ts';
import { REPO_ROOT } from '../testkit/index.ts';
import { IMAGE_PIXELS, loadFashionMnist, MANIFEST, type Dataset, type TrainManifest } from '../training/index.ts';
import { binaryRequest, postInfer, serveModel } from './model-server.ts';
import { metric, type Metric } from './results.ts';
import { mean, percentile } from './stats.ts';

/**
 * The sources' distributed-DNN experiment (BranchyNet, DDNN, Neurosurgeon)
 * on Fashion-MNIST's 10,000 test images, with the committed early-exit
 * network (models/fashion-mnist, `gedge model train`).
 *
 * Edge: each head (and, for all-edge, the full network) in `gedge model
 * serve` on loopback. Cloud: each tail (and, for all-cloud, the full
 * network) in `gedge model serve` behind a LinkEmulator with the smart-city
 * scenario's edge-to-cloud one-way delay (5 + 20 ms). Per input: the head
 * answers; the exit's normalized entropy, after temperature scaling (the
 * manifest's, fitted by `gedge model train` on the 5,000 held-out training
 * images), below T answers at the edge;
 * otherwise the cut tensor is quantized to bytes (inference/early-exit.ts's
 * wire format, what is counted as sent) and the tail answers over the link.
 * 32 inputs in flight at once.
 *
 * The operating point is chosen on the held-out training images, not the
 * test set: the exit and T with the most local exits whose accuracy stays
 * within one point of the full network's.
 */
const THRESHOLDS = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
const ONE_WAY_MS = DEFAULT_WAN.edgeRegionMs + DEFAULT_WAN.regionCloudMs;
const IN_FLIGHT = 32;
const CLASSES = 10;
const EXITS = ['exit1', 'exit2'] as const;
type Exit = (typeof EXITS)[number];

interface Outcome {
  correct: boolean;
  ms: number;
  /** Payload bytes sent to the cloud for this input. */
  bytes: number;
  local: boolean;
}

interface Row {
  local: number;
  accuracy: number;
  p50: number;
  p99: number;
  meanMs: number;
  bytes: number;
}

export async function run(): Promise<Metric[]> {
  const dir = join(REPO_ROOT, 'models', 'fashion-mnist');
  const manifest = JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as TrainManifest;
  const test = await loadFashionMnist('test');
  const held = await loadFashionMnist('train', { offset: manifest.trainImages });
  console.log(`test images ${test.count}, held-out images ${held.count}, WAN one-way ${ONE_WAY_MS} ms`);

  // The temperatures `gedge model train` fitted on the held-out images; the operating point is chosen on them too, in process.
  const tau = manifest.temperature;
  const offline = await offlinePass(dir, manifest, held);
  const point = chooseOperatingPoint(offline, tau);
  console.log(`temperatures: exit1 ${tau.exit1.toFixed(3)}, exit2 ${tau.exit2.toFixed(3)}; operating point (held-out): ${point.exit} T=${point.t}`);

  const servers: { stop: () => Promise<void> }[] = [];
  const links: LinkEmulator[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
  try {
    const edge = async (file: string, name: string) => {
      const s = await serveModel(join(dir, file), { name, maxBatch: IN_FLIGHT });
      servers.push(s);
      return s.port;
    };
    const cloud = async (file: string, name: string) => {
      const port = await edge(file, name);
      const link = await LinkEmulator.start({ upstreamPort: port, delayMs: ONE_WAY_MS });
      links.push(link);
      return link.port;
    };
    const ports = {
      head: { exit1: await edge(manifest.splits.exit1.head.file, 'head'), exit2: await edge(manifest.splits.exit2.head.file, 'head') },
      tail: { exit1: await cloud(manifest.splits.exit1.tail.file, 'tail'), exit2: await cloud(manifest.splits.exit2.tail.file, 'tail') },
      edgeFull: await edge(manifest.full.file, 'full'),
      cloudFull: await cloud(manifest.full.file, 'full'),
    };
    const infer = async (port: number, model: string, input: string, width: number, data: Float32Array) => {
      const r = binaryRequest(input, [1, width], data);
      return JSON.parse((await postInfer(port, agent, model, r.body, r.headers)).toString()) as { outputs: { name: string; data: number[] }[] };
    };
    const whole = (port: number) => async (i: number, pixels: Float32Array): Promise<Outcome> => {
      const t = performance.now();
      const out = await infer(port, 'full', 'pixels', IMAGE_PIXELS, pixels);
      const probs = out.outputs.find((o) => o.name === 'probs')!.data;
      return { correct: argmaxRow(probs, 0, CLASSES) === test.labels[i], ms: performance.now() - t, bytes: port === ports.cloudFull ? IMAGE_PIXELS : 0, local: port === ports.edgeFull };
    };
    const split = (exit: Exit, threshold: number) => {
      const scaled = new Float64Array(CLASSES);
      return async (i: number, pixels: Float32Array): Promise<Outcome> => {
        const t = performance.now();
        const head = await infer(ports.head[exit], 'head', 'pixels', IMAGE_PIXELS, pixels);
        const probs = head.outputs.find((o) => o.name === 'exit')!.data;
        temperatureScale(probs, 0, CLASSES, tau[exit], scaled);
        if (normalizedEntropy(scaled, 0, CLASSES) < threshold) return { correct: argmaxRow(probs, 0, CLASSES) === test.labels[i], ms: performance.now() - t, bytes: 0, local: true };
        const cut = Float32Array.from(head.outputs.find((o) => o.name === 'cut')!.data);
        const wire = encodeCut(cut, 1, cut.length);
        const sent = decodeCut(wire);
        const tail = await infer(ports.tail[exit], 'tail', 'cut', sent.width, sent.values);
        const answer = tail.outputs.find((o) => o.name === 'probs')!.data;
        return { correct: argmaxRow(answer, 0, CLASSES) === test.labels[i], ms: performance.now() - t, bytes: wire.length, local: false };
      };
    };

    // Warm every path before measuring.
    await sweep(test, whole(ports.edgeFull), 200);
    await sweep(test, whole(ports.cloudFull), 200);
    for (const exit of EXITS) await sweep(test, split(exit, 1.01), 200);
    for (const exit of EXITS) await sweep(test, split(exit, -1), 200);

    const allEdge = summarize(await sweep(test, whole(ports.edgeFull)));
    console.log(`all-edge: ${fmt(allEdge)}`);
    const allCloud = summarize(await sweep(test, whole(ports.cloudFull)));
    console.log(`all-cloud: ${fmt(allCloud)}`);
    const table = new Map<string, Row>();
    for (const exit of EXITS) {
      for (const t of THRESHOLDS) {
        const row = summarize(await sweep(test, split(exit, t)));
        table.set(`${exit}@${t}`, row);
        console.log(`${exit} T=${t}: ${fmt(row)}`);
      }
    }

    const chosen = table.get(`${point.exit}@${point.t}`)!;
    const metrics: Metric[] = [];
    for (const exit of EXITS) {
      for (const t of THRESHOLDS) {
        const r = table.get(`${exit}@${t}`)!;
        const at = `${exit}, T=${t}`;
        metrics.push(
          metric(`${at}: local exits`, '%', r.local * 100, 'report'),
          metric(`${at}: accuracy`, '%', r.accuracy * 100, 'report', { name: 'full network at the edge', value: allEdge.accuracy * 100 }),
          metric(`${at}: latency p50`, 'ms', r.p50, 'report', { name: 'all-cloud', value: allCloud.p50 }),
          metric(`${at}: latency p99`, 'ms', r.p99, 'report', { name: 'all-cloud', value: allCloud.p99 }),
          metric(`${at}: bytes to the cloud per input`, 'B', r.bytes, 'report', { name: 'all-cloud (raw pixels)', value: allCloud.bytes }),
        );
      }
    }
    metrics.push(
      metric('all-edge (full network at the edge): accuracy', '%', allEdge.accuracy * 100, 'report'),
      metric('all-edge: latency p50', 'ms', allEdge.p50, 'report'),
      metric('all-edge: latency p99', 'ms', allEdge.p99, 'report'),
      metric('all-cloud (raw pixels to the full network): accuracy', '%', allCloud.accuracy * 100, 'report'),
      metric('all-cloud: latency p50', 'ms', allCloud.p50, 'report'),
      metric('all-cloud: latency p99', 'ms', allCloud.p99, 'report'),
      metric('exit1 temperature (fitted on held-out images)', 'x', tau.exit1, 'report'),
      metric('exit2 temperature (fitted on held-out images)', 'x', tau.exit2, 'report'),
      metric(`operating point (${point.exit}, T=${point.t}, chosen on held-out images): accuracy below the full network`, 'points', (allEdge.accuracy - chosen.accuracy) * 100, '<= 1'),
      metric('operating point: local exits', '%', chosen.local * 100, '>= 60'),
      metric('operating point: mean latency', 'ms', chosen.meanMs, 'report', { name: 'all-cloud', value: allCloud.meanMs }),
      metric('operating point: mean latency, all-cloud over ours', 'x', allCloud.meanMs / chosen.meanMs, '>= 3'),
      // Raw over ours >= 20, said as a bound on ours: the ratio has no value when nothing is offloaded.
      metric('operating point: bytes to the cloud per input (at most 1/20 of the raw pixels)', 'B', chosen.bytes, `<= ${IMAGE_PIXELS / 20}`, { name: 'all-cloud (raw pixels)', value: allCloud.bytes }),
    );
    return metrics;
  } finally {
    agent.destroy();
    await Promise.all(links.map((l) => l.close()));
    await Promise.all(servers.map((s) => s.stop()));
  }
}

/** Runs `step` over the first `limit` test images (all by default), IN_FLIGHT at once. */
async function sweep(data: Dataset, step: (i: number, pixels: Float32Array) => Promise<Outcome>, limit = data.count): Promise<Outcome[]> {
  const out: Outcome[] = new Array(limit);
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < limit) {
        const i = next++;
        out[i] = await step(i, Float32Array.from(data.pixels.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS)));
      }
    }),
  );
  return out;
}

function summarize(o: Outcome[]): Row {
  const ms = o.map((x) => x.ms);
  return {
    local: o.filter((x) => x.local).length / o.length,
    accuracy: o.filter((x) => x.correct).length / o.length,
    p50: percentile(ms, 50),
    p99: percentile(ms, 99),
    meanMs: mean(ms),
    bytes: o.reduce((a, x) => a + x.bytes, 0) / o.length,
  };
}

function fmt(r: Row): string {
  return `local ${(r.local * 100).toFixed(1)} %, accuracy ${(r.accuracy * 100).toFixed(2)} %, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, mean ${r.meanMs.toFixed(2)} ms, ${r.bytes.toFixed(1)} B/input`;
}

interface Offline {
  labels: Uint8Array;
  full: Float32Array;
  exits: Record<Exit, { probs: Float32Array; tail: Float32Array }>;
}

/** Every held-out image through the full network, each head, and each tail on the quantized cut, in process. */
async function offlinePass(dir: string, m: TrainManifest, data: Dataset): Promise<Offline> {
  const pixels = { datatype: 'FP32' as const, dims: [data.count, IMAGE_PIXELS], data: Float32Array.from(data.pixels) };
  const run = async (file: string, feeds: Parameters<ModelSession['run']>[0]) => (await (await ModelSession.load(join(dir, file))).run(feeds));
  const full = (await run(m.full.file, { pixels })).probs!.data as Float32Array;
  const exits = {} as Offline['exits'];

  for (const exit of EXITS) {
    const head = await run(m.splits[exit].head.file, { pixels });
    const probs = head.exit!.data as Float32Array;
    const cut = head.cut!.data as Float32Array;
    const width = m.splits[exit].cutWidth;
    // Each row quantized on its own, as it is sent.
    const sent = new Float32Array(cut.length);
    for (let r = 0; r < data.count; r++) sent.set(decodeCut(encodeCut(cut.subarray(r * width, (r + 1) * width), 1, width)).values, r * width);
    const tail = (await run(m.splits[exit].tail.file, { cut: { datatype: 'FP32', dims: [data.count, width], data: sent } })).probs!.data as Float32Array;
    exits[exit] = { probs, tail };
  }
  return { labels: data.labels, full, exits };
}

/** The exit and T with the most local exits whose held-out accuracy is within one point of the full network's. */
function chooseOperatingPoint(o: Offline, tau: Record<Exit, number>): { exit: Exit; t: number } {
  const n = o.labels.length;
  let fullRight = 0;
  for (let r = 0; r < n; r++) if (argmaxRow(o.full, r * CLASSES, CLASSES) === o.labels[r]) fullRight++;
  let best = { exit: 'exit2' as Exit, t: THRESHOLDS[0]!, local: -1 };
  const scaled = new Float64Array(CLASSES);
  for (const exit of EXITS) {
    for (const t of THRESHOLDS) {
      let local = 0;
      let right = 0;
      for (let r = 0; r < n; r++) {
        temperatureScale(o.exits[exit].probs, r * CLASSES, CLASSES, tau[exit], scaled);
        const here = normalizedEntropy(scaled, 0, CLASSES) < t;
        if (here) local++;
        const answer = here ? argmaxRow(o.exits[exit].probs, r * CLASSES, CLASSES) : argmaxRow(o.exits[exit].tail, r * CLASSES, CLASSES);
        if (answer === o.labels[r]) right++;
      }
      console.log(`held-out ${exit} T=${t}: local ${((local / n) * 100).toFixed(1)} %, accuracy ${((right / n) * 100).toFixed(2)} % (full ${((fullRight / n) * 100).toFixed(2)} %)`);
      if (right >= fullRight - 0.01 * n && local > best.local) best = { exit, t, local };
    }
  }
  return { exit: best.exit, t: best.t };
}
