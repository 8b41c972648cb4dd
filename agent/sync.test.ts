import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { CenterMessage, Device, EdgeObject, Instance } from '../core/index.ts';
import { SyncPhases, instanceId, instancePart, objectKey, step, type SyncStep } from './sync.ts';

interface State {
  revision: number;
  objects: Map<string, EdgeObject>;
}

function inst(name: string, opts: { project?: string; node?: string; command?: string } = {}): Instance {
  return {
    apiVersion: 'gedge.io/v1',
    kind: 'Instance',
    metadata: { name, ...(opts.project ? { project: opts.project } : {}), labels: {} },
    spec: { node: opts.node ?? 'n1', template: templateOf(opts.command ?? 'run'), placement: {}, templateHash: '' },
  };
}

function templateOf(command: string): Instance['spec']['template'] {
  return {
    runtime: 'process',
    command: [command],
    env: {},
    ports: [],
    volumes: [],
    resources: { cpu: 0, memoryMiB: 0, diskMiB: 0, accelerators: {} },
    restartPolicy: 'Always',
    stopGracePeriod: '5s',
  };
}

const put = (revision: number, o: EdgeObject): CenterMessage => ({ t: 'change', revision, op: 'put', object: o });
const del = (revision: number, o: EdgeObject): CenterMessage => ({ t: 'change', revision, op: 'delete', object: o });
const state = (revision: number, ...items: EdgeObject[]): State => ({ revision, objects: new Map(items.map((i) => [objectKey(i), i])) });

/** What the agent does with a step: the pure state after it. */
function apply(s: State, st: SyncStep | null): State {
  if (!st) return s;
  const next = new Map(st.replaceAll ? [] : s.objects);
  for (const id of st.remove) next.delete(id);
  for (const i of st.put) next.set(objectKey(i), i);
  return { revision: st.revision, objects: next };
}

function fold(msgs: CenterMessage[], from: State = state(0)): State {
  return msgs.reduce((s, msg) => apply(s, step(s, msg)), from);
}

function device(name: string, project = 'default', description = ''): Device {
  return { apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name, project, labels: {} }, spec: { site: 'edge-a', description, grants: { publish: [], subscribe: [] }, twin: { desired: {} } } };
}

test('instanceId is project.name, objectKey kind/project/name, with the default project when omitted', () => {
  assert.equal(instanceId(inst('a')), 'default.a');
  assert.equal(instanceId(inst('a', { project: 'p' })), 'p.a');
  assert.equal(objectKey(inst('a')), 'Instance/default/a');
  assert.equal(objectKey(device('a', 'p')), 'Device/p/a');
});

test('instances and devices of the same name are different objects; the instance part of a step is by instance id', () => {
  const s = fold([put(1, inst('a')), put(2, device('a')), del(3, inst('a'))]);
  assert.deepEqual([...s.objects.keys()], ['Device/default/a']);
  const st = step(state(3, inst('x', { project: 'p' }), device('d')), { t: 'snapshot', revision: 9, objects: [device('d'), inst('y')] })!;
  assert.deepEqual(instancePart(st), { put: [inst('y')], remove: ['p.x'] });
});

test('a put change adds or replaces the instance and moves the revision', () => {
  const a = inst('a');
  assert.deepEqual(step(state(3), put(4, a)), { revision: 4, put: [a], remove: [], replaceAll: false });
  const a2 = inst('a', { command: 'other' });
  const s = fold([put(4, a), put(7, a2)]);
  assert.equal(s.revision, 7);
  assert.deepEqual([...s.objects.entries()], [['Instance/default/a', a2]]);
});

test('a delete change removes a known instance; an unknown one only moves the revision', () => {
  const a = inst('a');
  assert.deepEqual(step(state(4, a), del(5, a)), { revision: 5, put: [], remove: ['Instance/default/a'], replaceAll: false });
  assert.deepEqual(step(state(4), del(5, a)), { revision: 5, put: [], remove: [], replaceAll: false });
  const s = fold([put(1, a), put(2, inst('b')), del(3, a)]);
  assert.deepEqual([...s.objects.keys()], ['Instance/default/b']);
  assert.equal(s.revision, 3);
});

test('a change at or below the applied revision is a duplicate and ignored', () => {
  const a = inst('a');
  const b = inst('b');
  assert.equal(step(state(5, a), put(5, b)), null, 'same revision');
  assert.equal(step(state(5, a), put(2, b)), null, 'older revision');
  assert.equal(step(state(5, a), del(4, a)), null, 'stale delete must not remove');
  const s = fold([put(1, a), del(2, a), put(1, a)]);
  assert.equal(s.objects.size, 0, 'a replayed put after its delete does not resurrect the instance');
  assert.equal(s.revision, 2);
});

test('a snapshot replaces everything and removes what it does not list', () => {
  const [a, b, c] = [inst('a'), inst('b'), inst('c', { project: 'p' })];
  const b2 = inst('b', { command: 'new' });
  const st = step(state(10, a, b), { t: 'snapshot', revision: 20, objects: [b2, c] });
  assert.deepEqual(st, { revision: 20, put: [b2, c], remove: ['Instance/default/a'], replaceAll: true });
  const s = apply(state(10, a, b), st);
  assert.equal(s.revision, 20);
  assert.deepEqual(
    [...s.objects.entries()].sort(([x], [y]) => x.localeCompare(y)),
    [
      ['Instance/default/b', b2],
      ['Instance/p/c', c],
    ],
  );
  const empty = step(state(10, a, b), { t: 'snapshot', revision: 11, objects: [] });
  assert.deepEqual(empty, { revision: 11, put: [], remove: ['Instance/default/a', 'Instance/default/b'], replaceAll: true });
});

test('synced only moves the revision forward', () => {
  const a = inst('a');
  assert.deepEqual(step(state(5, a), { t: 'synced', revision: 9 }), { revision: 9, put: [], remove: [], replaceAll: false });
  assert.equal(step(state(5, a), { t: 'synced', revision: 5 }), null);
  assert.equal(step(state(5, a), { t: 'synced', revision: 3 }), null);
  const s = fold([put(1, a), { t: 'synced', revision: 8 }, put(6, inst('late'))]);
  assert.equal(s.revision, 8);
  assert.deepEqual([...s.objects.keys()], ['Instance/default/a'], 'a change older than a synced bookmark is a duplicate');
});

test('messages that are not about sync change nothing', () => {
  const s = state(5, inst('a'));
  assert.equal(step(s, { t: 'welcome', node: 'n1', mode: 'delta', heartbeatMs: 1000 }), null);
  assert.equal(step(s, { t: 'logs.close', stream: 1 }), null);
  assert.equal(step(s, { t: 'logs.open', stream: 1, project: 'default', instance: 'a', follow: false, tailBytes: 0 }), null);
});

// ---- property -----------------------------------------------------------------

const names = ['a', 'b', 'c', 'd', 'e'];
const projects = ['default', 'p'];
const changeArb = fc.record({
  op: fc.constantFrom('put' as const, 'delete' as const),
  name: fc.constantFrom(...names),
  project: fc.constantFrom(...projects),
  command: fc.constantFrom('x', 'y', 'z'),
  gap: fc.integer({ min: 1, max: 5 }),
  kind: fc.constantFrom('Instance' as const, 'Device' as const),
});

/** Changes with strictly increasing revisions. */
const cleanArb = fc.array(changeArb, { maxLength: 40 }).map((cs) => {
  let revision = 0;
  return cs.map((c): CenterMessage => {
    revision += c.gap;
    return { t: 'change', revision, op: c.op, object: c.kind === 'Device' ? device(c.name, c.project, c.command) : inst(c.name, { project: c.project, command: c.command }) };
  });
});

/** For each position, noise to insert after it: repeats of that message or replays of earlier ones. */
const noiseArb = fc.array(fc.array(fc.record({ kind: fc.constantFrom('dup', 'replay', 'old-synced'), pick: fc.nat() }), { maxLength: 3 }), { maxLength: 40 });

function withNoise(clean: CenterMessage[], noise: { kind: string; pick: number }[][]): CenterMessage[] {
  const out: CenterMessage[] = [];
  clean.forEach((msg, k) => {
    out.push(msg);
    for (const n of noise[k] ?? []) {
      if (n.kind === 'dup') out.push(msg);
      else if (n.kind === 'replay') out.push(clean[n.pick % (k + 1)]!);
      else out.push({ t: 'synced', revision: (clean[n.pick % (k + 1)] as { revision: number }).revision });
    }
  });
  return out;
}

test('property: duplicates and replays of earlier messages do not change the outcome', () => {
  fc.assert(
    fc.property(cleanArb, noiseArb, (clean, noise) => {
      const noisy = withNoise(clean, noise);
      const expected = fold(clean);
      const actual = fold(noisy);
      assert.equal(actual.revision, expected.revision);
      assert.deepEqual(new Map(actual.objects), new Map(expected.objects));
      // And the clean fold is the obvious model: the last change of each instance wins.
      const model = new Map<string, EdgeObject>();
      for (const c of clean) {
        if (c.t !== 'change') continue;
        if (c.op === 'put') model.set(objectKey(c.object), c.object);
        else model.delete(objectKey(c.object));
      }
      assert.deepEqual(new Map(expected.objects), model);
      assert.equal(expected.revision, clean.length ? (clean.at(-1) as { revision: number }).revision : 0);
    }),
    { numRuns: 500 },
  );
});

test('property: resuming from any prefix with a replay of everything converges to the same state', () => {
  fc.assert(
    fc.property(cleanArb, fc.nat(), (clean, cut) => {
      const k = clean.length ? cut % (clean.length + 1) : 0;
      // The agent applied a prefix, then reconnects and the center resends from the start.
      const resumed = fold(clean, fold(clean.slice(0, k)));
      const direct = fold(clean);
      assert.equal(resumed.revision, direct.revision);
      assert.deepEqual(new Map(resumed.objects), new Map(direct.objects));
    }),
    { numRuns: 300 },
  );
});

test('forget removes a held rule or route by its key alone, once, and only moves the revision for one not held', () => {
  const r = { apiVersion: 'gedge.io/v1', kind: 'Route', metadata: { name: 'up', project: 'p', labels: {} }, spec: { topic: 'x/#', sink: { type: 'table' } } } as unknown as EdgeObject;
  const forget = (revision: number, name: string): CenterMessage => ({ t: 'forget', revision, kind: 'Route', project: 'p', name });
  assert.deepEqual(step(state(4, r), forget(5, 'up')), { revision: 5, put: [], remove: ['Route/p/up'], replaceAll: false });
  assert.deepEqual(step(state(4, r), forget(5, 'other')), { revision: 5, put: [], remove: [], replaceAll: false });
  assert.equal(step(state(5, r), forget(5, 'up')), null, 'a duplicate is ignored');
  assert.deepEqual([...fold([put(1, r), forget(2, 'up')]).objects.keys()], []);
});

test('sync phases: offline until a welcome, catching up (counting its changes) until synced, live until the connection drops', () => {
  const p = new SyncPhases();
  assert.deepEqual(p.current, { name: 'offline' });
  assert.equal(p.on({ t: 'synced', revision: 1 }), undefined, 'a synced outside a catch-up ends nothing');
  assert.equal(p.live, false);
  p.on({ t: 'welcome', mode: 'delta', heartbeatMs: 1000 } as CenterMessage);
  assert.equal(p.catchingUp, true);
  for (let r = 2; r <= 4; r++) p.on({ t: 'change', revision: r, op: 'delete', object: { apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: 'd', labels: {} } } } as unknown as CenterMessage);
  assert.equal(p.live, false, 'no reports while catching up');
  assert.deepEqual(p.on({ t: 'synced', revision: 4 }), { mode: 'delta', changes: 3 });
  assert.equal(p.live, true);
  p.on({ t: 'change', revision: 5, op: 'delete', object: { apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: 'd', labels: {} } } } as unknown as CenterMessage);
  assert.equal(p.live, true, 'live changes do not end it');
  p.disconnected();
  assert.deepEqual(p.current, { name: 'offline' });
  p.on({ t: 'welcome', mode: 'snapshot', heartbeatMs: 1000 } as CenterMessage);
  assert.deepEqual(p.on({ t: 'synced', revision: 9 }), { mode: 'snapshot', changes: 0 });
});
