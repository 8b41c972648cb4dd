import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { cnnClassifier } from '../testkit/index.ts';
import { binaryRequest, postInfer, serveModel } from './model-server.ts';
import { metric, type Metric } from './results.ts';
import { median, percentile } from './stats.ts';

/**
 * Our model server (`gedge model serve`, its own process, Open Inference
 * Protocol over loopback HTTP with keep-alive) against bare onnxruntime-node
 * called in this process: the limit, with no protocol, no copy and no
 * socket. The model is a small CNN of Fashion-MNIST's shape (28x28 in, two
 * convolutions, about a million multiply-adds an image).
 * Latency: one request at a time, one image each. Throughput: 32 clients at
 * once sending one image each (dynamic batching stacks them), and 2 clients
 * sending 32 images a request in the protocol's binary data extension (what
 * a camera gateway batching its frames sends), beside bare runs of 32
 * images. Medians of three rounds.
 */
const FEATURES = 784;
const ROUNDS = 3;
const SEQUENTIAL = 2000;
const CLIENTS = 32;
const THROUGHPUT_MS = 4000;

export async function run(): Promise<Metric[]> {
  const dir = mkdtempSync(join(tmpdir(), 'gedge-bench-inference-'));
  const file = join(dir, 'cnn.onnx');
  writeFileSync(file, cnnClassifier());
  const image = Array.from({ length: FEATURES }, (_, i) => ((i * 37) % 255) / 255);
  const bare = await ort.InferenceSession.create(file, { graphOptimizationLevel: 'all', executionMode: 'sequential' });
  const server = await serveModel(file, { maxBatch: CLIENTS });
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const body = (rows: number) => JSON.stringify({ inputs: [{ name: 'x', shape: [rows, 1, 28, 28], datatype: 'FP32', data: Array.from({ length: rows }, () => image).flat() }] });
  const one = body(1);
  // The same image in the protocol's binary data extension (what Triton's perf_analyzer sends by default): no JSON numbers to parse.
  const oneBinary = binaryRequest('x', [1, 1, 28, 28], Float32Array.from(image));
  const infer = async (payload: string | Buffer, headers: Record<string, string | number> = {}) => void (await postInfer(server.port, agent, 'cnn', payload, headers));
  const bytes = Buffer.from(Float32Array.from(Array.from({ length: CLIENTS }, () => image).flat()).buffer);
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [CLIENTS, 1, 28, 28], datatype: 'FP32', parameters: { binary_data_size: bytes.length } }], parameters: { binary_data_output: true } }));
  const batch = Buffer.concat([header, bytes]);
  const batchHeaders = { 'content-type': 'application/octet-stream', 'inference-header-content-length': header.length };
  // The limit: input tensors made once, only the run measured.
  const bareInputs = new Map([1, CLIENTS].map((rows) => [rows, new ort.Tensor('float32', Float32Array.from(Array.from({ length: rows }, () => image).flat()), [rows, 1, 28, 28])]));
  const bareRun = async (rows: number) => (await bare.run({ x: bareInputs.get(rows)! })).probs!.data;
  try {
    for (let i = 0; i < 200; i++) {
      await infer(one);
      await bareRun(1);
    }
    const rounds: { oursP50: number; oursP99: number; binaryP50: number; binaryP99: number; bareP50: number; bareP99: number; floorP50: number; oursRps: number; oursBatchedRps: number; bareRps: number }[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const ours: number[] = [];
      const base: number[] = [];
      const floor: number[] = [];
      const binary: number[] = [];
      for (let i = 0; i < SEQUENTIAL; i++) {
        let t = performance.now();
        await infer(one);
        ours.push(performance.now() - t);
        t = performance.now();
        await infer(oneBinary.body, oneBinary.headers);
        binary.push(performance.now() - t);
        t = performance.now();
        await bareRun(1);
        base.push(performance.now() - t);
        // The floor: a request the server answers without reading a body or running anything.
        t = performance.now();
        await live(server.port, agent);
        floor.push(performance.now() - t);
      }
      const oursRows = await forMs(THROUGHPUT_MS, CLIENTS, async () => (await infer(one), 1));
      const oursBatchedRows = await forMs(THROUGHPUT_MS, 2, async () => (await infer(batch, batchHeaders), CLIENTS));
      const bareRows = await forMs(THROUGHPUT_MS, 1, async () => (await bareRun(CLIENTS), CLIENTS));
      rounds.push({ oursP50: percentile(ours, 50), oursP99: percentile(ours, 99), binaryP50: percentile(binary, 50), binaryP99: percentile(binary, 99), bareP50: percentile(base, 50), bareP99: percentile(base, 99), floorP50: percentile(floor, 50), oursRps: oursRows, oursBatchedRps: oursBatchedRows, bareRps: bareRows });
      console.log(`round ${r + 1}: ours p50 ${rounds[r]!.oursP50.toFixed(3)} ms p99 ${rounds[r]!.oursP99.toFixed(3)} ms, ${oursRows.toFixed(0)} images/s one a request, ${oursBatchedRows.toFixed(0)} in batches; bare p50 ${rounds[r]!.bareP50.toFixed(3)} ms p99 ${rounds[r]!.bareP99.toFixed(3)} ms, ${bareRows.toFixed(0)} images/s`);
    }
    const m = (k: keyof (typeof rounds)[0]) => median(rounds.map((x) => x[k]));
    const peer = (value: number) => ({ name: 'onnxruntime-node in-process', value });
    return [
      metric('request latency p50, one image, loopback HTTP (median of 3 rounds)', 'ms', m('oursP50'), 'report', peer(m('bareP50'))),
      metric('request latency p99, one image (median of 3 rounds)', 'ms', m('oursP99'), 'report', peer(m('bareP99'))),
      metric('per-request overhead over bare at p50, JSON', 'ms', m('oursP50') - m('bareP50'), 'report'),
      metric('request latency p50, one image, binary data extension', 'ms', m('binaryP50'), 'report', peer(m('bareP50'))),
      metric('request latency p99, one image, binary data extension', 'ms', m('binaryP99'), 'report', peer(m('bareP99'))),
      metric('per-request overhead over bare at p50, binary data extension', 'ms', m('binaryP50') - m('bareP50'), '<= 0.3 ms'),
      metric('loopback HTTP floor p50: GET /v2/health/live on the same connection, no body, no run', 'ms', m('floorP50'), 'report'),
      metric('overhead beyond the HTTP floor at p50 (ours - bare - floor)', 'ms', m('oursP50') - m('bareP50') - m('floorP50'), 'report'),
      metric(`throughput, ${CLIENTS} clients of one image each, dynamic batching (bare: runs of ${CLIENTS})`, 'images/s', m('oursRps'), 'report', peer(m('bareRps'))),
      metric(`throughput, 2 clients of ${CLIENTS} images a request, binary data (bare: runs of ${CLIENTS})`, 'images/s', m('oursBatchedRps'), 'report', peer(m('bareRps'))),
      metric('batched throughput against bare', 'x', m('oursBatchedRps') / m('bareRps'), '>= 0.8'),
    ];
  } finally {
    agent.destroy();
    await server.stop();
    await bare.release();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One GET /v2/health/live over the keep-alive agent: the round trip of HTTP on loopback between the two processes. */
function live(port: number, agent: http.Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/v2/health/live', agent }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
      })
      .on('error', reject);
  });
}

/** Rows per second over `ms`, with `concurrency` loops each doing `step` (which returns its rows). */
async function forMs(ms: number, concurrency: number, step: () => Promise<number>): Promise<number> {
  const end = performance.now() + ms;
  let rows = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const done = await step(); // not `rows += await step()`: that reads rows before the await and loses the other loops' counts
      rows += done;
    }
  }));
  return rows / ((performance.now() - started) / 1000);
}
