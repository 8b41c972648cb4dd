import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeviceCommand, EdgeObject, Instance } from '../core/index.ts';
import { LocalState } from './local-state.ts';

test('what an agent cached before durations were one grammar reads back as the center now writes it, so an upgraded agent restarted offline runs it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gedge-local-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // As the previous release cached them: numbers with the unit in the field's name.
  const instance = {
    apiVersion: 'gedge.io/v1', kind: 'Instance', metadata: { name: 'web-1', project: 'p1', labels: {} },
    spec: { node: 'edge-a-1', templateHash: 'h', placement: {}, template: { runtime: 'process', command: ['run'], env: { periodMs: '1' }, ports: [], volumes: [], resources: { cpu: 0, memoryMiB: 0, diskMiB: 0, accelerators: {} }, restartPolicy: 'Always', stopGraceMs: 2500, liveness: { tcp: { port: 80 }, initialDelayMs: 0, periodMs: 1000, timeoutMs: 250, failureThreshold: 3 } } },
  } as unknown as Instance;
  const command = { apiVersion: 'gedge.io/v1', kind: 'DeviceCommand', metadata: { name: 'blink', project: 'p1', labels: {} }, spec: { device: 'lamp', topic: 'commands', payload: 'on', ttlMs: 60_000 } } as unknown as DeviceCommand;
  const before = await LocalState.open(dir);
  await before.commit(7, { instances: { put: new Map([['p1/web-1', { instance, ports: {}, pid: null }]]), remove: [] }, objects: { put: new Map<string, EdgeObject>([['DeviceCommand/p1/blink', command]]), remove: [] }, replaceAll: false });
  await before.close();

  const after = await LocalState.open(dir);
  try {
    const { template } = (await after.instances()).get('p1/web-1')!.instance.spec;
    assert.equal(template.stopGracePeriod, '2s500ms');
    assert.deepEqual(template.liveness, { tcp: { port: 80 }, initialDelay: '0s', period: '1s', timeout: '250ms', failureThreshold: 3 });
    assert.deepEqual(template.env, { periodMs: '1' }, "the workload's own variables are its own");
    assert.equal(((await after.objects()).get('DeviceCommand/p1/blink') as DeviceCommand).spec.ttl, '1m');
    assert.equal(await after.appliedRevision(), 7, 'nothing to fetch again: the revision stands');
  } finally {
    await after.close();
  }
});
