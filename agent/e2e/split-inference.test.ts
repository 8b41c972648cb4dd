import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { Instance, Node } from '../../core/index.ts';
import { ModelSession } from '../../inference/index.ts';
import { metricSample, RawNode, REPO_ROOT, startPlatform, waitFor } from '../../testkit/index.ts';
import { loadFashionMnist, MANIFEST, type TrainManifest } from '../../training/index.ts';

const digestOf = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const MODELS = join(REPO_ROOT, 'models', 'fashion-mnist');

type Answer = { id?: string; code?: number; message?: string; outputs?: { name: string; shape: number[]; data: number[] }[]; parameters?: { split: { exits: string[]; classes: number[]; threshold: number } } };

/**
 * Split inference on real agents: the trained early-exit network's head
 * serves at the edge, its tail in the cloud; hard inputs go through the
 * center to the tail and back. With the WAN cut, a Service that falls back
 * answers with the exit's guess, one that waits answers once the WAN is
 * back. A node cannot offload for an instance it does not run.
 */
test('split inference: hard inputs answered by the cloud tail through the center; with the WAN cut, fall back or wait as the Service says', async () => {
  const manifest = JSON.parse(readFileSync(join(MODELS, MANIFEST), 'utf8')) as TrainManifest;
  const test = await loadFashionMnist('test', { limit: 200 });
  // Images the full network is sure of: the tail on the quantized cut gives their class too.
  const full = await ModelSession.load(join(MODELS, manifest.full.file));
  const probs = (await full.run({ pixels: { datatype: 'FP32', dims: [test.count, 784], data: Float32Array.from(test.pixels) } })).probs!.data as Float32Array;
  const sure = [...Array(test.count).keys()].filter((i) => Math.max(...probs.subarray(i * 10, i * 10 + 10)) > 0.98).slice(0, 2);
  assert.equal(sure.length, 2);
  const classOf = (i: number) => probs.subarray(i * 10, i * 10 + 10).indexOf(Math.max(...probs.subarray(i * 10, i * 10 + 10)));
  const frame = (i: number) => Array.from(test.pixels.subarray(i * 784, (i + 1) * 784));

  const p = await startPlatform({
    heartbeatMs: 300,
    notReadyAfterMs: 1500,
    agents: [
      { name: 'edge-a-1', site: 'edge-a', mqtt: true, viaLink: true },
      { name: 'cloud-1', site: 'cloud' },
    ],
  });
  try {
    const api = p.center.api;
    for (const [name, file] of [['fm-head', manifest.splits.exit2.head.file], ['fm-tail', manifest.splits.exit2.tail.file]] as const) {
      const bytes = readFileSync(join(MODELS, file));
      await api.uploadArtifact('default', digestOf(bytes), bytes, bytes.length);
      await api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Model', metadata: { name: `${name}-v1` }, spec: { model: name, version: 1, artifact: { digest: digestOf(bytes), size: bytes.length }, classLabels: manifest.classLabels } }));
    }
    const service = (name: string, model: string, tiers: string[], split?: Record<string, unknown>) =>
      JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Service', metadata: { name, labels: { app: name } }, spec: { replicas: 1, placement: { tiers }, template: { runtime: 'model', model, ports: [{ name: 'http' }], ...(split ? { split } : {}) } } });
    await api.apply(
      [
        service('fm-tail', 'fm-tail-v1', ['cloud']),
        // T = 0: every input is hard (its entropy is never below 0), so every answer comes from the tail.
        service('fm-split', 'fm-head-v1', ['edge'], { tail: 'fm-tail', threshold: 0, temperature: 1, timeout: '3s' }),
        service('fm-wait', 'fm-head-v1', ['edge'], { tail: 'fm-tail', threshold: 0, whenUnreachable: 'wait', timeout: '1m' }),
        // T = 1: nothing is that unsure, so every input exits at the edge.
        service('fm-local', 'fm-head-v1', ['edge'], { tail: 'fm-tail', threshold: 1 }),
      ].join('\n---\n'),
    );
    const instances = await waitFor(async () => {
      const all = await p.instances();
      return all.length === 4 && all.every((i) => i.status?.ready) ? all : undefined;
    }, 90_000, 'the tail and the three heads ready');
    assert.equal(instances.find((i) => i.spec.service === 'fm-tail')!.spec.node, 'cloud-1');
    const head = instances.find((i) => i.spec.service === 'fm-split')!;
    assert.equal(head.spec.node, 'edge-a-1');

    await api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: 'cam-1' }, spec: { site: 'edge-a' } }));
    const cred = await api.issueDeviceCredential('default', 'cam-1');
    const cam = await waitFor(() => mqtt.connectAsync(`mqtt://127.0.0.1:${p.agents.get('edge-a-1')!.mqttPort!}`, { clientId: cred.clientId, username: cred.clientId, password: cred.password, reconnectPeriod: 0, connectTimeout: 5000 }, false).catch(() => undefined), 15_000, 'the camera signed in');
    try {
      const heard = new Map<string, Answer>();
      cam.on('message', (_topic, payload) => {
        const a = JSON.parse(payload.toString()) as Answer;
        if (a.id) heard.set(a.id, a);
      });
      await cam.subscribeAsync('devices/cam-1/models/+/infer/+', { qos: 1 });
      const ask = (service: string, id: string) => cam.publishAsync(`devices/cam-1/models/${service}/infer`, JSON.stringify({ id, inputs: [{ name: 'pixels', shape: [2, 784], datatype: 'FP32', data: [...frame(sure[0]!), ...frame(sure[1]!)] }] }), { qos: 1 });

      await ask('fm-split', 'cloud');
      const cloud = await waitFor(() => heard.get('cloud'), 30_000, 'the split answer');
      assert.deepEqual(cloud.parameters?.split.exits, ['cloud', 'cloud'], JSON.stringify(cloud));
      assert.deepEqual(cloud.parameters?.split.classes, [classOf(sure[0]!), classOf(sure[1]!)], 'the tail, on the quantized cut, answers as the full network');
      assert.deepEqual(cloud.outputs?.[0]?.shape, [2, 10]);

      await ask('fm-local', 'edge');
      const edge = await waitFor(() => heard.get('edge'), 30_000, 'the local answer');
      assert.deepEqual(edge.parameters?.split.exits, ['edge', 'edge']);

      // The WAN goes: the falling-back Service answers with the exit's guess; the waiting one holds its input.
      const link = p.links.get('edge-a-1')!;
      link.cut('blackhole');
      await ask('fm-split', 'cut');
      const fallback = await waitFor(() => heard.get('cut'), 30_000, 'the fallback answer');
      assert.deepEqual(fallback.parameters?.split.exits, ['fallback', 'fallback']);
      await ask('fm-wait', 'held');
      await waitFor(async () => (await p.center.api.get<Node>('Node', 'edge-a-1')).status?.phase === 'NotReady', 30_000, 'the center lost the edge');
      assert.equal(heard.get('held'), undefined, 'held while the WAN is cut');
      link.restore();
      const held = await waitFor(() => heard.get('held'), 60_000, 'the held input answered once the WAN is back');
      assert.deepEqual(held.parameters?.split.exits, ['cloud', 'cloud'], JSON.stringify(held));
    } finally {
      await cam.endAsync();
    }

    // The edge's figures reach the head's status: rows answered where, and the bytes sent.
    const figures = await waitFor(async () => {
      const f = (await api.get<Instance>('Instance', head.metadata.name)).status?.inference?.split;
      return f && f.rows >= 4 ? f : undefined;
    }, 30_000, "the split's figures in the head's status");
    assert.deepEqual({ rows: figures.rows, local: figures.local, offloaded: figures.offloaded, fallbacks: figures.fallbacks, threshold: figures.threshold }, { rows: 4, local: 0, offloaded: 2, fallbacks: 2, threshold: 0 });
    assert.ok(figures.bytesUp > 16 && figures.bytesUp < 2 * 784, `${figures.bytesUp} bytes for 2 rows, less than their pixels`);

    // And the edge's /metrics (scraped through the center), in Prometheus' text format.
    const text = await (await api.raw('GET', '/api/v1/nodes/edge-a-1/metrics')).text();
    const sample = (name: string, labels: string) => metricSample(text, `${name}{${labels}}`);
    const headLabels = `project="default",instance="${head.metadata.name}"`;
    assert.equal(sample('gedge_split_rows_total', `${headLabels},answered="cloud"`), 2, text.split('\n').filter((l) => l.startsWith('gedge_split')).join('\n'));
    assert.equal(sample('gedge_split_rows_total', `${headLabels},answered="fallback"`), 2);
    assert.equal(sample('gedge_split_rows_total', `${headLabels},answered="edge"`), 0);
    assert.equal(sample('gedge_split_uplink_bytes_total', headLabels), figures.bytesUp);
    assert.equal(sample('gedge_split_threshold', headLabels), 0);

    // A node may offload only for its own instances: another node of the same site is refused.
    const intruder = await RawNode.connect(p.center.url, await RawNode.join(p.center, 'intruder', 'edge-a'));
    try {
      await intruder.hello();
      intruder.send({ t: 'offload', id: 7, project: 'default', instance: head.metadata.name, data: Buffer.from('x').toString('base64') });
      intruder.send({ t: 'offload.answer', id: 1, outputs: [{ name: 'probs', datatype: 'FP32', shape: [1, 10], data: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0] }] });
      const refused = await waitFor(() => intruder.received.find((m) => m.t === 'offload.result' && m.id === 7), 10_000, 'the refusal');
      assert.equal(refused.t === 'offload.result' && refused.code, 403);
      assert.equal(intruder.closed, undefined, 'refused, not a protocol error');
    } finally {
      intruder.close();
    }
  } finally {
    await p.close();
  }
});
