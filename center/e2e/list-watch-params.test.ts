import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiClient } from '../../core/index.ts';
import { removeDir, startCenterProcess, type CenterHandle } from '../../testkit/index.ts';

/** Lists in pages as Kubernetes' API does (limit, continue), and watches from a revision the store has reached, through the real API. */
describe('list and watch parameters', () => {
  let c: CenterHandle;
  before(async () => {
    c = await startCenterProcess();
    const docs = ['p1', 'p2'].map((name) => ({ apiVersion: 'gedge.io/v1', kind: 'Project', metadata: { name }, spec: {} }));
    for (const project of ['p1', 'p2']) {
      for (const name of ['s4', 's1', 's3', 's2']) docs.push({ apiVersion: 'gedge.io/v1', kind: 'Service', metadata: { name, project }, spec: { template: { command: ['true'] } } } as never);
    }
    await c.api.apply(docs.map((d) => JSON.stringify(d)).join('\n---\n'));
  });
  after(async () => {
    await c.process.stop();
    removeDir(c.dataDir);
  });

  const pages = async (api: ApiClient, limit: number, project?: string) => {
    const seen: string[][] = [];
    let token: string | undefined;
    do {
      const page = await api.list('Service', { project, limit, continue: token });
      seen.push(page.items.map((o) => `${o.metadata.project}/${o.metadata.name}`));
      token = page.continue;
    } while (token && seen.length < 20);
    return seen;
  };

  test('limit and continue walk every object once, in order; the last page has no continue', async () => {
    assert.deepEqual(await pages(c.api, 3), [['p1/s1', 'p1/s2', 'p1/s3'], ['p1/s4', 'p2/s1', 'p2/s2'], ['p2/s3', 'p2/s4']]);
    assert.deepEqual(await pages(c.api, 4, 'p2'), [['p2/s1', 'p2/s2', 'p2/s3', 'p2/s4'], []], 'a full last page is followed by an empty one');
    const whole = await c.api.list('Service');
    assert.equal(whole.items.length, 8);
    assert.equal(whole.continue, undefined, 'no limit: everything, no token');
  });

  test("a user's pages hold only its projects' objects", async () => {
    const user = await c.api.createToken({ kind: 'user', projects: ['p2'] });
    const api = new ApiClient(c.url, user.token, c.ca);
    assert.deepEqual((await pages(api, 3, 'p2')).flat(), ['p2/s1', 'p2/s2', 'p2/s3', 'p2/s4']);
  });

  test('a bad limit or continue is a 422 naming the parameter', async () => {
    for (const [path, param] of [
      ['/api/v1/services?limit=0', 'query.limit'],
      ['/api/v1/services?limit=many', 'query.limit'],
      ['/api/v1/services?limit=100000', 'query.limit'],
      ['/api/v1/services?limit=2&continue=bm90LWEtdG9rZW4', 'query.continue'],
      ['/api/v1/services?continue=WyJwMSIsInMxIl0', 'query.limit'],
    ] as const) {
      const res = await c.api.raw('GET', path);
      const body = (await res.json()) as { code: string; details: { path: string }[] };
      assert.equal(res.status, 422, path);
      assert.deepEqual(body.details.map((d) => d.path), [param], path);
    }
  });

  test("a watch from past the store's revision is a 422 naming since, for one kind and for several", async () => {
    const { revision } = await c.api.list('Project');
    for (const path of [`/api/v1/projects?watch=true&since=${revision + 1000}`, `/api/v1/watch?kinds=Project,Service&since=${revision + 1000}`]) {
      const res = await c.api.raw('GET', path);
      const body = (await res.json()) as { details: { path: string; message: string }[] };
      assert.equal(res.status, 422, path);
      assert.deepEqual(body.details.map((d) => d.path), ['query.since'], path);
      assert.match(body.details[0]!.message, new RegExp(`at most ${revision}`));
    }
  });
});
