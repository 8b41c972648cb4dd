import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import mqtt from 'mqtt';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConflictError, ValidationError, type Instance, type Service } from '../../core/index.ts';
import { startPlatform, tinyClassifier, waitFor } from '../../testkit/index.ts';

const digestOf = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function infer(port: number, rows: number[][]): Promise<number[] | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/v2/models/tiny/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [{ name: 'x', shape: [rows.length, 4], datatype: 'FP32', data: rows }] }) });
    if (!res.ok) return undefined;
    return ((await res.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data;
  } catch {
    return undefined;
  }
}

/** The model server serving `file`, found by its command line. */
function serverPid(file: string): number | undefined {
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(file)) return Number(pid);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/**
 * `runtime: model` on a real agent: the model file pushed to the center,
 * fetched by the node over its authenticated connection into its model
 * cache, served by gedge's model server as the project's workload; served
 * again from the cache while the center is down; a damaged cache file is
 * fetched anew; a Model a Service serves cannot be deleted.
 */
test('a model Service serves its model at the edge, from the node cache also while the center is down', async () => {
  const p = await startPlatform({ heartbeatMs: 300, agents: [{ name: 'edge-a-1', site: 'edge-a', mqtt: true }] });
  try {
    const api = p.center.api;
    const file = tinyClassifier({ seed: 21 });
    await api.uploadArtifact('default', digestOf(file), file, file.length);
    await api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Model', metadata: { name: 'tiny-v1' }, spec: { model: 'tiny', version: 1, artifact: { digest: digestOf(file), size: file.length }, classLabels: ['a', 'b', 'c'] } }));

    const service = (model: string) => JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Service', metadata: { name: 'classify', labels: { app: 'classify' } }, spec: { replicas: 1, template: { runtime: 'model', model, ports: [{ name: 'http' }], inference: { maxBatch: 8 } } } });
    const missing = await api.apply(service('tiny-v9')).catch((e: unknown) => e);
    assert.ok(missing instanceof ValidationError && /no Model "tiny-v9" in project "default"/.test(missing.message), String(missing));
    await api.apply(service('tiny-v1'));
    const svc = await api.get<Service>('Service', 'classify');
    assert.deepEqual(svc.spec.template.artifact, { digest: digestOf(file), size: file.length, model: 'tiny', version: 1, classLabels: ['a', 'b', 'c'] }, 'the center resolved the model to its file');
    assert.equal(svc.spec.template.readiness?.http?.path, '/v2/health/ready', 'ready once the model server is');

    const inst = await waitFor(async () => (await p.instances('app=classify')).find((i) => i.status?.ready), 60_000, 'the model instance ready');
    const port = inst.status!.ports.http!;
    const answer = await infer(port, [[1, 2, 3, 4]]);
    assert.equal(answer?.length, 3);
    assert.ok(Math.abs(answer!.reduce((a, b) => a + b, 0) - 1) < 1e-5, 'softmax sums to 1');

    // How it serves shows in its status: the agent samples the model server every few seconds.
    for (let i = 0; i < 5; i++) assert.ok(await infer(port, [[i, 1, 2, 3], [3, 2, 1, i]]));
    const serving = await waitFor(async () => {
      const s = (await api.get<Instance>('Instance', inst.metadata.name)).status?.inference;
      return s && s.requests >= 6 ? s : undefined;
    }, 30_000, 'inference figures in the instance status');
    assert.equal(serving.errors, 0);
    assert.ok(serving.p99Ms === null || serving.p99Ms >= (serving.p50Ms ?? 0), JSON.stringify(serving));

    // A device asks over MQTT, in its own namespace, and hears the answer there; its data stays at the edge.
    await api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: 'cam-1' }, spec: { site: 'edge-a', grants: { publish: ['cams/#'], subscribe: ['classified/#'] } } }));
    // A rule sends each frame to the model and publishes the frame with its answer, at the edge.
    await api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Rule', metadata: { name: 'label-frames' }, spec: { sql: 'SELECT device, pixels FROM "cams/+/frame"', actions: [{ infer: { service: 'classify', from: 'pixels', topic: 'classified/{{device}}' } }] } }));
    const noModel = await api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Rule', metadata: { name: 'nothing' }, spec: { sql: 'SELECT * FROM "cams/+/frame"', actions: [{ infer: { service: 'nothing', from: 'pixels', topic: 'x' } }] } })).catch((e: unknown) => e);
    assert.ok(noModel instanceof ValidationError && /no Service "nothing" in project "default"/.test(noModel.message), String(noModel));
    const cred = await api.issueDeviceCredential('default', 'cam-1');
    const mqttPort = p.agents.get('edge-a-1')!.mqttPort!;
    const cam = await waitFor(() => mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { clientId: cred.clientId, username: cred.clientId, password: cred.password, reconnectPeriod: 0, connectTimeout: 5000 }, false).catch(() => undefined), 15_000, 'the camera signed in');
    try {
      const heard = new Map<string, Record<string, unknown>[]>();
      cam.on('message', (topic, payload) => heard.set(topic, [...(heard.get(topic) ?? []), JSON.parse(payload.toString()) as Record<string, unknown>]));
      await cam.subscribeAsync('devices/cam-1/models/+/infer/+', { qos: 1 });
      const ask = (service: string, body: unknown) => cam.publishAsync(`devices/cam-1/models/${service}/infer`, typeof body === 'string' ? body : JSON.stringify(body), { qos: 1 });
      await ask('classify', { id: 'frame-1', inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });
      const accepted = await waitFor(() => heard.get('devices/cam-1/models/classify/infer/accepted')?.[0], 15_000, 'the answer over MQTT');
      assert.equal(accepted.id, 'frame-1');
      assert.deepEqual((accepted.outputs as { data: number[] }[])[0]!.data, answer);
      await ask('classify', { id: 'frame-2', inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] });
      await ask('nothing', { id: 'frame-3', inputs: [] });
      await ask('classify', 'not json');
      const rejected = await waitFor(() => (heard.get('devices/cam-1/models/classify/infer/rejected')?.length === 2 && heard.get('devices/cam-1/models/nothing/infer/rejected') ? heard : undefined), 15_000, 'the refusals over MQTT');
      const refusals = rejected.get('devices/cam-1/models/classify/infer/rejected')!.map((r) => `${String(r.id)} ${String(r.code)}`).sort();
      assert.deepEqual(refusals, ['frame-2 400', 'undefined 400'], 'the wrong shape, and the payload that is not JSON (no id to echo)');
      assert.match(String(rejected.get('devices/cam-1/models/classify/infer/rejected')!.find((r) => r.id === 'frame-2')!.message), /input "x" has 4 there, not 3/);
      assert.deepEqual(rejected.get('devices/cam-1/models/nothing/infer/rejected')![0], { id: 'frame-3', code: 404, message: 'no instance of model service "nothing" is ready on this edge' });

      await cam.subscribeAsync('classified/#', { qos: 1 });
      await waitFor(async () => {
        await cam.publishAsync('cams/cam-1/frame', JSON.stringify({ device: 'cam-1', pixels: [[1, 2], [3, 4]] }), { qos: 1 });
        return heard.get('classified/cam-1')?.length;
      }, 20_000, 'the rule answered a frame');
      const labelled = heard.get('classified/cam-1')![0]! as { device: string; inference: { model: string; class: number; label: string; score: number; outputs: Record<string, number[]> } };
      assert.equal(labelled.device, 'cam-1');
      assert.equal(labelled.inference.model, 'tiny');
      assert.deepEqual(labelled.inference.outputs.probs, answer);
      assert.equal(labelled.inference.class, answer!.indexOf(Math.max(...answer!)));
      assert.equal(labelled.inference.label, ['a', 'b', 'c'][labelled.inference.class]);
    } finally {
      await cam.endAsync();
    }

    // The node's cache holds the file, readable by the project's group only.
    const dataDir = p.agents.get('edge-a-1')!.dataDir;
    const cached = join(dataDir, 'models', 'default', digestOf(file).slice('sha256:'.length));
    assert.equal(statSync(cached).mode & 0o777, 0o640);
    assert.deepEqual(readdirSync(join(dataDir, 'models', 'default')), [digestOf(file).slice('sha256:'.length)]);

    // A Model a Service serves stays.
    const inUse = await api.delete('Model', 'tiny-v1').catch((e: unknown) => e);
    assert.ok(inUse instanceof ConflictError && /is served by Service "classify"/.test(inUse.message), String(inUse));

    // A damaged cache file is not served: the agent, started again, hashes its cache and fetches the file anew.
    writeFileSync(cached, Buffer.from('damaged'));
    await p.agents.get('edge-a-1')!.process.stop();
    const agent = await p.startAgent('edge-a-1');
    await agent.process.waitForLine((l) => l.msg === 'a cached model file no longer matches its digest: fetching it again', 30_000);
    await waitFor(async () => (await infer(port, [[1, 2, 3, 4]]))?.join() === answer!.join(), 60_000, 'served again from a fresh copy');
    assert.equal(digestOf(readFileSync(cached)), digestOf(file));

    // The center goes away and the model server dies: the agent starts it again from its cache.
    await p.center.process.stop();
    const running = serverPid(cached)!;
    process.kill(-running, 'SIGKILL');
    await waitFor(async () => serverPid(cached) !== running && (await infer(port, [[1, 2, 3, 4]]))?.join() === answer!.join(), 60_000, 'served again from the cache, the center down');
  } finally {
    await p.close();
  }
});
