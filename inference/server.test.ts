import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import ort from 'onnxruntime-node';
import { promtoolProblems, tinyClassifier } from '../testkit/index.ts';
import { ModelSession } from './model-session.ts';
import { startInferenceServer } from './server.ts';

/**
 * The model server as a client of the Open Inference Protocol v2 sees it:
 * every request below is written from the protocol's documentation
 * (kserve.github.io, "Open Inference Protocol (V2 Inference Protocol)",
 * REST), with node:http and nothing of ours, and every answer is checked
 * against ONNX Runtime run directly on the same file.
 */

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

function call(port: number, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : { text } }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the Open Inference Protocol v2 over REST', () => {
  const file = tinyClassifier({ features: 4, classes: 3, seed: 9 });
  let bare: ort.InferenceSession;
  let server: Awaited<ReturnType<typeof startInferenceServer>>;
  let port: number;
  const direct = async (rows: number[][]) => Array.from((await bare.run({ x: new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, 4]) })).probs!.data as Float32Array);

  before(async () => {
    bare = await ort.InferenceSession.create(file);
    server = await startInferenceServer({ name: 'tiny', version: '3', session: await ModelSession.load(file) }, { batching: { maxBatch: 8, maxDelayMs: 0, maxQueue: 256 } }, { host: '127.0.0.1', port: 0 });
    port = server.port;
  });
  after(async () => {
    await server?.close();
    await bare?.release();
  });

  test('server metadata, liveness, readiness and the model metadata with its tensors', async () => {
    assert.deepEqual((await call(port, 'GET', '/v2')).body, { name: 'gedge', version: '3', extensions: [] });
    assert.equal((await call(port, 'GET', '/v2/health/live')).status, 200);
    assert.equal((await call(port, 'GET', '/v2/health/ready')).status, 200);
    assert.equal((await call(port, 'GET', '/v2/models/tiny/ready')).status, 200);
    for (const path of ['/v2/models/tiny', '/v2/models/tiny/versions/3']) {
      assert.deepEqual((await call(port, 'GET', path)).body, {
        name: 'tiny',
        versions: ['3'],
        platform: 'onnxruntime_onnx',
        inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
        outputs: [{ name: 'probs', datatype: 'FP32', shape: [-1, 3] }],
      });
    }
    const other = await call(port, 'GET', '/v2/models/tiny/versions/2');
    assert.equal(other.status, 404);
    assert.match(String(other.body.error), /not served here/);
  });

  test('an inference answers what ONNX Runtime computes, flat or nested data, with the request id and only the outputs asked for', async () => {
    const x = [[1, 2, 3, 4], [0.5, -1, 0, 2]];
    const flat = await call(port, 'POST', '/v2/models/tiny/infer', JSON.stringify({ id: 'req-1', inputs: [{ name: 'x', shape: [2, 4], datatype: 'FP32', data: x.flat() }] }));
    assert.equal(flat.status, 200, JSON.stringify(flat.body));
    assert.equal(flat.body.model_name, 'tiny');
    assert.equal(flat.body.model_version, '3');
    assert.equal(flat.body.id, 'req-1');
    const [out] = flat.body.outputs as { name: string; datatype: string; shape: number[]; data: number[] }[];
    assert.deepEqual([out!.name, out!.datatype, out!.shape], ['probs', 'FP32', [2, 3]]);
    const expected = await direct(x);
    out!.data.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-6, `${v} vs ${expected[i]}`));
    const nested = await call(port, 'POST', '/v2/models/tiny/versions/3/infer', JSON.stringify({ inputs: [{ name: 'x', shape: [2, 4], datatype: 'FP32', data: x }], outputs: [{ name: 'probs' }] }));
    assert.deepEqual((nested.body.outputs as { data: number[] }[])[0]!.data, out!.data);
  });

  test('concurrent requests may share a run, and each gets its own rows back', async () => {
    const inputs = Array.from({ length: 40 }, (_, i) => [i, -i, i / 2, 1]);
    const answers = await Promise.all(inputs.map((row) => call(port, 'POST', '/v2/models/tiny/infer', JSON.stringify({ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: row }] }))));
    for (const [i, a] of answers.entries()) {
      const got = (a.body.outputs as { data: number[] }[])[0]!.data;
      const want = await direct([inputs[i]!]);
      got.forEach((v, k) => assert.ok(Math.abs(v - want[k]!) < 1e-6, `request ${i}: ${v} vs ${want[k]}`));
    }
    const metrics = (await call(port, 'GET', '/metrics')).body.text as string;
    const runs = Number(/gedge_inference_batch_rows_count\{[^}]*\} (\d+)/.exec(metrics)?.[1]);
    const rowsRun = Number(/gedge_inference_batch_rows_sum\{[^}]*\} (\d+)/.exec(metrics)?.[1]);
    assert.ok(runs <= rowsRun, `${runs} runs for ${rowsRun} rows`);
    assert.match(metrics, /gedge_inference_requests_total\{model="tiny",version="3",outcome="ok"\} 42\n/, 'two earlier and forty here');
  });

  test('a request that does not fit the model is a 400 saying what is wrong, in the protocol\'s {"error"} and in gedge\'s {code, message, details}', async () => {
    const infer = (body: unknown, raw?: string) => call(port, 'POST', '/v2/models/tiny/infer', raw ?? JSON.stringify(body));
    const x = (over: Record<string, unknown>) => ({ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4], ...over }] });
    const cases: [unknown, RegExp, string?][] = [
      [x({ datatype: 'FP64' }), /input "x" is FP32, not FP64/],
      [x({ shape: [1, 5], data: [1, 2, 3, 4, 5] }), /input "x" has 4 there, not 5/],
      [x({ shape: [4] }), /has 2 dimensions \[-1,4\], not 1/],
      [x({ data: [1, 2, 3] }), /holds 3 values; shape \[1,4\] needs 4/],
      [x({ data: [1, 2, 3, 4, 5] }), /holds more than the shape's 4 values/],
      [x({ data: [1, 2, '3', 4] }), /FP32 data are finite numbers/],
      [x({ data: [[[[1, 2, 3, 4]]]] }), /nested deeper than the shape's 2 dimensions/],
      [x({ shape: [100_000_000, 4] }), /at most \d+ values in one tensor/],
      [x({ name: 'image' }), /unknown input "image": the model's inputs are x/],
      [{ inputs: [] }, /missing input x/],
      [{ inputs: [x({}).inputs[0], x({}).inputs[0]] }, /input "x" is given twice/],
      [{ ...x({}), outputs: [{ name: 'logits' }] }, /unknown output "logits"/],
      [{ ...x({}), id: 7 }, /id must be a string/],
      [[1, 2], /must be a JSON object/],
      [undefined, /./, '{"inputs": ['],
    ];
    for (const [body, message, raw] of cases) {
      const a = await infer(body, raw);
      assert.equal(a.status, 400, `${JSON.stringify(body) ?? raw}: ${a.status} ${JSON.stringify(a.body)}`);
      assert.match(String(a.body.error), message);
      assert.equal(a.body.code, 'BadRequest');
      assert.equal(a.body.message, a.body.error);
      assert.ok(Array.isArray(a.body.details));
    }
    const unknown = await call(port, 'POST', '/v2/models/other/infer', JSON.stringify(x({})));
    assert.equal(unknown.status, 404);
    // Still serving, and the refusals are counted.
    assert.equal((await infer(x({}))).status, 200);
    assert.match((await call(port, 'GET', '/metrics')).body.text as string, new RegExp(`gedge_inference_requests_total\\{model="tiny",version="3",outcome="invalid"\\} 16\n`), 'the fifteen refusals and the unknown model');
  });

  test('the binary data extension: raw FP32 in after the JSON header, raw outputs back, the same numbers as JSON', async () => {
    const x = [[1, 2, 3, 4], [4, 3, 2, 1], [0, 0, 0, 0]];
    const bytes = Buffer.from(Float32Array.from(x.flat()).buffer);
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [3, 4], datatype: 'FP32', parameters: { binary_data_size: bytes.length } }], parameters: { binary_data_output: true } }));
    const res = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v2/models/tiny/infer', headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': header.length } }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => resolve({ status: r.statusCode!, headers: r.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end(Buffer.concat([header, bytes]));
    });
    assert.equal(res.status, 200, res.body.toString());
    const jsonLength = Number(res.headers['inference-header-content-length']);
    const head = JSON.parse(res.body.subarray(0, jsonLength).toString()) as { outputs: { name: string; shape: number[]; parameters: { binary_data_size: number } }[] };
    assert.deepEqual(head.outputs.map((o) => [o.name, o.shape, o.parameters.binary_data_size]), [['probs', [3, 3], 36]]);
    const raw = res.body.subarray(jsonLength);
    const got = Array.from(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length)));
    assert.deepEqual(got, await direct(x));

    const short = await call(port, 'POST', '/v2/models/tiny/infer', Buffer.concat([header, bytes.subarray(4)]), { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) });
    assert.equal(short.status, 400);
    assert.match(String(short.body.error), /says 48 binary bytes, and the body has 44 left/);
  });

  test('/metrics passes promtool', async () => {
    const text = (await call(port, 'GET', '/metrics')).body.text as string;
    assert.match(text, /gedge_inference_request_duration_seconds_bucket/);
    assert.deepEqual(promtoolProblems(text), []);
  });
});
