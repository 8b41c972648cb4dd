import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { BadRequestError, GedgeError, NotFoundError, PayloadTooLargeError, UnavailableError } from '../core/index.ts';
import { processRegistry } from '../core/prometheus.ts';
import { Batcher, type BatchOptions } from './batcher.ts';
import type { EvalSet } from '../core/eval-set.ts';
import { evaluate, evaluateLatency, type EvaluationFigures } from './evaluation.ts';
import type { ModelSession } from './model-session.ts';
import { inputTensor, outputBytes, outputJson, servedOverJson, type Tensor } from './tensors.ts';

export interface ServedModel {
  /** The name clients address it by (/v2/models/{name}). */
  name: string;
  version: string;
  session: ModelSession;
}

export interface InferenceServerOptions {
  batching: BatchOptions;
  /**
   * A gated rollout's candidate: before it is ready, the model is measured
   * against the version it would replace (loaded beside it for that, then
   * released) on the labelled set when there is one; the figures are at
   * GET /v2/models/{name}/evaluation.
   */
  evaluation?: { baseline: ModelSession; set?: EvalSet };
  /** Largest request body (JSON), bytes. */
  bodyLimit?: number;
}

/** What /v2/models/{name}/infer takes (the protocol's inference request; binary tensors are not served). */
interface InferRequest {
  id?: unknown;
  parameters?: unknown;
  inputs?: unknown;
  outputs?: unknown;
}

/** The binary data extension's header: how many bytes of the body are the JSON inference header. */
const HEADER_LENGTH = 'inference-header-content-length';

/** The request's JSON, and the binary data after it when the binary data extension is used. */
function splitBody(body: Buffer | undefined, headerLength: string | string[] | undefined): { json: InferRequest; binary?: Buffer } {
  if (!body?.length) throw new BadRequestError('the request has no body: send {inputs: [...]}', { details: [{ path: 'body', message: 'empty' }] });
  let jsonEnd = body.length;
  if (headerLength !== undefined) {
    jsonEnd = Number(headerLength);
    if (!Number.isSafeInteger(jsonEnd) || jsonEnd < 2 || jsonEnd > body.length) throw new BadRequestError(`${HEADER_LENGTH} must be the JSON header's length, at most the body's ${body.length} bytes`, { details: [{ path: HEADER_LENGTH, message: String(headerLength) }] });
  }
  let json: InferRequest;
  try {
    json = JSON.parse(body.subarray(0, jsonEnd).toString('utf8')) as InferRequest;
  } catch (e) {
    throw new BadRequestError(`the request is not JSON: ${(e as Error).message}`, { details: [{ path: 'body', message: 'not JSON' }] });
  }
  return { json, binary: headerLength === undefined ? undefined : body.subarray(jsonEnd) };
}

/** An input's `parameters.binary_data_size`, when it travels as binary data. */
function binarySize(raw: unknown, path: string): number | undefined {
  const size = (raw as { parameters?: { binary_data_size?: unknown } } | null)?.parameters?.binary_data_size;
  if (size === undefined) return undefined;
  if (!Number.isSafeInteger(size) || (size as number) < 0) throw new BadRequestError('binary_data_size must be a byte count', { details: [{ path: `${path}.parameters.binary_data_size`, message: String(size) }] });
  return size as number;
}

const DURATION_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * The Open Inference Protocol v2 over REST, as KServe and Triton speak it:
 * `GET /v2`, `/v2/health/live`, `/v2/health/ready`, `/v2/models/{name}[/versions/{v}]`
 * (metadata), `.../ready`, and `POST .../infer`. Ready only once the model
 * has run once (warm-up). Requests are batched dynamically (batcher.ts).
 * The binary data extension (a JSON header, then raw tensors) carries
 * large inputs and outputs without JSON numbers. Errors are the
 * protocol's `{"error": message}`, with gedge's `{code, message, details}`
 * beside it. `/metrics` has the request
 * latency histogram, batch sizes, and inferences (rows) counted.
 */
export async function startInferenceServer(model: ServedModel, opts: InferenceServerOptions, listen: { host: string; port: number }): Promise<{ app: FastifyInstance; port: number; registry: Registry; close: () => Promise<void> }> {
  const registry = processRegistry();
  const labels = { model: model.name, version: model.version };
  const duration = new Histogram({ name: 'gedge_inference_request_duration_seconds', help: 'Inference requests, from the request read to the answer ready (queueing, batching and the run)', labelNames: ['model', 'version'], buckets: DURATION_BUCKETS, registers: [registry] });
  const requests = new Counter({ name: 'gedge_inference_requests_total', help: 'Inference requests by outcome: ok, invalid (400), unavailable (503) or failed (500)', labelNames: ['model', 'version', 'outcome'], registers: [registry] });
  const inferences = new Counter({ name: 'gedge_inference_inferences_total', help: 'Rows inferred (a request of batch 8 is 8)', labelNames: ['model', 'version'], registers: [registry] });
  const batchRows = new Histogram({ name: 'gedge_inference_batch_rows', help: 'Rows per run of the model (dynamic batching stacks requests)', labelNames: ['model', 'version'], buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers: [registry] });
  const ready = new Gauge({ name: 'gedge_inference_ready', help: '1 once the model is loaded and warmed up', labelNames: ['model', 'version'], registers: [registry] });
  // Every series from the start, at zero: a scraper's first sample opens its window.
  for (const outcome of ['ok', 'invalid', 'unavailable', 'failed']) requests.inc({ ...labels, outcome }, 0);
  inferences.inc(labels, 0);
  // The series a request touches, looked up once: labels are hashed on every call otherwise.
  const served = { ok: requests.labels({ ...labels, outcome: 'ok' }), invalid: requests.labels({ ...labels, outcome: 'invalid' }), unavailable: requests.labels({ ...labels, outcome: 'unavailable' }), failed: requests.labels({ ...labels, outcome: 'failed' }) };
  const rowsInferred = inferences.labels(labels);
  const took = duration.labels(labels);
  const batched = batchRows.labels(labels);
  duration.zero(labels);
  batchRows.zero(labels);
  ready.set(labels, 0);

  const session = model.session;
  const sig = session.signature;
  const batchable = session.batchable;
  const batcher = new Batcher((feeds) => session.run(feeds), batchable ? opts.batching : { ...opts.batching, maxBatch: 1, maxDelayMs: 0 }, (rows) => batched.observe(rows));
  let isReady = false;

  // Warnings and failures go to the instance's log (stdout); a line per request would drown it.
  const app = Fastify({ bodyLimit: opts.bodyLimit ?? 64 * 1024 * 1024, forceCloseConnections: true, logger: { level: 'warn' } }) as unknown as FastifyInstance;
  app.server.on('connection', (s) => s.setNoDelay(true));
  // Bodies are read as bytes and parsed here: a request in the binary data extension is a JSON header followed by raw tensors.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.setErrorHandler((err: unknown, _req, reply: FastifyReply) => {
    const code = (err as { code?: string; statusCode?: number }).code;
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    const e =
      err instanceof GedgeError ? err
      : code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? new PayloadTooLargeError('the request body is larger than this server takes', { details: [{ path: 'body', message: 'too large' }] })
      : status < 500 ? new BadRequestError((err as Error).message, { details: [{ path: 'body', message: (err as Error).message }] })
      : new GedgeError('inference failed', { cause: err });
    if (e.status >= 500 && !(e instanceof UnavailableError)) app.log.error({ err }, 'inference failed');
    void reply.status(e.status).send({ error: e.message, ...e.toJSON() });
  });

  const metadata = { name: model.name, versions: [model.version], platform: 'onnxruntime_onnx', inputs: sig.inputs, outputs: sig.outputs };
  const known = (name: string, version?: string) => {
    if (name !== model.name || (version !== undefined && version !== model.version)) {
      throw new NotFoundError(`model "${name}"${version ? ` version ${version}` : ''} is not served here (this server serves ${model.name} version ${model.version})`, { details: [{ path: 'name', message: 'unknown model' }] });
    }
  };
  type P = { name: string; version?: string };

  app.get('/v2', async () => ({ name: 'gedge', version: model.version, extensions: [] }));
  app.get('/v2/health/live', async () => ({ live: true }));
  app.get('/v2/health/ready', async (_req, reply) => (isReady ? { ready: true } : reply.status(503).send({ error: 'warming up', ready: false })));
  for (const base of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get(base, async (req) => {
      const p = req.params as P;
      known(p.name, p.version);
      return metadata;
    });
    app.get(`${base}/ready`, async (req, reply) => {
      const p = req.params as P;
      known(p.name, p.version);
      return isReady ? { name: model.name, ready: true } : reply.status(503).send({ error: 'warming up', name: model.name, ready: false });
    });
    app.post(`${base}/infer`, async (req, reply) => {
      const started = performance.now();
      const p = req.params as P;
      try {
        known(p.name, p.version);
        if (!isReady) throw new UnavailableError('the model is warming up', { details: [{ path: 'model', message: 'not ready' }] });
        const { json, binary } = splitBody(req.body as Buffer | undefined, req.headers[HEADER_LENGTH]);
        const { feeds, rows, wanted, id } = parseRequest(json, binary);
        const out = await batcher.infer(feeds, rows);
        rowsInferred.inc(rows);
        served.ok.inc();
        const head = { model_name: model.name, model_version: model.version, ...(id !== undefined ? { id } : {}) };
        if (!wanted.some((w) => w.binary)) return { ...head, outputs: wanted.map((w) => outputJson(w.name, out[w.name]!)) };
        // The binary data extension: the JSON header, then the raw outputs asked for as binary, in order.
        const raw: Buffer[] = [];
        const outputs = wanted.map((w) => {
          const t = out[w.name]!;
          if (!w.binary) return outputJson(w.name, t);
          const bytes = outputBytes(t);
          raw.push(bytes);
          return { name: w.name, datatype: t.datatype, shape: t.dims, parameters: { binary_data_size: bytes.length } };
        });
        const header = Buffer.from(JSON.stringify({ ...head, outputs }));
        void reply.header(HEADER_LENGTH, header.length).type('application/octet-stream');
        return Buffer.concat([header, ...raw]);
      } catch (e) {
        const status = e instanceof GedgeError ? e.status : 500;
        served[status === 503 ? 'unavailable' : status < 500 ? 'invalid' : 'failed'].inc();
        throw e;
      } finally {
        took.observe((performance.now() - started) / 1000);
      }
    });
  }
  // gedge's extension: how this candidate fared against the version it would replace (404 when it is no candidate).
  let evaluated: Partial<EvaluationFigures> & { error?: string } | undefined;
  app.get('/v2/models/:name/evaluation', async (req, reply) => {
    known((req.params as P).name);
    if (!opts.evaluation) throw new NotFoundError('this server measures no candidate', { details: [{ path: 'evaluation', message: 'none' }] });
    return evaluated ?? reply.status(503).send({ error: 'evaluating', ready: false });
  });
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));

  function parseRequest(body: InferRequest, binary?: Buffer): { feeds: Record<string, Tensor>; rows: number; wanted: { name: string; binary: boolean }[]; id?: string } {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequestError('the request must be a JSON object {inputs: [...]}', { details: [{ path: 'body', message: 'not an object' }] });
    if (body.id !== undefined && typeof body.id !== 'string') throw new BadRequestError('id must be a string', { details: [{ path: 'id', message: 'not a string' }] });
    if (!Array.isArray(body.inputs)) throw new BadRequestError('inputs must be an array of tensors', { details: [{ path: 'inputs', message: 'missing' }] });
    const feeds: Record<string, Tensor> = {};
    let at = 0;
    body.inputs.forEach((raw: unknown, i: number) => {
      const name = (raw as { name?: unknown } | null)?.name;
      const spec = sig.inputs.find((s) => s.name === name);
      if (!spec) throw new BadRequestError(`unknown input ${JSON.stringify(name)}: the model's inputs are ${sig.inputs.map((s) => s.name).join(', ')}`, { details: [{ path: `inputs[${i}].name`, message: 'unknown input' }] });
      if (feeds[spec.name]) throw new BadRequestError(`input "${spec.name}" is given twice`, { details: [{ path: `inputs[${i}].name`, message: 'repeated' }] });
      const size = binarySize(raw, `inputs[${i}]`);
      let bytes: Buffer | undefined;
      if (size !== undefined) {
        if (!binary || at + size > binary.length) throw new BadRequestError(`input "${spec.name}" says ${size} binary bytes, and the body has ${binary ? binary.length - at : 0} left`, { details: [{ path: `inputs[${i}].parameters.binary_data_size`, message: 'past the end of the body' }] });
        bytes = binary.subarray(at, (at += size));
      }
      feeds[spec.name] = inputTensor(raw, spec, `inputs[${i}]`, bytes);
    });
    if (binary && at !== binary.length) throw new BadRequestError(`${binary.length - at} bytes of binary data belong to no input`, { details: [{ path: 'parameters.binary_data_size', message: 'the sizes do not add up to the body' }] });
    const missing = sig.inputs.filter((s) => !feeds[s.name]).map((s) => s.name);
    if (missing.length) throw new BadRequestError(`missing input${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`, { details: missing.map((m) => ({ path: 'inputs', message: `needs ${m}` })) });
    const rowCounts = new Set(Object.values(feeds).map((t) => t.dims[0] ?? 1));
    if (batchable && rowCounts.size > 1) throw new BadRequestError('every input must have the same batch size (first dimension)', { details: [{ path: 'inputs', message: `batch sizes ${[...rowCounts].join(', ')}` }] });
    const allBinary = (body.parameters as { binary_data_output?: unknown } | undefined)?.binary_data_output === true;
    let wanted = sig.outputs.map((s) => ({ name: s.name, binary: allBinary }));
    if (body.outputs !== undefined) {
      if (!Array.isArray(body.outputs)) throw new BadRequestError('outputs must be an array of {name}', { details: [{ path: 'outputs', message: 'not an array' }] });
      wanted = body.outputs.map((o: unknown, i: number) => {
        const n = (o as { name?: unknown } | null)?.name;
        if (!sig.outputs.some((s) => s.name === n)) throw new BadRequestError(`unknown output ${JSON.stringify(n)}`, { details: [{ path: `outputs[${i}].name`, message: `one of ${sig.outputs.map((s) => s.name).join(', ')}` }] });
        return { name: n as string, binary: allBinary || (o as { parameters?: { binary_data?: unknown } }).parameters?.binary_data === true };
      });
    }
    return { feeds, rows: batchable ? [...rowCounts][0]! : 1, wanted, id: body.id as string | undefined };
  }

  for (const t of [...sig.inputs, ...sig.outputs]) if (!servedOverJson(t.datatype)) throw new Error(`tensor "${t.name}" is ${t.datatype}, which this server does not carry over JSON`);
  await app.listen({ host: listen.host, port: listen.port });
  const port = (app.server.address() as { port: number }).port;
  await session.warmUp();
  if (opts.evaluation) {
    const { baseline, set } = opts.evaluation;
    try {
      evaluated = set ? await evaluate(session, baseline, set, { batch: opts.batching.maxBatch }) : await evaluateLatency(session, baseline);
    } catch (e) {
      evaluated = { error: (e as Error).message };
    } finally {
      await baseline.release();
    }
  }
  isReady = true;
  ready.set(labels, 1);
  return {
    app,
    port,
    registry,
    close: async () => {
      isReady = false;
      batcher.close();
      await app.close();
      await session.release();
    },
  };
}
