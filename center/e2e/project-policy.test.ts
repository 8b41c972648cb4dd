import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiClient, ForbiddenError, type Resource } from '../../core/index.ts';
import { removeDir, startCenterProcess, type CenterHandle } from '../../testkit/index.ts';

/**
 * A Project's policy (issue 17, part 5), set only by an admin: which runtimes
 * and which container images its users may run. A Service outside it is a 403
 * naming the field, and nothing is written.
 */
describe('project policy', () => {
  let c: CenterHandle;
  let user: ApiClient;
  before(async () => {
    c = await startCenterProcess();
    await c.api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Project', metadata: { name: 'p1' }, spec: { policy: { runtimes: ['process', 'container'], images: ['localhost/approved/'] } } }));
    user = new ApiClient(c.url, (await c.api.createToken({ kind: 'user', projects: ['p1'] })).token, c.ca);
  });
  after(async () => {
    await c?.process.stop();
    if (c) removeDir(c.dataDir);
  });

  const service = (name: string, template: Record<string, unknown>): string =>
    JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Service', metadata: { name, project: 'p1' }, spec: { replicas: 1, template } });

  test('an image outside the allowed prefixes is a 403 naming spec.template.image; nothing is written', async () => {
    const err = await user.apply(service('outside', { runtime: 'container', image: 'docker.io/library/alpine:3' })).catch((e: unknown) => e);
    assert.ok(err instanceof ForbiddenError, String(err));
    assert.deepEqual(err.details.map((d) => d.path), ['spec.template.image']);
    assert.match(err.message, /localhost\/approved\//);
    assert.equal((await c.api.list('Service', { project: 'p1' })).items.length, 0);
    assert.equal((await user.apply(service('inside', { runtime: 'container', image: 'localhost/approved/web:1' })))[0]?.action, 'created');
  });

  test('a runtime the policy leaves out is a 403 naming spec.template.runtime, in every document of a batch', async () => {
    await c.api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Project', metadata: { name: 'p1' }, spec: { policy: { runtimes: ['process'] } } }));
    const batch = [service('a', { runtime: 'container', image: 'localhost/x:1' }), service('b', { command: ['true'] }), service('c', { runtime: 'container', image: 'localhost/y:1' })].join('\n---\n');
    const err = await user.apply(batch).catch((e: unknown) => e);
    assert.ok(err instanceof ForbiddenError, String(err));
    assert.deepEqual(err.details.map((d) => d.path), ['[0].spec.template.runtime', '[2].spec.template.runtime']);
    assert.equal((await c.api.get('Service', 'b', 'p1').catch(() => undefined)), undefined, 'the allowed one was not written either');
    assert.equal((await user.apply(service('b', { command: ['true'] })))[0]?.action, 'created');
  });

  test("a project's user cannot change its policy; an admin can", async () => {
    const open: Resource = { apiVersion: 'gedge.io/v1', kind: 'Project', metadata: { name: 'p1' }, spec: { policy: { runtimes: ['process', 'container'] } } } as Resource;
    await assert.rejects(user.apply(JSON.stringify(open)), ForbiddenError);
    assert.deepEqual((await c.api.get<Resource & { spec: { policy?: unknown } }>('Project', 'p1')).spec.policy, { runtimes: ['process'] });
    await c.api.apply(JSON.stringify(open));
    assert.equal((await user.apply(service('d', { runtime: 'container', image: 'docker.io/library/alpine:3' })))[0]?.action, 'created');
  });
});
