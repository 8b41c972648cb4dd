import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ApiClient, tlsFetch, type Resource } from '../../core/index.ts';
import { joinAsNode } from '../../testkit/join-node.ts';
import { tinyClassifier } from '../../testkit/onnx-models.ts';
import { startCenter } from '../center.ts';

const digestOf = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** An instance of a model on `node`, as the placement controller would have written it. */
const modelInstance = (project: string, node: string, digest: string, size: number): Resource =>
  ({
    apiVersion: 'gedge.io/v1',
    kind: 'Instance',
    metadata: { name: 'classify-1', project },
    spec: {
      node,
      template: { runtime: 'model', model: 'tiny-v1', artifact: { digest, size, model: 'tiny', version: 1 }, command: [], env: {}, ports: [], volumes: [], resources: { cpu: 0, memoryMiB: 0, diskMiB: 0, accelerators: {} }, restartPolicy: 'Always', stopGracePeriod: '1s' },
      placement: {},
      templateHash: '',
    },
  }) as unknown as Resource;

/**
 * The artifact routes take the project as `?project=` like every other
 * project-scoped route; HEAD answers from the file's facts; the node route
 * of the previous release's agents (project in the path) still serves, saying it is deprecated.
 */
test('artifacts by ?project=: HEAD, the node route, and the deprecated node route of older agents', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gedge-artifact-routes-'));
  const center = await startCenter({ dataDir: dir, port: 0 }, pino({ level: 'silent' }));
  try {
    const api = new ApiClient(center.url, center.adminToken!, center.caCertificate);
    await api.apply('apiVersion: gedge.io/v1\nkind: Project\nmetadata: { name: vision }\n---\napiVersion: gedge.io/v1\nkind: Site\nmetadata: { name: edge-a }\nspec: { tier: edge }\n');
    const file = tinyClassifier({ seed: 7 });
    const digest = digestOf(file);
    assert.equal((await api.uploadArtifact('vision', digest, file, file.length)).size, file.length);

    // HEAD: there or not, per project, with the size and digest the GET would send.
    const head = await api.raw('HEAD', `/api/v1/artifacts/${digest}?project=vision`);
    assert.equal(head.status, 200);
    assert.deepEqual([head.headers.get('content-length'), head.headers.get('etag'), head.headers.get('accept-ranges')], [String(file.length), `"${digest}"`, 'bytes']);
    assert.equal(await api.hasArtifact('vision', digest), true);
    assert.equal(await api.hasArtifact('default', digest), false, 'the same digest in another project is another file');
    assert.equal((await api.raw('HEAD', `/api/v1/artifacts/${digest}`)).status, 404, 'unset, the project is the default one');
    const bad = await api.raw('GET', `/api/v1/artifacts/sha256:abc?project=vision`);
    assert.equal(bad.status, 422);
    assert.deepEqual(Object.keys((await bad.json()) as object).sort(), ['code', 'details', 'message']);

    const node = await joinAsNode({ url: center.url, ca: center.caCertificate, adminToken: center.adminToken! }, 'n1', 'edge-a');
    const asNode = (path: string, headers: Record<string, string> = {}) => tlsFetch(node.tls)(new URL(path, center.url), { headers: { authorization: `Bearer ${node.credential}`, ...headers } });
    const now = `/api/v1/node/artifacts/${digest}?project=vision`;
    const legacy = `/api/v1/node/artifacts/vision/${digest}`;
    for (const path of [now, legacy]) {
      const refused = await asNode(path);
      assert.equal(refused.status, 403, `${path}: nothing of vision runs on n1 yet`);
      assert.match(((await refused.json()) as { message: string }).message, /node "n1" runs no instance of project "vision"/);
    }

    await center.store.apply([modelInstance('vision', 'n1', digest, file.length)]);
    const fetched = await asNode(now);
    assert.equal(fetched.status, 200);
    assert.equal(fetched.headers.get('warning'), null);
    assert.equal(digestOf(Buffer.from(await fetched.arrayBuffer())), digest);
    const resumed = await asNode(now, { range: 'bytes=10-' });
    assert.equal(resumed.status, 206);
    assert.deepEqual(Buffer.from(await resumed.arrayBuffer()), file.subarray(10));

    // What an agent of the previous release asks for: the same file, and a warning an operator can see in a proxy's log.
    const old = await asNode(legacy, { range: 'bytes=10-' });
    assert.equal(old.status, 206);
    assert.deepEqual(Buffer.from(await old.arrayBuffer()), file.subarray(10));
    assert.match(old.headers.get('warning') ?? '', /^299 - ".*is deprecated: use \/api\/v1\/node\/artifacts\/\{digest\}\?project="$/);
    assert.equal((await asNode(`/api/v1/node/artifacts/${digest}`)).status, 403, 'unset, the project is the default one, where n1 runs nothing');
    assert.equal((await api.raw('GET', legacy)).status, 403, "a user's token cannot use the nodes' route, old or new");
  } finally {
    await center.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
