import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AlreadyExistsError, ConflictError, GoneError, NotFoundError, parseSelector, type Resource, type Service } from '../../core/index.ts';
import type { Change, Store } from './store.ts';

/** Every Store implementation runs this suite (STYLE: one contract, many implementations). */
export function storeContract(name: string, open: () => Promise<Store>): void {
  const withStore = (title: string, fn: (s: Store) => Promise<void>) =>
    test(`${name}: ${title}`, async () => {
      const s = await open();
      try {
        await fn(s);
      } finally {
        await s.close();
      }
    });

  withStore('lists in pages: limit objects in (project, name) order after the last one given, every object exactly once', async (s) => {
    const names = ['e', 'a', 'd', 'b', 'c'];
    for (const n of names) await s.create({ ...svc(n), metadata: { name: n, project: 'p2', labels: {} } });
    for (const n of names) await s.create(svc(n));
    const all = (await s.list('Service')).items.map((o) => `${o.metadata.project}/${o.metadata.name}`);
    assert.deepEqual(all, [...names.sort().map((n) => `default/${n}`), ...names.sort().map((n) => `p2/${n}`)]);
    const paged: string[] = [];
    let after: { project: string; name: string } | undefined;
    for (let page = 0; page < 10; page++) {
      const { items } = await s.list('Service', { limit: 3, after });
      paged.push(...items.map((o) => `${o.metadata.project}/${o.metadata.name}`));
      if (items.length < 3) break;
      after = { project: items.at(-1)!.metadata.project!, name: items.at(-1)!.metadata.name };
    }
    assert.deepEqual(paged, all);
    assert.deepEqual((await s.list('Service', { project: 'p2', limit: 2, after: { project: 'p2', name: 'b' } })).items.map((o) => o.metadata.name), ['c', 'd']);
  });

  withStore('annotations are kept as written: a change of them alone is configured without a new generation, and leaving them out removes them', async (s) => {
    const base = svc('noted');
    const [created] = await s.apply([{ ...base, metadata: { ...base.metadata, annotations: { 'example.com/owner': 'team traffic', note: 'x' } } }]);
    assert.deepEqual(created!.object.metadata.annotations, { 'example.com/owner': 'team traffic', note: 'x' });
    const [same] = await s.apply([{ ...base, metadata: { ...base.metadata, annotations: { 'example.com/owner': 'team traffic', note: 'x' } } }]);
    assert.equal(same!.action, 'unchanged');
    const [changed] = await s.apply([{ ...base, metadata: { ...base.metadata, annotations: { note: 'y' } } }]);
    assert.equal(changed!.action, 'configured');
    assert.deepEqual(changed!.object.metadata.annotations, { note: 'y' });
    assert.equal(changed!.object.metadata.generation, 1, 'annotations are not the spec');
    const [gone] = await s.apply([base]);
    assert.equal(gone!.action, 'configured');
    assert.equal((await s.get('Service', 'default', 'noted'))!.metadata.annotations, undefined);
  });

  withStore('revisions strictly increase across every kind of write', async (s) => {
    const seen: number[] = [];
    s.subscribe((c) => seen.push(c.revision));
    const a = await s.create(svc('a'));
    const b = (await s.apply([svc('b')]))[0]!.object;
    const a2 = await s.update({ ...a, spec: { ...(a as Service).spec, replicas: 5 } } as Resource);
    const a3 = await s.updateStatus('Service', 'default', 'a', { replicas: 5, ready: 1, conditions: [] });
    const d = await s.delete('Service', 'default', 'b');
    const revs = [a, b, a2, a3, d].map((o) => o.metadata.revision!);
    assert.deepEqual(revs, [...revs].sort((x, y) => x - y));
    assert.equal(new Set(revs).size, revs.length);
    assert.deepEqual(seen, revs);
    assert.equal(await s.currentRevision(), d.metadata.revision);
  });

  withStore('property: any sequence of writes yields strictly increasing revisions', async (s) => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom('apply', 'delete', 'status'), fc.constantFrom('x', 'y', 'z'), fc.nat(9)), { maxLength: 25 }), async (ops) => {
        const before = await s.currentRevision();
        const revs: number[] = [];
        const off = s.subscribe((c) => revs.push(c.revision));
        for (const [op, n, r] of ops) {
          try {
            if (op === 'apply') await s.apply([svc(n, r)]);
            else if (op === 'delete') await s.delete('Service', 'default', n);
            else await s.updateStatus('Service', 'default', n, { replicas: r, ready: 0, conditions: [] });
          } catch (e) {
            if (!(e instanceof NotFoundError)) throw e;
          }
        }
        off();
        revs.forEach((r, i) => assert.ok(r > (i ? revs[i - 1]! : before)));
        assert.equal(await s.currentRevision(), revs.at(-1) ?? before);
      }),
      { numRuns: 30 },
    );
  });

  withStore('writes issued together share commits; one that fails fails alone and changes nothing', async (s) => {
    await s.create(svc('taken'));
    const before = s.commitStats();
    const seen: Change[] = [];
    s.subscribe((c) => seen.push(c));
    const names = Array.from({ length: 40 }, (_, i) => `burst-${i}`);
    const outcomes = await Promise.allSettled([
      ...names.slice(0, 20).map((n) => s.create(svc(n))),
      s.create(svc('taken')), // AlreadyExists
      s.updateStatus('Service', 'default', 'missing', { replicas: 1, ready: 0, conditions: [] }), // NotFound
      s.update(svc('taken', 2), { expectRevision: 1_000_000 }), // stale revision
      ...names.slice(20).map((n) => s.create(svc(n))),
    ]);
    const failed = outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason as Error);
    assert.equal(failed.length, 3);
    assert.ok(failed[0] instanceof AlreadyExistsError);
    assert.ok(failed[1] instanceof NotFoundError);
    assert.ok(failed[2] instanceof ConflictError);
    // Every good write is stored and told once, in call order, with strictly increasing revisions.
    assert.deepEqual(
      seen.map((c) => c.object.metadata.name),
      names,
    );
    seen.forEach((c, i) => assert.ok(i === 0 || c.revision > seen[i - 1]!.revision));
    assert.equal((await s.list('Service')).items.length, 41);
    assert.equal(await s.currentRevision(), seen.at(-1)!.revision);
    // The burst did not take a commit per write.
    const after = s.commitStats();
    assert.equal(after.writes - before.writes, 40);
    assert.ok(after.commits - before.commits < 40, `${after.commits - before.commits} commits for 40 writes`);
  });

  withStore('apply is idempotent: the same object twice is unchanged and takes no revision', async (s) => {
    const [first] = await s.apply([svc('a')]);
    const rev = await s.currentRevision();
    const [second] = await s.apply([svc('a')]);
    assert.equal(first!.action, 'created');
    assert.equal(second!.action, 'unchanged');
    assert.equal(await s.currentRevision(), rev);
    const [third] = await s.apply([svc('a', 4)]);
    assert.equal(third!.action, 'configured');
    assert.equal(third!.object.metadata.generation, 2);
    assert.equal(third!.object.metadata.uid, first!.object.metadata.uid);
  });

  withStore('a stale revision is a conflict and writes nothing', async (s) => {
    const a = await s.create(svc('a'));
    await s.apply([svc('a', 2)]);
    const rev = await s.currentRevision();
    const stale = { ...svc('a', 3), metadata: { ...a.metadata } } as Resource;
    await assert.rejects(s.apply([stale]), ConflictError);
    await assert.rejects(s.update(stale), ConflictError);
    await assert.rejects(s.delete('Service', 'default', 'a', { expectRevision: a.metadata.revision }), ConflictError);
    assert.equal(await s.currentRevision(), rev);
  });

  withStore('apply is all or nothing', async (s) => {
    const a = await s.create(svc('a'));
    await s.apply([svc('a', 2)]);
    const rev = await s.currentRevision();
    await assert.rejects(s.apply([svc('new-one'), { ...svc('a', 3), metadata: { ...a.metadata } } as Resource]), ConflictError);
    assert.equal(await s.get('Service', 'default', 'new-one'), undefined);
    assert.equal(await s.currentRevision(), rev);
  });

  withStore('create refuses a taken name; get, delete and update of a missing object say not found', async (s) => {
    await s.create(svc('a'));
    await assert.rejects(s.create(svc('a')), AlreadyExistsError);
    await assert.rejects(s.delete('Service', 'default', 'nope'), NotFoundError);
    await assert.rejects(s.update(svc('nope')), NotFoundError);
    assert.equal(await s.get('Service', 'default', 'nope'), undefined);
  });

  withStore('status writes are flagged statusOnly and do not bump generation', async (s) => {
    await s.create(svc('a'));
    const changes: Change[] = [];
    s.subscribe((c) => changes.push(c));
    const o = await s.updateStatus('Service', 'default', 'a', { replicas: 1, ready: 1, conditions: [] });
    assert.equal(o.metadata.generation, 1);
    assert.deepEqual(changes.map((c) => c.statusOnly), [true]);
    const [r] = await s.apply([svc('a', 1)]);
    assert.equal(r!.action, 'unchanged', 'apply ignores status');
  });

  withStore('list filters by project and label selector and returns the revision it read at', async (s) => {
    await s.apply([svc('a', 1, { tier: 'edge' }), svc('b', 1, { tier: 'cloud' }), { ...svc('c', 1, { tier: 'edge' }), metadata: { name: 'c', project: 'other', labels: { tier: 'edge' } } } as Resource]);
    const all = await s.list('Service');
    assert.equal(all.items.length, 3);
    assert.equal(all.revision, await s.currentRevision());
    const edgeDefault = await s.list('Service', { project: 'default', selector: parseSelector('tier=edge') });
    assert.deepEqual(edgeDefault.items.map((o) => o.metadata.name), ['a']);
    const notCloud = await s.list('Service', { selector: parseSelector('tier notin (cloud)') });
    assert.deepEqual(notCloud.items.map((o) => o.metadata.name).sort(), ['a', 'c']);
  });

  withStore('changesSince delivers every later change in order, including deletes', async (s) => {
    const start = await s.currentRevision();
    await s.apply([svc('a'), svc('b')]);
    await s.updateStatus('Service', 'default', 'a', { replicas: 1, ready: 0, conditions: [] });
    await s.delete('Service', 'default', 'b');
    const changes = await s.changesSince(start);
    assert.deepEqual(
      changes.map((c) => `${c.type}:${c.object.metadata.name}`),
      ['ADDED:a', 'ADDED:b', 'MODIFIED:a', 'DELETED:b'],
    );
    assert.ok(changes.every((c, i) => i === 0 || c.revision > changes[i - 1]!.revision));
    const tail = await s.changesSince(changes[1]!.revision);
    assert.deepEqual(tail.map((c) => c.revision), changes.slice(2).map((c) => c.revision));
  });

  withStore('compaction drops old changes; resuming before it is Gone, after it works', async (s) => {
    await s.apply([svc('a'), svc('b'), svc('c')]);
    const mid = await s.currentRevision();
    await s.apply([svc('d')]);
    const removed = await s.compact(mid);
    assert.equal(removed, 3);
    assert.equal(await s.compactedRevision(), mid);
    await assert.rejects(s.changesSince(mid - 1), GoneError);
    const rest = await s.changesSince(mid);
    assert.deepEqual(rest.map((c) => c.object.metadata.name), ['d']);
    assert.equal(await s.compact(mid), 0, 'compaction is idempotent');
    await s.apply([svc('e')]);
    assert.ok((await s.currentRevision()) > mid + 1, 'revisions are never reused after compaction');
    assert.equal((await s.list('Service')).items.length, 5, 'compaction keeps objects');
  });

  withStore('single-use tokens: markUsed succeeds once', async (s) => {
    await s.tokens.insert({ id: 't1', kind: 'join', hash: 'h', description: '', subject: 'edge-a', createdAt: new Date().toISOString(), expiresAt: null, usedAt: null, projects: [] });
    const at = new Date().toISOString();
    const results = await Promise.all([s.tokens.markUsed('t1', at), s.tokens.markUsed('t1', at)]);
    assert.deepEqual(results.sort(), [false, true]);
    assert.equal((await s.tokens.get('t1'))!.usedAt, at);
    assert.equal(await s.tokens.delete('t1'), true);
    assert.equal(await s.tokens.get('t1'), undefined);
  });

  withStore('user tokens keep their projects; other kinds have none', async (s) => {
    const base = { hash: 'h', description: 'ci', subject: null, createdAt: new Date().toISOString(), expiresAt: null, usedAt: null };
    await s.tokens.insert({ ...base, id: 'u1', kind: 'user', projects: ['alpha', 'beta'] });
    await s.tokens.insert({ ...base, id: 'a1', kind: 'admin', projects: [] });
    assert.deepEqual((await s.tokens.get('u1'))?.projects, ['alpha', 'beta']);
    assert.equal((await s.tokens.get('u1'))?.kind, 'user');
    assert.deepEqual((await s.tokens.get('a1'))?.projects, []);
    const listed = new Map((await s.tokens.list()).map((t) => [t.id, t.projects]));
    assert.deepEqual([listed.get('u1'), listed.get('a1')], [['alpha', 'beta'], []]);
  });

  withStore('tokens list by subject and kinds, oldest first', async (s) => {
    const at = (i: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
    const base = { hash: 'h', description: '', expiresAt: null, usedAt: null, projects: [] };
    await s.tokens.insert({ ...base, id: 'c2', kind: 'certificate', subject: 'edge-a', createdAt: at(2) });
    await s.tokens.insert({ ...base, id: 'n1', kind: 'node', subject: 'edge-a', createdAt: at(1) });
    await s.tokens.insert({ ...base, id: 'c3', kind: 'certificate', subject: 'edge-b', createdAt: at(3) });
    await s.tokens.insert({ ...base, id: 'j4', kind: 'join', subject: 'edge-a', createdAt: at(4) });
    await s.tokens.insert({ ...base, id: 'a5', kind: 'admin', subject: null, createdAt: at(5) });
    const ids = async (f?: Parameters<Store['tokens']['list']>[0]) => (await s.tokens.list(f)).map((t) => t.id);
    assert.deepEqual(await ids(), ['n1', 'c2', 'c3', 'j4', 'a5']);
    assert.deepEqual(await ids({ subject: 'edge-a' }), ['n1', 'c2', 'j4']);
    assert.deepEqual(await ids({ subject: 'edge-a', kinds: ['node', 'certificate'] }), ['n1', 'c2']);
    assert.deepEqual(await ids({ kinds: ['certificate'] }), ['c2', 'c3']);
    assert.deepEqual(await ids({ subject: 'edge-a', kinds: [] }), []);
    assert.deepEqual(await ids({ subject: 'nobody' }), []);
  });
}

function svc(name: string, replicas = 1, labels: Record<string, string> = {}): Resource {
  return {
    apiVersion: 'gedge.io/v1',
    kind: 'Service',
    metadata: { name, project: 'default', labels },
    spec: {
      replicas,
      maxUnavailable: 1,
      maxSurge: 1,
      rollout: { paused: false, progressDeadline: '2m', maxRestarts: 3, autoRollback: true },
      placement: {},
      template: {
        runtime: 'process',
        command: ['/bin/true'],
        env: {},
        ports: [],
        volumes: [],
        resources: { cpu: 0, memoryMiB: 0, diskMiB: 0, accelerators: {} },
        restartPolicy: 'Always',
        stopGracePeriod: '5s',
      },
    },
  } as Service;
}
