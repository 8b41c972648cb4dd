import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SERVICE_LABEL, waitFor, type CenterMessage, type Resource } from '../../core/index.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import type { Store } from '../store/store.ts';
import { Offloads } from './offloads.ts';

const inst = (name: string, node: string, service: string, split?: { tail: string }): Resource =>
  ({
    apiVersion: 'gedge.io/v1',
    kind: 'Instance',
    metadata: { name, project: 'p', labels: { [SERVICE_LABEL]: service } },
    spec: { node, service, template: { runtime: 'model', model: 'm-v1', command: [], env: {}, ports: [{ name: 'http', port: 0 }], volumes: [], resources: { cpu: 0, memoryMiB: 0, diskMiB: 0, accelerators: {} }, restartPolicy: 'Always', stopGracePeriod: '1s', ...(split ? { split: { ...split, threshold: 0.3, exitOutput: 'exit', cutOutput: 'cut', temperature: 1, whenUnreachable: 'fallback', timeout: '2s' } } : {}) }, placement: {}, templateHash: '' },
  }) as unknown as Resource;

const ready = (s: Store, name: string) => s.updateStatus('Instance', 'p', name, { phase: 'Running', ready: true, restarts: 0, ports: {}, conditions: [] });

/** Connected nodes: what each was sent. */
function nodes(...names: string[]) {
  const sent = new Map<string, CenterMessage[]>(names.map((n) => [n, []]));
  const conns = new Map(names.map((n) => [n, { via: {}, send: (m: CenterMessage) => sent.get(n)!.push(m) }]));
  return { sent, conns, session: (n: string) => conns.get(n) };
}

async function store(): Promise<Store> {
  const s = await openSqliteStore(':memory:');
  await s.apply([inst('head-1', 'edge', 'head', { tail: 'tail' }), inst('plain-1', 'edge', 'plain'), inst('tail-1', 'cloud', 'tail'), inst('tail-2', 'cloud2', 'tail')]);
  return s;
}

test('an offload goes to a ready tail on a connected node, and its answer back to the edge under the edge\'s id', async () => {
  const s = await store();
  try {
    const n = nodes('edge', 'cloud', 'cloud2');
    const edge = { node: 'edge', ...n.conns.get('edge')! };
    await new Offloads(s, n.session).start(edge, { id: 41, project: 'p', instance: 'head-1', data: 'AAAA' });
    assert.deepEqual(n.sent.get('edge'), [{ t: 'offload.result', id: 41, code: 404, error: 'no instance of tail service "tail" is ready on a connected node' }]);

    await ready(s, 'tail-1');
    const o = new Offloads(s, n.session); // a fresh route cache (lookups are reused for a second)
    await o.start(edge, { id: 42, project: 'p', instance: 'head-1', data: 'AAAA' });
    const run = n.sent.get('cloud')!.find((m) => m.t === 'offload.run');
    assert.ok(run?.t === 'offload.run' && run.instance === 'tail-1' && run.data === 'AAAA');
    // Only the node asked, under the id it was asked with, answers.
    assert.equal(o.answer('cloud2', run.id, [], undefined), false);
    assert.equal(o.answer('cloud', run.id + 1, [], undefined), false);
    const outputs = [{ name: 'probs', datatype: 'FP32', shape: [1, 2], data: [0.25, 0.75] }];
    assert.equal(o.answer('cloud', run.id, outputs, undefined), true);
    assert.deepEqual(n.sent.get('edge')!.at(-1), { t: 'offload.result', id: 42, outputs });
    assert.equal(o.answer('cloud', run.id, outputs, undefined), false, 'answered once');
    assert.equal(o.inFlight, 0);

    // Not a split head: refused.
    await o.start(edge, { id: 43, project: 'p', instance: 'plain-1', data: 'AAAA' });
    assert.deepEqual(n.sent.get('edge')!.at(-1), { t: 'offload.result', id: 43, code: 400, error: 'instance p/plain-1 is not the head of a split (template.split)' });
  } finally {
    await s.close();
  }
});

test('a tail that goes away or does not answer fails the offload; an edge may have only so many in flight', async () => {
  const s = await store();
  try {
    await ready(s, 'tail-1');
    const n = nodes('edge', 'cloud');
    const o = new Offloads(s, n.session, { perNode: 2, timeoutMs: 200 });
    const edge = { node: 'edge', ...n.conns.get('edge')! };
    // Three at once, as the frames of one read are handled: the third is refused all the same.
    await Promise.all([1, 2, 3].map((id) => o.start(edge, { id, project: 'p', instance: 'head-1', data: 'AA' })));
    assert.deepEqual(n.sent.get('edge'), [{ t: 'offload.result', id: 3, code: 429, error: 'at most 2 offloads of one node are in flight at once' }]);
    o.ended('cloud', n.conns.get('cloud')!.via);
    assert.deepEqual(n.sent.get('edge')!.slice(1).map((m) => m.t === 'offload.result' && `${m.id}:${m.code}`), ['1:503', '2:503']);
    await o.start(edge, { id: 4, project: 'p', instance: 'head-1', data: 'AA' });
    const last = await waitFor(() => n.sent.get('edge')!.find((m) => m.t === 'offload.result' && m.id === 4), 10_000, 'the timeout');
    assert.ok(last.t === 'offload.result' && last.id === 4 && last.code === 504, JSON.stringify(last));
    // An edge that goes away takes its offloads with it: the tail's late answer goes nowhere.
    await o.start(edge, { id: 5, project: 'p', instance: 'head-1', data: 'AA' });
    const run = n.sent.get('cloud')!.at(-1)!;
    o.ended('edge', edge.via);
    assert.equal(o.inFlight, 0);
    assert.equal(run.t === 'offload.run' && o.answer('cloud', run.id, [], undefined), false);
  } finally {
    await s.close();
  }
});
