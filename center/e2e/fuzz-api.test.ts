import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { removeDir, startCenterProcess, type CenterHandle } from '../../testkit/index.ts';

/**
 * fast-check against the center's bodies (issue 17): whatever arrives at the
 * routes that parse a body, the answer is a 2xx or a 4xx with
 * `{code, message, details}`, never a 5xx, and the center keeps serving.
 * Bodies are arbitrary JSON, JSON near the expected shapes, and raw text
 * (YAML documents, aliases, control characters).
 */
let c: CenterHandle;
before(async () => {
  c = await startCenterProcess();
  await c.api.apply('apiVersion: gedge.io/v1\nkind: Site\nmetadata: { name: edge-a }\nspec: { tier: edge }\n---\napiVersion: gedge.io/v1\nkind: Device\nmetadata: { name: d1 }\nspec: { site: edge-a }\n');
});
after(async () => {
  await c?.process.stop();
  if (c) removeDir(c.dataDir);
});

const ROUTES = ['/api/v1/apply', '/api/v1/tokens', '/api/v1/session', '/api/v1/services', '/api/v1/devices/d1/credentials?project=default', '/api/v1/devices/d1/certificates?project=default', '/api/v1/services/none/rollout/undo'];

const near = fc.record(
  {
    apiVersion: fc.constantFrom('gedge.io/v1', 'v1', ''),
    kind: fc.constantFrom('Service', 'Route', 'Rule', 'Device', 'Project', 'Node', 'Nope'),
    metadata: fc.record({ name: fc.oneof(fc.string({ maxLength: 70 }), fc.constant('ok')), project: fc.option(fc.string({ maxLength: 10 }), { nil: undefined }) }, { requiredKeys: [] }),
    spec: fc.anything({ maxDepth: 3 }),
    kind2: fc.constantFrom('join', 'admin', 'user', 'metrics', 'node'),
    csr: fc.string({ maxLength: 200 }),
    token: fc.string({ maxLength: 80 }),
    ttl: fc.oneof(fc.integer(), fc.double(), fc.string()),
  },
  { requiredKeys: [] },
);
const body = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  near.map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 300, unit: 'binary' }),
  fc.array(fc.constantFrom('---\n', 'a: &x [1]\n', 'b: *x\n', '- ', '{', '}', '"', ':', '\t', '\u0000', 'kind: Service\n', '  x: 1\n'), { maxLength: 60 }).map((parts) => parts.join('')),
);

test('any body at any parsing route: a 2xx or a 4xx {code, message, details}, never a 5xx; the center keeps serving', async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...ROUTES), body, fc.constantFrom('application/json', 'application/yaml', 'text/plain'), async (route, text, type) => {
      const res = await c.fetch(new URL(route, c.url), { method: 'POST', headers: { authorization: `Bearer ${c.adminToken}`, 'content-type': type }, body: text });
      const answer = (await res.json().catch(() => undefined)) as { code?: unknown; message?: unknown; details?: unknown } | undefined;
      assert.ok(res.status < 500, `${route} answered ${res.status} to ${JSON.stringify(text).slice(0, 300)}: ${JSON.stringify(answer)}`);
      if (res.status >= 400) {
        assert.equal(typeof answer?.code, 'string');
        assert.equal(typeof answer?.message, 'string');
        assert.ok(Array.isArray(answer?.details));
      }
    }),
    { numRuns: 300 },
  );
  assert.equal((await c.fetch(new URL('/livez', c.url))).status, 200);
  assert.equal((await c.api.list('Site')).items.length, 1);
});
