import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import net from 'node:net';
import pino from 'pino';
import { ApiClient, REDACTED, UPLINK_PATH, tlsFetch, waitFor, type Fetch, type Route, type UplinkBatch } from '../../core/index.ts';
import { joinAsNode } from '../../testkit/join-node.ts';
import { startCenter, type RunningCenter } from '../center.ts';
import type { CenterConfig } from '../config.ts';

// A real center in this process (store, API, uplink routes) over HTTP on 127.0.0.1.
interface Ctx {
  center: RunningCenter;
  api: ApiClient;
  credential: string;
  /** n1's TLS material: its uplink posts present its certificate. */
  fetch: Fetch;
}

async function withCenter(title: string, fn: (c: Ctx) => Promise<void>, cfg: Partial<CenterConfig> = {}): Promise<void> {
  await test(title, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gedge-uplink-center-'));
    const center = await startCenter({ dataDir: dir, port: 0, ...cfg }, pino({ level: 'silent' }));
    try {
      const api = new ApiClient(center.url, center.adminToken!, center.caCertificate);
      await api.apply('apiVersion: gedge.io/v1\nkind: Site\nmetadata: { name: edge-a }\nspec: { tier: edge }\n---\napiVersion: gedge.io/v1\nkind: Site\nmetadata: { name: edge-b }\nspec: { tier: edge }\n');
      // The batches' publishers: a node speaks only for its site's devices.
      await api.apply(['d0', 'd1'].map((d) => `apiVersion: gedge.io/v1\nkind: Device\nmetadata: { name: ${d} }\nspec: { site: edge-a }\n`).join('---\n'));
      const n1 = await joinAsNode({ url: center.url, ca: center.caCertificate, adminToken: center.adminToken! }, 'n1', 'edge-a');
      await fn({ center, api, credential: n1.credential, fetch: tlsFetch(n1.tls) });
    } finally {
      await center.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

const route = (name: string, sink: Record<string, unknown> = { type: 'table' }, extra = '') => `apiVersion: gedge.io/v1\nkind: Route\nmetadata: { name: ${name} }\nspec: { topic: 'devices/#', sink: ${JSON.stringify(sink)}${extra} }\n`;
const batch = (seqs: number[], o: Partial<UplinkBatch> = {}): UplinkBatch => ({
  node: 'n1',
  project: 'default',
  route: 'r',
  messages: seqs.map((seq) => ({ seq, topic: `devices/d${seq % 2}/temp`, device: `d${seq % 2}`, payload: Buffer.from(`{"t":${seq}}`).toString('base64'), qos: 1, at: new Date().toISOString() })),
  ...o,
});

async function post(c: Ctx, body: unknown, o: { token?: string | null; gzip?: boolean; raw?: Buffer } = {}): Promise<{ status: number; body: { ackedSeq?: number; code?: string; message?: string; details?: { path: string }[] } }> {
  const json = Buffer.from(JSON.stringify(body ?? null));
  const token = o.token === undefined ? c.credential : o.token;
  const res = await c.fetch(`${c.center.url}${UPLINK_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(o.gzip === false ? {} : { 'content-encoding': 'gzip' }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: new Uint8Array(o.raw ?? (o.gzip === false ? json : gzipSync(json))),
  });
  return { status: res.status, body: (await res.json()) as never };
}

async function messages(c: Ctx, query: string, name = 'r'): Promise<{ items: { id: number; seq: number; device?: string; payload: string; encoding: string }[]; next: number }> {
  const res = await c.api.raw('GET', `/api/v1/routes/${name}/messages${query}&project=default`);
  assert.equal(res.status, 200);
  return (await res.json()) as never;
}

await withCenter('table sink over HTTP: lands once, skips a resent batch, pages newest-last, counts in the route status', async (c) => {
  await c.api.apply(route('r'));
  assert.deepEqual(await post(c, batch([1, 2, 3])), { status: 200, body: { ackedSeq: 3 } });
  assert.deepEqual(await post(c, batch([1, 2, 3])), { status: 200, body: { ackedSeq: 3 } }, 'a resend (lost answer) is skipped');
  assert.deepEqual(await post(c, batch([3, 4, 5, 6]), { gzip: false }), { status: 200, body: { ackedSeq: 6 } }, 'identity encoding works too');

  const newest = await messages(c, '?limit=4');
  assert.deepEqual(newest.items.map((m) => m.seq), [3, 4, 5, 6], 'without after: the newest, newest last');
  assert.equal(newest.items[0]!.payload, '{"t":3}');
  assert.equal(newest.items[0]!.encoding, 'utf8');
  const first = await messages(c, '?after=0&limit=4');
  assert.deepEqual(first.items.map((m) => m.seq), [1, 2, 3, 4]);
  const rest = await messages(c, `?after=${first.next}&limit=4`);
  assert.deepEqual(rest.items.map((m) => m.seq), [5, 6]);
  assert.deepEqual((await messages(c, `?after=${rest.next}`)).items, []);
  assert.deepEqual((await messages(c, '?after=0&device=d1')).items.map((m) => m.seq), [1, 3, 5]);

  const status = await waitFor(async () => (await c.api.get<Route>('Route', 'r')).status?.delivered === 6 && (await c.api.get<Route>('Route', 'r')).status, 10_000, 'route status delivered=6');
  assert.ok(status.lastDeliveredAt);
  assert.equal(status.error, undefined);
});

await withCenter('refusals: credentials, node, route gone, site, bad bodies', async (c) => {
  await c.api.apply(route('r') + '---\n' + route('only-b', { type: 'table' }, ', sites: [edge-b]'));
  assert.equal((await post(c, batch([1]), { token: null })).status, 401);
  assert.equal((await post(c, batch([1]), { token: c.center.adminToken! })).status, 403, 'an admin token is not a node credential');
  const other = await post(c, batch([1], { node: 'n2' }));
  assert.equal(other.status, 403);
  assert.equal(other.body.code, 'Forbidden');

  const gone = await post(c, batch([1], { route: 'nope' }));
  assert.deepEqual([gone.status, gone.body.code], [404, 'RouteGone']);
  const elsewhere = await post(c, batch([1], { route: 'only-b' }));
  assert.deepEqual([elsewhere.status, elsewhere.body.code], [404, 'RouteGone'], 'a route for other sites is gone for this node');

  const garbage = await post(c, undefined, { raw: Buffer.from('not gzip at all') });
  assert.equal(garbage.status, 400);
  assert.ok(garbage.body.code && garbage.body.message && Array.isArray(garbage.body.details));
  assert.equal((await post(c, undefined, { raw: gzipSync('{"node": ') })).status, 400);
  const invalid = await post(c, { ...batch([1]), messages: [{ seq: 0, topic: '', payload: 1, qos: 3, at: 'x' }], extra: true });
  assert.equal(invalid.status, 422);
  for (const p of ['messages[0].seq', 'messages[0].topic', 'messages[0].payload', 'messages[0].qos']) assert.ok(invalid.body.details!.some((d) => d.path === p), p);
  const unordered = await post(c, batch([2, 1]));
  assert.equal(unordered.status, 422);
  assert.equal(unordered.body.details![0]!.path, 'messages[1].seq');
  const notBase64 = await post(c, { ...batch([1]), messages: [{ ...batch([1]).messages[0]!, payload: '!!' }] });
  assert.deepEqual([notBase64.status, notBase64.body.details![0]!.path], [422, 'messages[0].payload']);
  assert.deepEqual((await messages(c, '?after=0')).items, [], 'nothing refused landed');
  assert.equal((await c.api.raw('GET', '/api/v1/routes/nope/messages')).status, 404, 'unset, the project is the default one');
});

await withCenter('a failing sink answers 503 SinkUnavailable, records the error in the route status, and the center keeps serving', async (c) => {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  await c.api.apply(route('r', { type: 'nats', url: `nats://127.0.0.1:${port}` }));
  const res = await post(c, batch([1, 2]));
  assert.deepEqual([res.status, res.body.code], [503, 'SinkUnavailable']);
  await waitFor(async () => (await c.api.get<Route>('Route', 'r')).status?.error?.includes('nats sink'), 20_000, 'the sink error in the route status');
  // Fixed: the same batch lands.
  await c.api.apply(route('r'));
  assert.deepEqual(await post(c, batch([1, 2])), { status: 200, body: { ackedSeq: 2 } });
  await waitFor(async () => {
    const st = (await c.api.get<Route>('Route', 'r')).status;
    return st?.delivered === 2 && st.error === undefined;
  }, 10_000, 'route status recovered');
});

await withCenter(
  'table sink retention in a running center: the periodic sweep keeps maxMessages and drops rows past maxAge; resends stay skipped',
  async (c) => {
    await c.api.apply(route('r', { type: 'table', retention: { maxMessages: 3 } }) + '---\n' + route('brief', { type: 'table', retention: { maxAge: '1s' } }));
    assert.deepEqual((await c.api.get<Route>('Route', 'r')).spec.sink, { type: 'table', retention: { maxAge: '7d', maxMessages: 3 } }, 'the default age is filled in');
    assert.deepEqual(await post(c, batch([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])), { status: 200, body: { ackedSeq: 10 } });
    assert.deepEqual(await post(c, batch([1, 2, 3], { route: 'brief' })), { status: 200, body: { ackedSeq: 3 } });

    await waitFor(async () => (await messages(c, '?after=0')).items.length === 3, 10_000, 'only the newest 3 rows');
    assert.deepEqual((await messages(c, '?after=0')).items.map((m) => m.seq), [8, 9, 10]);
    const page = await c.api.messages('default', 'r', { after: 0, limit: 2 });
    assert.deepEqual(page.items.map((m) => m.seq), [8, 9]);
    assert.deepEqual((await c.api.messages('default', 'r', { after: page.next })).items.map((m) => m.seq), [10], 'paging goes on from the cursor');

    // The progress is not the rows: a resend is skipped, the next message lands.
    assert.deepEqual(await post(c, batch([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])), { status: 200, body: { ackedSeq: 10 } });
    assert.deepEqual(await post(c, batch([11])), { status: 200, body: { ackedSeq: 11 } });
    await waitFor(async () => (await messages(c, '?after=0')).items.map((m) => m.seq).join() === '9,10,11', 10_000, 'rows 9, 10, 11');
    await waitFor(async () => (await c.api.get<Route>('Route', 'r')).status?.delivered === 11, 10_000, 'delivered counts every message, not the rows kept');

    await waitFor(async () => (await messages(c, '?after=0', 'brief')).items.length === 0, 10_000, 'rows past ~1 s gone');
    assert.deepEqual(await post(c, batch([1, 2, 3], { route: 'brief' })), { status: 200, body: { ackedSeq: 3 } });
    assert.deepEqual((await messages(c, '?after=0', 'brief')).items, [], 'deleted rows do not come back on a resend');
  },
  { tableSweepMs: 100 },
);

await withCenter('an mqtt sink password is never sent back (get, list, watch, apply\'s answer); applying the marker keeps it for the same broker and user only', async (c) => {
  const sink = { type: 'mqtt', url: 'mqtt://127.0.0.1:1', username: 'city/bridge', password: 's3cret' };
  await c.api.apply(route('r', sink));
  const stored = async () => ((await c.center.store.get('Route', 'default', 'r')) as Route).spec.sink;
  const password = (r: Route) => (r.spec.sink.type === 'mqtt' ? r.spec.sink.password : undefined);
  const shown = await c.api.get<Route>('Route', 'r');
  assert.equal(password(shown), REDACTED);
  const listed = (await c.api.list<Route>('Route')).items.map((r) => r.spec.sink);
  assert.deepEqual(listed, [{ ...sink, topic: '{topic}', qos: 1, password: REDACTED }]);
  const put = await c.api.raw('PUT', '/api/v1/routes/r', JSON.stringify({ ...shown, metadata: { name: 'r' } }));
  assert.equal(put.status, 200);
  assert.equal(password(((await put.json()) as { object: Route }).object), REDACTED);
  assert.deepEqual(await stored(), { ...sink, topic: '{topic}', qos: 1 }, 'PUT of the object as shown kept the password');
  const watch = await c.api.raw('GET', '/api/v1/routes?watch=true&since=0');
  const reader = watch.body!.getReader();
  let text = '';
  while (!text.includes('"kind":"Route"')) text += new TextDecoder().decode((await reader.read()).value);
  await reader.cancel();
  assert.ok(text.includes(`"password":"${REDACTED}"`) && !text.includes('s3cret'), 'the watch stream shows the marker');

  // The object as shown, applied back (gedge get -o yaml | gedge apply): the stored password stays.
  await c.api.apply(route('r', { ...sink, password: REDACTED, qos: 0 }));
  assert.deepEqual(await stored(), { ...sink, topic: '{topic}', qos: 0 });
  // The marker never carries a password to another broker or user, nor stands for one that is not there.
  for (const [name, other, problem] of [
    ['r', { ...sink, url: 'mqtt://127.0.0.1:2' }, 'same url and username'],
    ['r', { ...sink, username: 'someone' }, 'same url and username'],
    ['fresh', sink, 'has none'],
  ] as const) {
    const res = await c.api.raw('POST', '/api/v1/apply', route(name, { ...other, password: REDACTED }), 'application/yaml');
    const body = (await res.json()) as { code: string; message: string; details: { path: string; message: string }[] };
    assert.equal(res.status, 422, JSON.stringify(body));
    assert.equal(body.details[0]!.path, 'spec.sink.password');
    assert.match(body.details[0]!.message, new RegExp(problem));
  }
  assert.deepEqual(await stored(), { ...sink, topic: '{topic}', qos: 0 }, 'a refused apply changes nothing');
  assert.equal(await c.center.store.get('Route', 'default', 'fresh'), undefined);
  // Nor does deleting it answer with the password (the deleted object goes back through the same redaction).
  const deleted = await c.api.raw('DELETE', '/api/v1/routes/r');
  const body = await deleted.text();
  assert.equal(deleted.status, 200, body);
  assert.equal(password(JSON.parse(body) as Route), REDACTED);
  assert.ok(!body.includes('s3cret'));
});
