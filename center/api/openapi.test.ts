import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { waitFor, ApiClient, KINDS, type Fetch } from '../../core/index.ts';
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

test('the document describes every route the center serves and no other; ApiClient asks only for what it describes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gedge-openapi-'));
  const center = await startCenter({ dataDir: dir, port: 0 }, pino({ level: 'silent' }));
  try {
    // Served -> described. A route per kind (/api/v1/:plural) stands for each kind's paths.
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
    // Described -> served.
    for (const [path, item] of Object.entries(doc.paths)) for (const method of Object.keys(item)) assert.ok(served.has(`${method} ${path}`), `${method} ${path} is described but not served`);

    // The hand-written client: every request it makes (method, path, query parameters) is one the document describes.
    const api = new ApiClient(center.url, center.adminToken!, center.caCertificate);
    const sent: { method: string; url: URL }[] = [];
    const client = (api as unknown as { transport: { fetch: Fetch } }).transport;
    const real = client.fetch;
    client.fetch = (input, init) => {
      sent.push({ method: (init?.method ?? 'GET').toLowerCase(), url: new URL(input instanceof Request ? input.url : String(input)) });
      return real(input, init);
    };
    const settle = (p: Promise<unknown>) => p.catch(() => undefined);
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
    const stop = new AbortController();
    const watching = settle((async () => { for await (const _ of api.watch('Service', { project: 'default', selector: 'a=b', since: 0, signal: stop.signal })) break; })());
    // Nothing matches a=b: the request is what is checked, not an event (the first bookmark would be a minute away).
    await waitFor(() => sent.some((r) => r.url.searchParams.get('watch') === 'true'), 10_000, 'the watch request sent');
    stop.abort();
    await watching;
    await settle((async () => { for await (const _ of api.logs('i', { project: 'default', tailBytes: 10, since: '1m', follow: true })) break; })());
    assert.ok(sent.length >= 16, `${sent.length} requests recorded`);
    for (const { method, url } of sent) {
      const template = templateOf(url.pathname);
      assert.ok(template, `ApiClient asked for ${url.pathname}, which the document does not describe`);
      const op = doc.paths[template]![method];
      assert.ok(op, `ApiClient sent ${method.toUpperCase()} ${template}, not in the document`);
      const known = new Set((op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name));
      for (const name of url.searchParams.keys()) assert.ok(known.has(name), `${op.operationId}: query parameter "${name}" is not in the document`);
    }
  } finally {
    await center.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
