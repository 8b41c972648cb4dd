import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../store/sqlite-store.ts';
import { issueToken } from '../auth/tokens.ts';
import { newKeyAndCsr } from '../../core/pki.ts';
import { REPO_ROOT, removeDir, startCenterProcess, type CenterHandle } from '../../testkit/index.ts';

interface ErrorBody {
  code: string;
  message: string;
  details: { path: string; message: string; line?: number }[];
}

describe('bad input gets a clear 4xx {code, message, details}, writes nothing, and the center keeps serving', () => {
  let c: CenterHandle;
  let revision = 0;
  const call = async (method: string, path: string, body?: string, token: string | null = c.adminToken) => {
    const res = await c.fetch(c.url + path, { method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/yaml' } : {}) }, body });
    return { status: res.status, body: (await res.json()) as ErrorBody };
  };

  before(async () => {
    c = await startCenterProcess();
    await c.api.apply('apiVersion: gedge.io/v1\nkind: Site\nmetadata: { name: edge-a }\nspec: { tier: edge }\n');
    revision = (await c.api.list('Project')).revision;
  });
  after(async () => {
    await c.process.stop();
    removeDir(c.dataDir);
  });

  // Every case ends by checking that the store did not move and the center still answers.
  const unchanged = async () => {
    assert.equal((await c.api.list('Project')).revision, revision, 'nothing was written');
    assert.equal((await call('GET', '/healthz')).status, 200);
  };

  test('malformed YAML names the line', async () => {
    const r = await call('POST', '/api/v1/apply', 'kind: Service\nmetadata:\n  name: [unclosed\n');
    assert.equal(r.status, 400);
    assert.equal(r.body.code, 'BadRequest');
    assert.ok(r.body.details[0]!.line! >= 3);
    await unchanged();
  });

  test('malformed JSON', async () => {
    const r = await call('POST', '/api/v1/services', '{"kind": "Service", "metadata": {');
    assert.equal(r.status, 400);
    assert.ok(r.body.details.length >= 1);
    await unchanged();
  });

  test('unknown kind and unknown resource path', async () => {
    const r = await call('POST', '/api/v1/apply', 'apiVersion: gedge.io/v1\nkind: Widget\nmetadata: { name: w }\nspec: {}\n');
    assert.equal(r.status, 422);
    assert.deepEqual(r.body.details.map((d) => [d.path, d.line]), [['kind', 2]]);
    const p = await call('GET', '/api/v1/widgets');
    assert.equal(p.status, 404);
    assert.equal(p.body.code, 'NotFound');
    await unchanged();
  });

  test('a method a path does not take is a 405 naming the ones it does (Allow), an unknown path a 404; neither writes', async () => {
    for (const [method, path, allow] of [
      ['DELETE', '/api/v1/apply', 'POST'],
      ['PATCH', '/api/v1/projects/default', 'DELETE, GET, HEAD, PUT'],
      ['PUT', '/api/v1/projects', 'GET, HEAD, POST'],
    ] as const) {
      const res = await c.fetch(c.url + path, { method, headers: { authorization: `Bearer ${c.adminToken}` } });
      const body = (await res.json()) as ErrorBody;
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(res.headers.get('allow'), allow, `${method} ${path}`);
      assert.equal(body.code, 'MethodNotAllowed');
      assert.deepEqual(body.details.map((d) => d.path), ['method']);
    }
    const gone = await call('POST', '/api/v2/nothing/here');
    assert.equal(gone.status, 404);
    await unchanged();
  });

  test('every invalid field is reported with its path and line, across documents, and none is applied', async () => {
    const manifest = [
      'apiVersion: gedge.io/v1',
      'kind: Service',
      'metadata:',
      '  name: Bad_Name',
      'spec:',
      '  replicas: -2',
      '  template:',
      '    command: []',
      '    restartPolicy: Sometimes',
      '---',
      'apiVersion: gedge.io/v1',
      'kind: Project',
      'metadata: { name: fine-project }',
      'spec: {}',
    ].join('\n');
    const r = await call('POST', '/api/v1/apply', manifest);
    assert.equal(r.status, 422);
    assert.equal(r.body.code, 'Invalid');
    const got = new Map(r.body.details.map((d) => [d.path, d.line]));
    assert.equal(got.get('[0].metadata.name'), 4);
    assert.equal(got.get('[0].spec.replicas'), 6);
    assert.equal(got.get('[0].spec.template.command'), 8);
    assert.equal(got.get('[0].spec.template.restartPolicy'), 9);
    await assert.rejects(c.api.get('Project', 'fine-project'), /not found/);
    await unchanged();
  });

  test('a namespaced object in a missing project', async () => {
    const r = await call('POST', '/api/v1/apply', 'apiVersion: gedge.io/v1\nkind: Service\nmetadata: { name: s, project: nope }\nspec: { template: { command: [x] } }\n');
    assert.equal(r.status, 422);
    assert.equal(r.body.details[0]!.path, 'metadata.project');
    await unchanged();
  });

  test('a Route with a bad table-sink retention names every bad field', async () => {
    const route = (retention: string) => `apiVersion: gedge.io/v1\nkind: Route\nmetadata: { name: kept }\nspec:\n  topic: 'devices/#'\n  sink: { type: table, retention: ${retention} }\n`;
    const r = await call('POST', '/api/v1/apply', route('{ maxAge: -1, maxMessages: 2.5, forever: true }'));
    assert.equal(r.status, 422);
    assert.equal(r.body.code, 'Invalid');
    const paths = r.body.details.map((d) => d.path);
    assert.deepEqual(paths.sort(), ['spec.sink.retention.forever', 'spec.sink.retention.maxAge', 'spec.sink.retention.maxMessages']);
    for (const bad of ['{ maxMessages: 0 }', '{ maxAge: 0s }', '{ maxAge: 3651d }', '{ maxAge: 24 }', '{ maxAge: 24x }', '{ maxAgeHours: 24 }', '7']) {
      const one = await call('POST', '/api/v1/apply', route(bad));
      assert.equal(one.status, 422, bad);
      assert.match(one.body.details[0]!.path, /^spec\.sink\.retention/, bad);
    }
    await assert.rejects(c.api.get('Route', 'kept'), /not found/);
    await unchanged();
  });

  test('a body over 1 MiB', async () => {
    const r = await call('POST', '/api/v1/apply', 'a: ' + 'x'.repeat(1024 * 1024 + 10));
    assert.equal(r.status, 413);
    assert.equal(r.body.code, 'PayloadTooLarge');
    await unchanged();
  });

  test('a stale revision is a conflict', async () => {
    await c.api.apply('apiVersion: gedge.io/v1\nkind: Project\nmetadata: { name: p1 }\nspec: { description: one }\n');
    const p1 = await c.api.get('Project', 'p1');
    await c.api.apply('apiVersion: gedge.io/v1\nkind: Project\nmetadata: { name: p1 }\nspec: { description: two }\n');
    revision = (await c.api.list('Project')).revision;
    const r = await call('PUT', '/api/v1/projects/p1', JSON.stringify({ ...p1, spec: { description: 'three' } }));
    assert.equal(r.status, 409);
    assert.equal(r.body.code, 'Conflict');
    assert.equal(r.body.details[0]!.path, 'metadata.revision');
    await unchanged();
  });

  test('missing, malformed, wrong and expired tokens; a node token on the admin API', async () => {
    for (const [token, status] of [
      [null, 401],
      ['nonsense', 401],
      [`gdg_0123456789abcdef_${'A'.repeat(43)}`, 401],
    ] as const) {
      const r = await call('GET', '/api/v1/nodes', undefined, token);
      assert.equal(r.status, status);
      assert.equal(r.body.code, 'Unauthorized');
      assert.ok(r.body.details[0]!.path === 'authorization');
    }
    // Plant an already-expired token in the center's own store (SQLite allows a second writer).
    const store = await openSqliteStore(join(c.dataDir, 'center.db'));
    const expired = await issueToken(store, 'admin', { ttlMs: -1000 });
    const nodeToken = await issueToken(store, 'node', { subject: 'ghost' });
    await store.close();
    const e = await call('GET', '/api/v1/nodes', undefined, expired.token);
    assert.equal(e.status, 401);
    assert.match(e.body.message, /expired/);
    const n = await call('GET', '/api/v1/nodes', undefined, nodeToken.token);
    assert.equal(n.status, 403);
    assert.equal((await call('GET', '/metrics', undefined, null)).status, 401, 'metrics need a token too');
    await unchanged();
  });

  test('a join token works once; reuse is refused and creates nothing', async () => {
    const join = (await c.api.createToken({ site: 'edge-a' })).token;
    const { csrPem: csr } = await newKeyAndCsr('n1');
    const body = JSON.stringify({ name: 'n1', capacity: { cpu: 1, memoryMiB: 512 }, csr });
    const ok = await call('POST', '/api/v1/join', body, join);
    assert.equal(ok.status, 201);
    const nodes = (await c.api.list('Node')).items.length;
    revision = (await c.api.list('Project')).revision;
    const again = await call('POST', '/api/v1/join', JSON.stringify({ name: 'n2', capacity: { cpu: 1 }, csr }), join);
    assert.equal(again.status, 403);
    assert.match(again.body.message, /already used/);
    assert.equal((await c.api.list('Node')).items.length, nodes);
    const admin = await call('POST', '/api/v1/join', body, c.adminToken);
    assert.equal(admin.status, 403, 'only join tokens can join');
    await unchanged();
  });

  test('the CLI names the file, the field and the line, exits 1 and applies nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gedge-cli-'));
    try {
      const file = join(dir, 'bad.yaml');
      writeFileSync(file, 'apiVersion: gedge.io/v1\nkind: Service\nmetadata:\n  name: ok\nspec:\n  replicas: many\n  template: { command: [x] }\n');
      const r = spawnSync(process.execPath, ['bin/gedge.mjs', '--server', c.url, '--ca-file', c.caFile, '--token', c.adminToken, 'apply', '-f', file], { cwd: REPO_ROOT, encoding: 'utf8' });
      assert.equal(r.status, 1);
      assert.match(r.stderr, new RegExp(`error: ${file.replace(/[/.]/g, '\\$&')}`));
      assert.match(r.stderr, /spec\.replicas \(line 6\)/);

      // A directory with one bad file applies nothing, not even the good files before it.
      writeFileSync(join(dir, 'a-good.yaml'), 'apiVersion: gedge.io/v1\nkind: Project\nmetadata: { name: from-dir }\nspec: {}\n');
      const d = spawnSync(process.execPath, ['bin/gedge.mjs', '--server', c.url, '--ca-file', c.caFile, '--token', c.adminToken, 'apply', '-f', dir], { cwd: REPO_ROOT, encoding: 'utf8' });
      assert.equal(d.status, 1);
      assert.match(d.stderr, /bad\.yaml/);
      await unchanged();

      // A problem only the center sees (a rule's SQL), in the second of two files: the file, field and line, and nothing applied.
      removeDir(join(dir, 'bad.yaml'));
      writeFileSync(join(dir, 'b-rule.yaml'), 'apiVersion: gedge.io/v1\nkind: Rule\nmetadata: { name: broken }\nspec:\n  actions: [{ log: {} }]\n  sql: SELECT avg(x) FROM "t/#" WHERE avg(x) > 1\n');
      const sql = spawnSync(process.execPath, ['bin/gedge.mjs', '--server', c.url, '--ca-file', c.caFile, '--token', c.adminToken, 'apply', '-f', dir], { cwd: REPO_ROOT, encoding: 'utf8' });
      assert.equal(sql.status, 1);
      assert.match(sql.stderr, /b-rule\.yaml: spec\.sql \(line 6\): .*aggregate avg\(\) is not allowed in WHERE/, sql.stderr);
      await unchanged();
    } finally {
      removeDir(dir);
    }
  });

  test('gedge apply -f DIR puts Projects and Sites before what names them, whatever the file order, in one apply', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gedge-cli-order-'));
    try {
      // Alphabetically the service comes first; it names a project and a site only the later file creates.
      writeFileSync(join(dir, 'a-service.yaml'), 'apiVersion: gedge.io/v1\nkind: Service\nmetadata: { name: web, project: ordered }\nspec:\n  template: { command: [x] }\n  placement: { sites: [ordered-site] }\n');
      writeFileSync(join(dir, 'b-places.yaml'), 'apiVersion: gedge.io/v1\nkind: Site\nmetadata: { name: ordered-site }\nspec: { tier: edge }\n---\napiVersion: gedge.io/v1\nkind: Project\nmetadata: { name: ordered }\nspec: {}\n');
      const r = spawnSync(process.execPath, ['bin/gedge.mjs', '--server', c.url, '--ca-file', c.caFile, '--token', c.adminToken, 'apply', '-f', dir], { cwd: REPO_ROOT, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n'), ['project/ordered created', 'site/ordered-site created', 'service/web created']);
      const examples = spawnSync(process.execPath, ['bin/gedge.mjs', '--server', c.url, '--ca-file', c.caFile, '--token', c.adminToken, 'apply', '-f', 'examples/smart-city'], { cwd: REPO_ROOT, encoding: 'utf8' });
      assert.equal(examples.status, 0, examples.stderr);
    } finally {
      removeDir(dir);
      revision = (await c.api.list('Project')).revision;
    }
  });
});
