import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { ApiClient, KINDS } from '../../core/index.ts';
import { startCenter } from '../center.ts';
import { openApiDocument } from './openapi.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
type Operation = { operationId?: string; parameters?: { name: string; in: string }[]; responses: Record<string, unknown> };
type PathItem = Record<string, Operation>;
const doc = openApiDocument('0.0.0-test') as { paths: Record<string, PathItem> };
/** The static files of the dashboard: not API. */
const NOT_API = new Set(['/', '/assets/*']);

/** The document's path template that `pathname` falls under (`{x}` is one segment). */
function templateOf(pathname: string): string | undefined {
  return Object.keys(doc.paths).find((t) => new RegExp(`^${t.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(pathname));
}

test('the OpenAPI document passes redocly lint, strict', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gedge-openapi-'));
  try {
    const file = join(dir, 'openapi.json');
    writeFileSync(file, JSON.stringify(doc, null, 2));
    const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'redocly'), ['lint', file, '--config', join(ROOT, 'redocly.yaml'), '--format', 'stylish', '--max-problems', '1000'], {
      encoding: 'utf8',
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every operation has an id of its own and, but for the exec upgrade, a 2xx answer', () => {
  const ids = new Set<string>();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      assert.ok(op.operationId, `${method} ${path}: no operationId`);
      assert.ok(!ids.has(op.operationId), `${op.operationId} twice`);
      ids.add(op.operationId);
      if (op.operationId !== 'execInstance') assert.ok(Object.keys(op.responses).some((s) => s.startsWith('2')), `${op.operationId}: no 2xx`);
    }
  }
});

test('the document describes every route the center serves and no other', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gedge-openapi-'));
  const center = await startCenter({ dataDir: dir, port: 0 }, pino({ level: 'silent' }));
  try {
    // Served -> described. A route per kind (/api/v1/:plural) stands for each kind's paths.
    // Fastify's HEAD of every GET is left out (center/api/server.ts); a HEAD a route registers itself is in.
    const served = new Set<string>();
    for (const { method, url } of center.routes()) {
      if (NOT_API.has(url)) continue;
      const plurals = url.includes(':plural') ? Object.values(KINDS).map((k) => k.plural) : [''];
      for (const plural of plurals) {
        const template = url.replace(':plural', plural).replace(/:([A-Za-z]+)/g, '{$1}');
        served.add(`${method.toLowerCase()} ${template}`);
        assert.ok(doc.paths[template]?.[method.toLowerCase()], `${method} ${template} is served but not in the OpenAPI document`);
      }
    }
    assert.ok(served.has('head /api/v1/artifacts/{digest}'), 'the artifacts\' own HEAD is listed');
    // Described -> served.
    for (const [path, item] of Object.entries(doc.paths)) for (const method of Object.keys(item)) assert.ok(served.has(`${method} ${path}`), `${method} ${path} is described but not served`);
  } finally {
    await center.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every ApiClient method asks only for what the document describes, HEAD and the exec upgrade included', async () => {
  // A recorder in the center's place: what the client puts on the wire (method, path, query), whatever the transport.
  const sent: { method: string; url: URL }[] = [];
  const refusal = JSON.stringify({ code: 'NotFound', message: 'recorded', details: [] });
  const record = (req: IncomingMessage) => sent.push({ method: (req.method ?? 'GET').toLowerCase(), url: new URL(req.url ?? '/', 'http://x') });
  const recorder = createServer((req, res) => {
    record(req);
    req.resume().once('end', () => res.writeHead(404, { 'content-type': 'application/json' }).end(refusal));
  });
  recorder.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    record(req);
    socket.end(`HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(refusal)}\r\nconnection: close\r\n\r\n${refusal}`);
  });
  await new Promise<void>((resolve) => recorder.listen(0, '127.0.0.1', resolve));
  try {
    const client = new ApiClient(`http://127.0.0.1:${(recorder.address() as AddressInfo).port}`, 'gdg_test_token');
    // Which of its methods this test calls: each must be, so a new one cannot go unchecked.
    const called = new Set<string>();
    const api = new Proxy(client, {
      get(target, key) {
        const value: unknown = Reflect.get(target, key, target);
        if (typeof value !== 'function' || typeof key !== 'string') return value;
        return (...args: unknown[]) => (called.add(key), (value as (...a: unknown[]) => unknown).apply(target, args));
      },
    });
    const settle = (p: Promise<unknown>) => p.catch(() => undefined);
    const drain = async (g: AsyncGenerator<unknown>) => settle((async () => { for await (const _ of g) break; })());
    const digest = `sha256:${'0'.repeat(64)}`;
    const svc = 'apiVersion: gedge.io/v1\nkind: Service\nmetadata: { name: s }\nspec: { replicas: 0, template: { runtime: process, command: [sleep, "60"] } }\n';
    await settle(api.apply(svc));
    await settle(api.list('Service', { project: 'default', selector: 'a=b', limit: 5, continue: 'x' }));
    await settle(api.get('Service', 's', 'default'));
    await settle(api.create({ apiVersion: 'gedge.io/v1', kind: 'Site', metadata: { name: 'edge-x' }, spec: { tier: 'edge' } } as never));
    await settle(api.delete('Site', 'edge-x'));
    await settle(api.createToken({ kind: 'user', projects: ['default'] }));
    await settle(api.listTokens());
    await settle(api.issueDeviceCredential('default', 'd'));
    await settle(api.issueDeviceCertificate('default', 'd', { csr: 'not a csr' }));
    await settle(api.messages('default', 'r', { after: 1, limit: 2, device: 'd' }));
    for (const action of ['undo', 'pause', 'resume'] as const) await settle(api.rollout(action, 's', { project: 'default', toRevision: 1 }));
    await settle(api.centerCa());
    await drain(api.watch('Service', { project: 'default', selector: 'a=b', since: 0 }));
    await drain(api.logs('i', { project: 'default', tailBytes: 10, since: '1m', follow: true }));
    await settle(api.hasArtifact('default', digest));
    await settle(api.uploadArtifact('default', digest, new Uint8Array([1, 2, 3]), 3));
    await settle(api.downloadArtifact('default', digest, { start: 1 }));
    await settle(api.deleteArtifact('default', digest));
    await settle(api.exec('i', { project: 'default', command: ['sh', '-c', 'true'], tty: true, cols: 80, rows: 24 }));

    const methods = Object.getOwnPropertyNames(ApiClient.prototype).filter((m) => m !== 'constructor' && typeof Object.getOwnPropertyDescriptor(ApiClient.prototype, m)?.value === 'function');
    assert.deepEqual(methods.filter((m) => !called.has(m)), [], 'ApiClient methods this check does not call');
    const asked = new Set(sent.map((r) => `${r.method} ${r.url.pathname}`));
    assert.ok(asked.has(`head /api/v1/artifacts/${encodeURIComponent(digest)}`), [...asked].join('\n'));
    assert.ok(asked.has('get /api/v1/instances/i/exec'), [...asked].join('\n'));
    for (const { method, url } of sent) {
      const template = templateOf(url.pathname);
      assert.ok(template, `ApiClient asked for ${url.pathname}, which the document does not describe`);
      const op = doc.paths[template]![method];
      assert.ok(op, `ApiClient sent ${method.toUpperCase()} ${template}, not in the document`);
      const known = new Set((op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name));
      for (const name of url.searchParams.keys()) assert.ok(known.has(name), `${op.operationId}: query parameter "${name}" is not in the document`);
    }
  } finally {
    recorder.closeAllConnections();
    await new Promise((resolve) => recorder.close(resolve));
  }
});
