import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { decodeEvalSet } from '../../core/eval-set.ts';
import type { GedgeEvent, Instance, Model, Service } from '../../core/index.ts';
import { classifierVariant, REPO_ROOT, startPlatform, waitFor } from '../../testkit/index.ts';

const MODELS = join(REPO_ROOT, 'models', 'fashion-mnist');

/**
 * Gated model rollouts on a real agent, with the trained Fashion-MNIST
 * network and its labelled evaluation set: a worse version (every answer
 * moved to the next class) is rolled back by the accuracy gate and a slower
 * one by the latency gate, while the current version keeps serving; an
 * equal one is measured, shadowed on live requests a camera sends over
 * MQTT, and promoted.
 */
test('a gated model rollout promotes an equal version after shadowing it, and rolls back a worse and a slower one', async () => {
  const p = await startPlatform({ heartbeatMs: 300, agents: [{ name: 'edge-a-1', site: 'edge-a', mqtt: true }] });
  try {
    const c = p.center;
    const api = c.api;
    const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/gedge.mjs', '--server', c.url, '--ca-file', c.caFile, '--token', c.adminToken, ...args], { cwd: REPO_ROOT, encoding: 'utf8' });
    const dir = mkdtempSync(join(tmpdir(), 'gedge-gate-'));
    const full = readFileSync(join(MODELS, 'full.onnx'));
    const files = { 1: join(MODELS, 'full.onnx') } as Record<number, string>;
    for (const [v, change] of [[2, 'relabelled'], [3, 'slower'], [4, 'same']] as const) writeFileSync((files[v] = join(dir, `v${v}.onnx`)), classifierVariant(full, change));
    for (const v of [1, 2, 3, 4]) {
      const r = cli('model', 'push', files[v]!, '--name', 'fashion', '--model-version', String(v), '--eval-set', join(MODELS, 'eval.gevs'));
      assert.equal(r.status, 0, r.stderr);
    }
    const v1 = await api.get<Model>('Model', 'fashion-v1');
    assert.equal(v1.spec.evaluation?.artifact.size, readFileSync(join(MODELS, 'eval.gevs')).length, 'the version names its evaluation set');

    const service = (version: number, shadowRequests = 0) =>
      JSON.stringify({
        apiVersion: 'gedge.io/v1',
        kind: 'Service',
        metadata: { name: 'classify', labels: { app: 'classify' } },
        spec: { replicas: 1, maxSurge: 1, maxUnavailable: 0, template: { runtime: 'model', model: `fashion-v${version}`, ports: [{ name: 'http' }] }, rollout: { progressDeadline: '5m', modelGate: { accuracyTolerance: 1, maxSlowdown: 3, shadowRequests } } },
      });
    const rollout = async (phase: string) => waitFor(async () => {
      const s = await api.get<Service>('Service', 'classify');
      return s.status?.rollout?.phase === phase && s.status.ready === 1 ? s : undefined;
    }, 120_000, `the rollout ${phase}`);
    await api.apply(service(1));
    await rollout('Complete');
    const [serving] = await p.instances('app=classify');
    assert.equal(serving!.spec.evaluation, undefined, 'the first version has nothing to be measured against');

    // A camera asks over MQTT all along: the current version must answer every frame while a worse candidate is measured.
    await api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: 'cam-1' }, spec: { site: 'edge-a' } }));
    const cred = await api.issueDeviceCredential('default', 'cam-1');
    const cam = await waitFor(() => mqtt.connectAsync(`mqtt://127.0.0.1:${p.agents.get('edge-a-1')!.mqttPort!}`, { clientId: cred.clientId, username: cred.clientId, password: cred.password, reconnectPeriod: 0, connectTimeout: 5000 }, false).catch(() => undefined), 15_000, 'the camera signed in');
    try {
      const answered: string[] = [];
      const answers = new Map<string, { accepted: boolean; version?: string }>();
      cam.on('message', (topic, payload) => {
        answered.push(`${topic} ${payload.toString().slice(0, 60)}`);
        const body = JSON.parse(payload.toString()) as { id?: string; model_version?: string };
        if (body.id) answers.set(body.id, { accepted: topic.endsWith('/accepted'), ...(body.model_version ? { version: body.model_version } : {}) });
      });
      await cam.subscribeAsync('devices/cam-1/models/classify/infer/+', { qos: 1 });
      const set = decodeEvalSet(readFileSync(join(MODELS, 'eval.gevs')));
      const ask = (id: string, row: number) => cam.publishAsync('devices/cam-1/models/classify/infer', JSON.stringify({ id, inputs: [{ name: 'pixels', shape: [1, 784], datatype: 'FP32', data: Array.from(set.values.subarray(row * 784, (row + 1) * 784)) }] }), { qos: 1 });

      const gateEvents = async () => (await api.list<GedgeEvent>('Event', { selector: 'gedge.io/involved-kind=Instance' })).items.filter((e) => e.spec.reason.startsWith('ModelGate'));
      const rolledBack = async (version: number, why: RegExp) => {
        await api.apply(service(version));
        const asked: string[] = [];
        const s = await waitFor(async () => {
          const id = `during-v${version}-${asked.length}`;
          asked.push(id);
          await ask(id, asked.length % set.rows);
          const svc = await api.get<Service>('Service', 'classify');
          return svc.status?.rollout?.phase === 'RolledBack' && svc.spec.template.model === 'fashion-v1' && (await p.instances('app=classify')).length === 1 ? svc : undefined;
        }, 120_000, `version ${version} rolled back`);
        assert.match(s.status!.rollout!.message, why);
        const [left] = await p.instances('app=classify');
        assert.equal(left!.metadata.name, serving!.metadata.name, 'the current version stayed');
        assert.ok(left!.status?.ready);
        // Every frame asked while the candidate was measured was answered, and by version 1: the candidate never served.
        await waitFor(() => asked.every((id) => answers.has(id)) || undefined, 20_000, `answers to the ${asked.length} frames asked during the rollout of version ${version}`);
        assert.deepEqual(asked.filter((id) => !answers.get(id)!.accepted || answers.get(id)!.version !== '1'), [], 'every frame answered by version 1');
        const failed = (await gateEvents()).find((e) => e.spec.reason === 'ModelGateFailed' && why.test(e.spec.message));
        assert.ok(failed, `the candidate's ModelGateFailed event: ${JSON.stringify(await gateEvents())}`);
      };
      await rolledBack(2, /accuracy \d+\.\d+ % on 1000 labelled rows against 8\d\.\d+ % for fashion version 1/);
      await rolledBack(3, /median latency [\d.]+ ms against [\d.]+ ms for fashion version 1: [\d.]+x slower, more than the 3x allowed/);
      const reasons = (await api.list<GedgeEvent>('Event', { selector: 'gedge.io/involved-kind=Service,gedge.io/involved-name=classify' })).items.map((e) => e.spec.reason);
      assert.equal(reasons.filter((r) => r === 'RolledBack').length, 2, reasons.join());

      // The version it rolled back to stays in the node's cache beside the candidates: a rollback needs no download.
      const cache = readdirSync(join(p.agents.get('edge-a-1')!.dataDir, 'models', 'default'));
      assert.ok(cache.includes(v1.spec.artifact.digest.slice('sha256:'.length)), cache.join());

      // An equal version: measured, then shadowed on the camera's live requests (answered by version 1 meanwhile), then promoted.
      await api.apply(service(4, 5));
      let n = 0;
      const promoted = await waitFor(async () => {
        await ask(`frame-${n}`, n++ % set.rows);
        const svc = await api.get<Service>('Service', 'classify');
        return svc.status?.rollout?.phase === 'Complete' && svc.status.rollout.revision === svc.status.revision && svc.spec.template.model === 'fashion-v4' ? svc : undefined;
      }, 120_000, 'version 4 promoted');
      assert.equal(promoted.status!.ready, 1);
      const [now] = await waitFor(async () => {
        const left = await p.instances('app=classify');
        return left.length === 1 && left[0]!.spec.template.model === 'fashion-v4' ? left : undefined;
      }, 60_000, 'version 1 removed once version 4 serves');
      const ev = now!.status?.evaluation;
      assert.equal(ev?.phase, 'Passed', JSON.stringify(ev));
      assert.deepEqual(ev?.shadow, { requests: 5, agreed: 5, wanted: 5 });
      assert.equal(ev?.accuracy, ev?.baselineAccuracy);
      assert.ok(answered.some((a) => a.startsWith('devices/cam-1/models/classify/infer/accepted')), answered.slice(0, 3).join('\n'));
      assert.ok((await gateEvents()).some((e) => e.spec.reason === 'ModelGatePassed' && e.spec.involved.name === now!.metadata.name));
    } finally {
      await cam.endAsync();
    }
    // Promoted for good: what it was measured against leaves its spec, so a restarted agent serves it at once.
    const inst = await waitFor(async () => {
      const i = await api.get<Instance>('Instance', (await p.instances('app=classify'))[0]!.metadata.name);
      return i.spec.evaluation === undefined ? i : undefined;
    }, 30_000, 'the promoted instance without its evaluation');
    assert.equal(inst.status?.ready, true);
    assert.equal(inst.status?.evaluation?.phase, 'Passed', 'its record stays in its status');
  } finally {
    await p.close();
  }
});
