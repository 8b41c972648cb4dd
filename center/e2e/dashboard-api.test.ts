import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Instance } from '../../core/index.ts';
import { startPlatform, testService, waitFor } from '../../testkit/index.ts';

interface Telemetry {
  resolutionS: number;
  t: number[];
  series: Record<string, (number | null)[]>;
}

test('what the dashboard reads: its files, one watch for many kinds, dry-run apply, overview and telemetry', async () => {
  const p = await startPlatform({ heartbeatMs: 300, agents: [{ name: 'edge-a-1', site: 'edge-a' }] });
  const ac = new AbortController();
  try {
    const api = p.center.api;
    const get = (path: string, headers: Record<string, string> = {}) => p.center.fetch(p.center.url + path, { headers });
    const auth = { authorization: `Bearer ${p.center.adminToken}` };

    // The page and its assets load without a token (code, not data), compressed when asked; the API behind them does not.
    const index = await get('/');
    assert.equal(index.status, 200);
    const html = await index.text();
    assert.match(html, /<div id="app">/);
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const js = await get(asset, { 'accept-encoding': 'br' });
    assert.equal(js.status, 200);
    assert.equal(js.headers.get('content-encoding'), 'br');
    assert.match(js.headers.get('cache-control') ?? '', /immutable/);
    for (const bad of ['/assets/..%2Fpackage.json', '/assets/index', '/assets/.vite']) assert.equal((await get(bad)).status, 404, bad);
    assert.equal((await get('/api/v1/overview')).status, 401);
    assert.equal((await get('/api/v1/watch?kinds=nodes')).status, 401);

    // One stream for several kinds: a bookmark first (where it starts), then changes of each kind asked for.
    const lines: { type: string; revision: number; object?: { kind: string; metadata: { name: string } } }[] = [];
    const res = await p.center.fetch(`${p.center.url}/api/v1/watch?kinds=services,instances`, { headers: auth, signal: ac.signal });
    const reading = (async () => {
      let buf = '';
      try {
        for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
          buf += chunk;
          for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
            lines.push(JSON.parse(buf.slice(0, nl)));
            buf = buf.slice(nl + 1);
          }
        }
      } catch (e) {
        if (!ac.signal.aborted) throw e;
      }
    })();
    await waitFor(() => lines.length > 0, 5000, 'the opening bookmark');
    assert.equal(lines[0]!.type, 'BOOKMARK');
    const { revision } = (await (await get('/healthz', auth)).json()) as { revision: number };
    assert.ok(lines[0]!.revision > 0 && lines[0]!.revision <= revision, 'it starts at the revision current when it opened');

    // A dry run says what would happen and writes nothing; its errors carry paths and lines.
    const manifest = JSON.stringify(testService('dash', { script: 'setInterval(() => { const a = []; for (let i = 0; i < 1e5; i++) a.push(i) }, 50)' }));
    const dry = await api.raw('POST', '/api/v1/apply?dryRun=true', manifest);
    assert.equal(dry.status, 200);
    assert.deepEqual(await dry.json(), { dryRun: true, items: [{ action: 'created', kind: 'Service', name: 'dash', project: 'default' }] });
    assert.equal((await api.raw('GET', '/api/v1/services/dash')).status, 404);
    const bad = await api.raw('POST', '/api/v1/apply?dryRun=true', 'apiVersion: gedge.io/v1\nkind: Service\nmetadata: { name: bad }\nspec:\n  replicas: -1\n  template: { command: [node] }\n', 'application/yaml');
    assert.equal(bad.status, 422);
    const err = (await bad.json()) as { details: { path: string; line?: number }[] };
    assert.ok(err.details.some((d) => d.path === 'spec.replicas' && d.line === 5), JSON.stringify(err.details));

    await api.apply(manifest);
    const running = await waitFor(async () => (await api.list<Instance>('Instance', { selector: 'app=dash' })).items.find((i) => i.status?.phase === 'Running'), 20_000, 'dash running');
    await waitFor(() => lines.some((l) => l.object?.kind === 'Instance') && lines.some((l) => l.object?.kind === 'Service'), 5000, 'service and instance changes on one stream');
    assert.ok(lines.every((l) => !l.object || l.object.kind === 'Service' || l.object.kind === 'Instance'), 'only the kinds asked for');
    ac.abort();
    await reading;
    const unknown = await api.raw('GET', '/api/v1/watch?kinds=nodes,gizmos');
    assert.equal(unknown.status, 422);
    assert.equal(((await unknown.json()) as { details: { path: string }[] }).details[0]!.path, 'query.kinds[1]');

    // The overview counts what the token may see.
    const overview = (await (await get('/api/v1/overview', auth)).json()) as {
      counts: { nodes: { Ready: number }; services: { total: number }; instances: { total: number; Running: number } };
      sites: { name: string; nodes: { total: number; ready: number }; instances: { running: number } }[];
    };
    assert.equal(overview.counts.nodes.Ready, 1);
    assert.equal(overview.counts.instances.Running, 1);
    assert.deepEqual(overview.sites.find((s) => s.name === 'edge-a'), { ...overview.sites.find((s) => s.name === 'edge-a'), nodes: { total: 1, ready: 1 }, instances: { total: 1, running: 1 } });
    await api.apply('apiVersion: gedge.io/v1\nkind: Project\nmetadata: { name: other }\nspec: {}\n');
    const other = await api.createToken({ kind: 'user', projects: ['other'] });
    const theirs = (await (await get('/api/v1/overview', { authorization: `Bearer ${other.token}` })).json()) as typeof overview;
    assert.equal(theirs.counts.instances.total, 0, "another project's token sees none of default's instances");
    assert.equal(theirs.counts.nodes.Ready, 1, 'nodes are cluster-scoped: every token sees them');

    // Telemetry: the node's and the instance's usage arrive with heartbeats.
    const node = await waitFor(async () => {
      const t = (await (await get('/api/v1/nodes/edge-a-1/telemetry?range=15m', auth)).json()) as Telemetry;
      return t.series.cpu?.some((v) => v !== null) && t.series.netRxBps?.some((v) => v !== null) ? t : undefined;
    }, 15_000, 'node telemetry');
    assert.equal(node.resolutionS, 10);
    assert.equal(node.t.length, 91);
    const name = running.metadata.name;
    const inst = await waitFor(async () => {
      const t = (await (await get(`/api/v1/instances/${name}/telemetry?project=default&range=1h`, auth)).json()) as Telemetry;
      return t.series.memoryMiB?.some((v) => v !== null && v > 1) && t.series.cpu?.some((v) => v !== null && v > 0) ? t : undefined;
    }, 15_000, 'instance telemetry: the busy instance uses CPU and memory');
    assert.equal(inst.resolutionS, 10);
    const day = (await (await get('/api/v1/nodes/edge-a-1/telemetry?range=24h', auth)).json()) as Telemetry;
    assert.equal(day.resolutionS, 300);
    assert.equal((await get('/api/v1/nodes/edge-a-1/telemetry?range=2w', auth)).status, 422);
    assert.equal((await get('/api/v1/nodes/nope/telemetry', auth)).status, 404);
    assert.equal((await get(`/api/v1/instances/${name}/telemetry?project=default`, { authorization: `Bearer ${other.token}` })).status, 403);
  } finally {
    ac.abort();
    await p.close();
  }
});
