import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { workloadTemplateSchema, type WorkloadTemplate } from '../../core/index.ts';
import { freePort, tinyClassifier } from '../../testkit/index.ts';
import { ModelCache } from '../models/model-cache.ts';
import { StartFailedError } from './errors.ts';
import { ModelRuntime } from './model-runtime.ts';
import { ProcessRuntime } from './process-runtime.ts';
import { lifecycleContract } from './runtime-contract.ts';
import type { Execution, RunSpec } from './runtime.ts';
import { makeTempDir, waitFor } from './test-helpers.ts';

const file = tinyClassifier({ seed: 31 });
const digest = `sha256:${createHash('sha256').update(file).digest('hex')}`;
const other = tinyClassifier({ seed: 32 });
const missing = { digest: `sha256:${createHash('sha256').update(other).digest('hex')}`, size: other.length };

/** A node's model cache holding the tiny classifier, the center unreachable (its fetch fails), as on an edge offline. */
const cacheDir = mkdtempSync(join(tmpdir(), 'gedge-model-cache-'));
mkdirSync(join(cacheDir, 'default'), { recursive: true });
writeFileSync(join(cacheDir, 'default', digest.slice('sha256:'.length)), file);
const offline = () => Promise.reject(new Error('connect ECONNREFUSED (the center is unreachable)'));
const modelRuntime = () => new ModelRuntime(new ProcessRuntime(), new ModelCache(cacheDir, offline, pino({ level: 'silent' })));
after(() => rmSync(cacheDir, { recursive: true, force: true }));

async function modelSpec(root: string, id: string, env: Record<string, string>, ref: { digest: string; size: number } = { digest, size: file.length }): Promise<RunSpec> {
  const template: WorkloadTemplate = workloadTemplateSchema.parse({ runtime: 'model', model: 'tiny-v1', ports: [{ name: 'http' }], artifact: { ...ref, model: 'tiny', version: 1 } });
  return { id, project: 'default', template, env, logDir: join(root, id), ports: { http: await freePort() }, volumes: {} };
}

/**
 * The shared contract's lifecycle for `runtime: model`, whose workload is
 * always gedge's model server: it starts and logs that it serves, stop ends
 * it (a clean exit on SIGTERM), a model it cannot get is a StartFailedError,
 * exec runs in its environment, reap ends one a crashed agent left.
 */
lifecycleContract('model', modelRuntime, {
  running: (root, id, env) => modelSpec(root, id, env),
  marker: /"msg":"serving","model":"tiny","version":"1"/,
  broken: (root, id) => modelSpec(root, id, {}, missing),
  stopped: { code: 0, signal: null },
});

/** What only the model runtime does: serve the model over the Open Inference Protocol, and say which model it could not get. */
describe('model runtime', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  const running: Execution[] = [];
  before(async () => ({ dir: root, cleanup } = await makeTempDir('gedge-model-runtime-')));
  after(async () => {
    await Promise.all(running.splice(0).map((e) => e.stop(0)));
    await cleanup();
  });

  it('serves the model from the cache over the Open Inference Protocol', async () => {
    const spec = await modelSpec(root, 'default.model-1', {});
    running.push(await modelRuntime().start(spec));
    const port = spec.ports.http!;
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/v2/health/ready`).catch(() => undefined))?.status === 200, 30_000, 'the model server ready');
    const res = await fetch(`http://127.0.0.1:${port}/v2/models/tiny/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }) });
    assert.equal(res.status, 200);
    const out = ((await res.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data;
    assert.ok(Math.abs(out.reduce((a, b) => a + b, 0) - 1) < 1e-5, 'softmax sums to 1');
  });

  it('a model it cannot get is a StartFailedError naming the model', async () => {
    const err = await modelRuntime().start(await modelSpec(root, 'default.model-2', {}, missing)).catch((e: unknown) => e);
    assert.ok(err instanceof StartFailedError, String(err));
    assert.match(err.message, /cannot get model tiny version 1 \(sha256:[0-9a-f]+\): connect ECONNREFUSED/);
  });
});
