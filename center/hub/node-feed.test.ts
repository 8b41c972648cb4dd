import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Instance, Resource } from '../../core/index.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import { catchUp } from './node-feed.ts';

const inst = (name: string, node: string, labels: Record<string, string> = {}): Resource =>
  ({ apiVersion: 'gedge.io/v1', kind: 'Instance', metadata: { name, project: 'default', labels }, spec: { node, template: { command: ['/bin/true'], env: {}, ports: [], resources: { cpu: 0, memoryMiB: 0, diskMiB: 0, accelerators: {} }, restartPolicy: 'Always', stopGraceMs: 1000, runtime: 'process' }, placement: {}, templateHash: '' } }) as unknown as Resource;

test('catch-up sends only this node\'s spec changes after the agent\'s revision, never status echoes', async () => {
  const s = await openSqliteStore(':memory:');
  try {
    await s.apply([inst('a', 'n1'), inst('b', 'n2')]);
    const since = await s.currentRevision();
    await s.apply([inst('a', 'n1', { v: '2' }), inst('c', 'n1'), inst('d', 'n2')]);
    await s.updateStatus('Instance', 'default', 'a', { phase: 'Running', ready: true, restarts: 0, ports: {}, conditions: [] });
    await s.delete('Instance', 'default', 'c');
    const { mode, messages, upTo } = await catchUp(s, 'n1', since);
    assert.equal(mode, 'delta');
    assert.deepEqual(
      messages.map((m) => (m.t === 'change' ? `${m.op}:${m.instance.metadata.name}` : m.t)),
      ['put:a', 'put:c', 'delete:c', 'synced'],
    );
    assert.equal(upTo, await s.currentRevision());
  } finally {
    await s.close();
  }
});

test('an agent behind the compaction point, or ahead of the store, gets a full snapshot of its instances', async () => {
  const s = await openSqliteStore(':memory:');
  try {
    await s.apply([inst('a', 'n1'), inst('b', 'n2')]);
    const old = await s.currentRevision();
    await s.apply([inst('c', 'n1')]);
    await s.compact(await s.currentRevision());
    for (const since of [old - 1, (await s.currentRevision()) + 100]) {
      const { mode, messages } = await catchUp(s, 'n1', since);
      assert.equal(mode, 'snapshot');
      const snap = messages[0]!;
      assert.equal(snap.t, 'snapshot');
      assert.deepEqual((snap as { instances: Instance[] }).instances.map((i) => i.metadata.name).sort(), ['a', 'c']);
      assert.equal(messages.at(-1)!.t, 'synced');
    }
  } finally {
    await s.close();
  }
});
