import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { removeDir, startCenterProcess, type CenterHandle } from '../../testkit/index.ts';

/**
 * Hostile request bodies from an authenticated user: each gets a 4xx with
 * {code, message, details}, changes nothing, and never holds up the center:
 * its health check and other callers are answered while the body is parsed.
 */
describe('hostile bodies cannot stall the center', () => {
  let c: CenterHandle;
  let user: string;
  let revision: number;
  const post = async (path: string, body: string | ReadableStream<Uint8Array>, token = user) => {
    const res = await c.fetch(c.url + path, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/yaml' }, body, ...(typeof body === 'string' ? {} : { duplex: 'half' }) } as RequestInit);
    return { status: res.status, body: (await res.json()) as { code: string; message: string; details: { path: string; message: string }[] } };
  };

  before(async () => {
    c = await startCenterProcess();
    user = (await c.api.createToken({ kind: 'user', projects: ['default'] })).token;
    revision = (await c.api.list('Project')).revision;
  });
  after(async () => {
    await c.process.stop();
    removeDir(c.dataDir);
  });

  const unchanged = async () => assert.equal((await c.api.list('Project')).revision, revision, 'nothing was written');

  test('1 MiB of bare document markers is refused at once with 400', async () => {
    const r = await post('/api/v1/apply', '---\n'.repeat(256 * 1024 - 1));
    assert.equal(r.status, 400);
    assert.equal(r.body.code, 'BadRequest');
    assert.match(r.body.details[0]!.message, /at most 1000 documents/);
    await unchanged();
  });

  test('an alias bomb is a 400, not a 500', async () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`);
    const r = await post('/api/v1/apply', `apiVersion: gedge.io/v1\nkind: Project\nmetadata: { name: bomb }\nspec:\n  ${levels.join('\n  ')}\n`);
    assert.equal(r.status, 400);
    assert.match(r.body.details[0]!.message, /alias/i);
    const t = await post('/api/v1/tokens', 'kind: &k user\nprojects: [*k, *k]\n', c.adminToken);
    assert.equal(t.status, 422, 'aliases within bounds are parsed; the schema then speaks');
    await unchanged();
  });

  test('a webhook or a route sink aimed at a metadata (link-local) address is refused at apply, naming the field', async () => {
    const r = await post('/api/v1/apply', JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Rule', metadata: { name: 'steal' }, spec: { sql: 'SELECT * FROM "x/#"', actions: [{ log: {} }, { webhook: { url: 'http://169.254.169.254/latest/meta-data/' } }] } }));
    assert.equal(r.status, 422);
    assert.deepEqual(r.body.details.map((d) => d.path), ['spec.actions[1].webhook.url']);
    assert.match(r.body.details[0]!.message, /link-local/);
    const s = await post('/api/v1/apply', JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Route', metadata: { name: 'steal' }, spec: { topic: 'x/#', sink: { type: 'mqtt', url: 'mqtt://[fe80::1]:1883', topic: '{topic}' } } }));
    assert.equal(s.status, 422);
    assert.deepEqual(s.body.details.map((d) => d.path), ['spec.sink.url']);
    await unchanged();
  });

  test('while a deeply nested 1 MiB body is parsed, /healthz and other requests are answered first', async () => {
    const deep = Buffer.from('['.repeat(512 * 1024 - 1) + ']'.repeat(512 * 1024 - 1));
    // The body in 64 KiB chunks, pulled as the socket takes them: the last pull means all of it has been handed to the connection.
    let uploaded!: () => void;
    const allSent = new Promise<void>((resolve) => (uploaded = resolve));
    let offset = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(ctrl) {
        if (offset >= deep.length) {
          ctrl.close();
          uploaded();
          return;
        }
        ctrl.enqueue(deep.subarray(offset, (offset += 64 * 1024)));
      },
    });
    const order: string[] = [];
    const apply = post('/api/v1/apply', body).then((r) => {
      order.push('apply');
      return r;
    });
    // The other callers start once the whole body is on its way to the center.
    await allSent;
    const others = Promise.all([
      c.fetch(`${c.url}/healthz`, { headers: { authorization: `Bearer ${c.adminToken}` } }).then((r) => order.push(`healthz ${r.status}`)),
      c.api.list('Project').then(() => order.push('list')),
    ]);
    const r = await apply;
    await others;
    assert.equal(r.status, 400, JSON.stringify(r.body).slice(0, 300));
    assert.deepEqual(order.slice(0, 2).sort(), ['healthz 200', 'list'], `answered in the order ${order.join(', ')}`);
    await unchanged();
  });
});
