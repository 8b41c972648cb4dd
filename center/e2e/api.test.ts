import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { Instance, WatchEvent } from '../../core/index.ts';
import { REPO_ROOT, promtoolProblems, startPlatform, testService, waitFor } from '../../testkit/index.ts';

test('watch, logs from the edge, OpenAPI and metrics over the real API', async () => {
  const p = await startPlatform({ heartbeatMs: 300, agents: [{ name: 'edge-a-1', site: 'edge-a' }] });
  try {
    const api = p.center.api;

    // Watch from a listed revision sees every later change, in order, and nothing before it.
    const { revision } = await api.list('Project');
    const ac = new AbortController();
    const seen: WatchEvent[] = [];
    const watching = (async () => {
      for await (const ev of api.watch('Project', { since: revision, signal: ac.signal })) if (ev.type !== 'BOOKMARK') seen.push(ev);
    })();
    for (let i = 0; i < 5; i++) await api.apply(`apiVersion: gedge.io/v1\nkind: Project\nmetadata: { name: w${i} }\nspec: {}\n`);
    await api.apply('apiVersion: gedge.io/v1\nkind: Project\nmetadata: { name: w0 }\nspec: { description: changed }\n');
    await api.delete('Project', 'w1');
    await waitFor(() => seen.length >= 7, 10_000, '7 watch events');
    ac.abort();
    await watching;
    assert.deepEqual(seen.map((e) => `${e.type}:${e.object!.metadata.name}`), ['ADDED:w0', 'ADDED:w1', 'ADDED:w2', 'ADDED:w3', 'ADDED:w4', 'MODIFIED:w0', 'DELETED:w1']);
    assert.ok(seen.every((e, i) => i === 0 || e.revision > seen[i - 1]!.revision));
    assert.ok(seen[0]!.revision > revision);

    // Logs come from the edge agent's files over its connection; -f keeps streaming.
    await api.apply(JSON.stringify(testService('talker', { script: "let n = 0; setInterval(() => console.log('line ' + n++), 100)" })));
    const inst = await waitFor(async () => (await api.list<Instance>('Instance', { selector: 'app=talker' })).items.find((i) => i.status?.phase === 'Running'), 20_000, 'talker running');
    const once = await waitFor(async () => {
      let text = '';
      for await (const c of api.logs(inst.metadata.name)) text += c;
      return text.includes('line 3') ? text : undefined;
    }, 10_000, 'logs with a few lines');
    assert.match(once, /^line 0\n/);
    const follow = new AbortController();
    let followed = '';
    const reading = (async () => {
      for await (const c of api.logs(inst.metadata.name, { follow: true, tailBytes: 0, signal: follow.signal })) followed += c;
    })();
    const last = Number(/line (\d+)\n$/.exec(once)![1]);
    await waitFor(() => followed.includes(`line ${last + 10}\n`), 10_000, 'followed lines written after the request');
    follow.abort();
    await reading;

    // The CLI streams the same logs.
    const cli = spawnSync(process.execPath, ['bin/gedge.mjs', '--server', p.center.url, '--ca-file', p.center.caFile, '--token', p.center.adminToken, 'logs', inst.metadata.name, '--tail', '100'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, /line \d+\n/);

    // OpenAPI is generated from the schemas; metrics need a token and count agents.
    const doc = (await (await api.raw('GET', '/api/v1/openapi.json')).json()) as { openapi: string; components: { schemas: Record<string, { properties?: Record<string, unknown> }> }; paths: Record<string, unknown> };
    assert.equal(doc.openapi, '3.1.0');
    for (const k of ['Project', 'Site', 'Node', 'Service', 'Instance', 'Event']) assert.ok(doc.components.schemas[k]?.properties?.spec, `schema for ${k}`);
    assert.ok(doc.paths['/api/v1/services/{name}']);
    // The device and uplink endpoints, with their request and response schemas.
    type Op = { parameters?: { name: string; in: string }[]; requestBody?: { content: Record<string, { schema: { $ref: string } }> }; responses: Record<string, { content?: Record<string, { schema: { $ref: string } }> }> };
    const op = (path: string, method: string) => (doc.paths[path] as Record<string, Op> | undefined)?.[method];
    const schemaOf = (o: { content?: Record<string, { schema: { $ref: string } }> } | undefined) => o?.content?.['application/json']?.schema.$ref.split('/').at(-1);
    const issue = op('/api/v1/devices/{name}/credentials', 'post');
    assert.deepEqual([schemaOf(issue?.requestBody), schemaOf(issue?.responses[201])], ['DeviceCredentialRequest', 'DeviceCredentialIssued']);
    const uplink = op('/api/v1/uplink', 'post');
    assert.deepEqual([schemaOf(uplink?.requestBody), schemaOf(uplink?.responses[200]), schemaOf(uplink?.responses[503])], ['UplinkBatch', 'UplinkAck', 'Error']);
    const messages = op('/api/v1/routes/{name}/messages', 'get');
    assert.equal(schemaOf(messages?.responses[200]), 'SinkMessagesPage');
    assert.deepEqual(messages?.parameters?.map((p) => `${p.in}:${p.name}`), ['path:name', 'query:project', 'query:device', 'query:after', 'query:limit']);
    assert.ok(doc.components.schemas.UplinkBatch?.properties?.messages, 'UplinkBatch from the wire schema');
    assert.ok(doc.components.schemas.DeviceCredentialRequest?.properties?.ttl);
    assert.ok(doc.components.schemas.DeviceCredentialIssued?.properties?.password);
    const page = doc.components.schemas.SinkMessagesPage as { properties: { items: { items: { required: string[] } } } };
    assert.deepEqual(page.properties.items.items.required, ['id', 'node', 'seq', 'topic', 'qos', 'at', 'receivedAt', 'payload', 'encoding']);
    // Every schema a path points at exists.
    for (const m of JSON.stringify(doc.paths).matchAll(/"#\/components\/schemas\/([^"]+)"/g)) assert.ok(doc.components.schemas[m[1]!], `schema ${m[1]}`);
    const metrics = await (await api.raw('GET', '/metrics')).text();
    assert.match(metrics, /^gedge_agents_connected 1$/m);
    assert.match(metrics, /^process_cpu_seconds_total \d/m, 'the process metrics under their standard names');
    assert.match(metrics, /^gedge_store_writes_total \d+$/m);
    assert.deepEqual(promtoolProblems(metrics), [], 'promtool check metrics');
    assert.match(metrics, /gedge_agent_bytes_total\{direction="in",type="hb"\} \d+/);
  } finally {
    await p.close();
  }
});
