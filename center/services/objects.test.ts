import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EgressPolicy, ForbiddenError, NotFoundError, ValidationError, lookupKind, parseSelector } from '../../core/index.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import type { TokenRecord } from '../store/store.ts';
import { Objects } from './objects.ts';

const token = (kind: TokenRecord['kind'], projects: string[] = []): TokenRecord => ({ id: `t-${kind}`, kind, hash: 'h', description: 'ops', subject: null, projects, createdAt: '', expiresAt: null, usedAt: null });
const project = (name: string) => `apiVersion: gedge.io/v1\nkind: Project\nmetadata: { name: ${name} }\nspec: {}\n`;
const service = (name: string, p: string, cmd = 'true') => `apiVersion: gedge.io/v1\nkind: Service\nmetadata: { name: ${name}, project: ${p} }\nspec:\n  template: { command: ["${cmd}"] }\n`;
const services = lookupKind('Service')!;

async function withObjects(fn: (objects: Objects, names: (p: string) => Promise<string[]>) => Promise<void>): Promise<void> {
  const store = await openSqliteStore(':memory:');
  try {
    const objects = new Objects(store, { egress: new EgressPolicy() });
    await objects.apply(token('admin'), [project('p1'), project('p2')].join('---\n'));
    await fn(objects, async (p) => (await store.list('Service', { project: p })).items.map((s) => s.metadata.name));
  } finally {
    await store.close();
  }
}

test('apply, without HTTP: all or nothing; a user token writes only its projects, and its refused apply writes nothing', () =>
  withObjects(async (objects, names) => {
    const res = await objects.apply(token('user', ['p1']), [service('web', 'p1'), service('api', 'p1')].join('---\n'));
    assert.deepEqual(res.items.map((i) => [i.action, i.name, i.project]), [['created', 'web', 'p1'], ['created', 'api', 'p1']]);
    await assert.rejects(objects.apply(token('user', ['p1']), [service('db', 'p1'), service('db', 'p2')].join('---\n')), ForbiddenError);
    assert.deepEqual((await names('p1')).sort(), ['api', 'web'], 'nothing of the refused apply was written');
    assert.deepEqual(await names('p2'), []);
    await assert.rejects(objects.apply(token('admin'), service('bad', 'p1') + '---\nkind: Nope\n'), ValidationError);
    assert.deepEqual((await names('p1')).sort(), ['api', 'web']);
  }));

test('a dry run says what apply would do and writes nothing', () =>
  withObjects(async (objects, names) => {
    await objects.apply(token('admin'), service('web', 'p1'));
    const res = await objects.apply(token('admin'), [service('web', 'p1'), service('web', 'p2', 'sleep')].join('---\n'), { dryRun: true });
    assert.deepEqual(res, { dryRun: true, items: [{ action: 'unchanged', kind: 'Service', name: 'web', project: 'p1' }, { action: 'created', kind: 'Service', name: 'web', project: 'p2' }] });
    assert.deepEqual(await names('p2'), []);
  }));

test("get, list and delete: another project's token learns nothing, not even whether an object exists; pages continue where the last ended", () =>
  withObjects(async (objects) => {
    await objects.apply(token('admin'), ['a', 'b', 'c'].map((n) => service(n, 'p1')).join('---\n'));
    const outsider = token('user', ['p2']);
    await assert.rejects(objects.get(outsider, services, 'p1', 'a'), ForbiddenError);
    await assert.rejects(objects.get(outsider, services, 'p1', 'nothing'), ForbiddenError);
    await assert.rejects(objects.get(token('user', ['p1']), services, 'p1', 'nothing'), NotFoundError);
    await assert.rejects(objects.delete(outsider, services, 'p1', 'a'), ForbiddenError);
    // Listing every project: the outsider sees only what it may read.
    assert.deepEqual((await objects.list(outsider, services, { selector: parseSelector('') })).items, []);

    const first = await objects.list(token('admin'), services, { project: 'p1', selector: parseSelector(''), limit: 2 });
    assert.deepEqual(first.items.map((s) => s.metadata.name), ['a', 'b']);
    const rest = await objects.list(token('admin'), services, { project: 'p1', selector: parseSelector(''), limit: 2, continue: first.continue });
    assert.deepEqual([rest.items.map((s) => s.metadata.name), rest.continue], [['c'], undefined]);
    await assert.rejects(objects.list(token('admin'), services, { selector: parseSelector(''), continue: first.continue }), /continue needs limit/);
    await assert.rejects(objects.list(token('admin'), services, { selector: parseSelector(''), limit: 2, continue: 'forged' }), /not a token this center gave/);

    await assert.rejects(objects.replace(token('admin'), services, 'other', service('a', 'p1')), /metadata.name does not match/);
    assert.equal((await objects.delete(token('user', ['p1']), services, 'p1', 'a')).metadata.name, 'a');
  }));
