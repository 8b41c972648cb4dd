import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { workloadTemplateSchema, type WorkloadTemplate } from '../../core/index.ts';
import { freePort, tinyClassifier } from '../../testkit/index.ts';
import { ModelCache } from '../models/model-cache.ts';
import { StartFailedError } from './errors.ts';
import { ModelRuntime } from './model-runtime.ts';
import { ProcessRuntime } from './process-runtime.ts';
import type { Execution, RunSpec } from './runtime.ts';
import { isAlive, makeTempDir, readAll, waitFor } from './test-helpers.ts';

const file = tinyClassifier({ seed: 31 });
const digest = `sha256:${createHash('sha256').update(file).digest('hex')}`;

/**
 * What the Runtime contract asks, for `runtime: model`, whose workload is
 * always gedge's model server: it starts and serves, its output is in the
 * instance's log, stop ends it (SIGTERM first), a start that cannot get its
 * model fails with StartFailedError, exec runs in its environment, and reap
 * ends one a crashed agent left. The file is in the node's cache and the
 * center is unreachable (the cache's fetch fails), as on an edge offline.
 */
describe('model runtime', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let runtime: ModelRuntime;
  const running: Execution[] = [];
  let seq = 0;

  before(async () => {
    ({ dir: root, cleanup } = await makeTempDir('gedge-model-runtime-'));
    mkdirSync(join(root, 'models', 'default'), { recursive: true });
    writeFileSync(join(root, 'models', 'default', digest.slice('sha256:'.length)), file);
    const offline = () => Promise.reject(new Error('connect ECONNREFUSED (the center is unreachable)'));
    runtime = new ModelRuntime(new ProcessRuntime(), new ModelCache(join(root, 'models'), offline, pino({ level: 'silent' })));
  });
  after(async () => {
    await Promise.all(running.splice(0).map((e) => e.stop(0)));
    await cleanup();
  });

  async function specFor(ref: { digest: string; size: number } = { digest, size: file.length }, env: Record<string, string> = {}): Promise<RunSpec> {
    seq++;
    const template: WorkloadTemplate = workloadTemplateSchema.parse({ runtime: 'model', model: 'tiny-v1', ports: [{ name: 'http' }], artifact: { ...ref, model: 'tiny', version: 1 } });
    return { id: `default.model-${seq}`, project: 'default', template, env, logDir: join(root, `instance-${seq}`), ports: { http: await freePort() }, volumes: {} };
  }
  const ready = async (port: number) => (await fetch(`http://127.0.0.1:${port}/v2/health/ready`).catch(() => undefined))?.status === 200;

  it('serves the model from the cache, logs that it does, and stops on SIGTERM', async () => {
    const spec = await specFor();
    const execution = await runtime.start(spec);
    running.push(execution);
    assert.equal(typeof execution.pid, 'number');
    await waitFor(() => ready(spec.ports.http!), 30_000, 'the model server ready');
    // The server is ready a moment before its serving line reaches the log file: wait for the line.
    await waitFor(async () => /"msg":"serving","model":"tiny","version":"1"/.test(await readAll(runtime, spec.logDir)), 10_000, 'the serving line in the log');
    assert.deepEqual(await execution.stop(10_000), { code: 0, signal: null }, 'a clean exit on SIGTERM, within the grace');
  });

  it('a model it cannot get is a StartFailedError naming the model', async () => {
    const other = tinyClassifier({ seed: 32 });
    const err = await runtime.start(await specFor({ digest: `sha256:${createHash('sha256').update(other).digest('hex')}`, size: other.length })).catch((e: unknown) => e);
    assert.ok(err instanceof StartFailedError, String(err));
    assert.match(err.message, /cannot get model tiny version 1 \(sha256:[0-9a-f]+\): connect ECONNREFUSED/);
  });

  it("runs exec in the workload's environment", async () => {
    const spec = await specFor(undefined, { GREETING: 'hi' });
    running.push(await runtime.start(spec));
    const session = await runtime.exec(spec, { command: ['/bin/sh', '-c', 'echo "$GREETING"'], tty: false });
    let out = '';
    session.onOutput((_fd, d) => (out += d.toString()));
    assert.deepEqual(await session.exited, { code: 0, signal: null });
    assert.equal(out, 'hi\n');
  });

  it('reap ends a model server a crashed agent left running', async () => {
    const spec = await specFor();
    const left = await runtime.start(spec);
    await waitFor(() => ready(spec.ports.http!), 30_000, 'the model server ready');
    await runtime.reap(spec, left.pid!);
    await waitFor(() => !isAlive(left.pid!), 10_000, 'the left-behind server ended');
  });
});
