import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GedgeEvent, Resource } from '../../core/index.ts';
import { endpointAt, freePort, httpRequest, LinkEmulator, resolveEndpoint, startPlatform, testService, waitFor, type Platform } from '../../testkit/index.ts';

/**
 * A service that answers one request at a time, 20 ms each (50 a second at
 * most), with the node it runs on; /healthz answers at once (readiness is
 * not queued behind the load).
 */
const SERIAL = `
const http = require('http');
const queue = [];
let busy = false;
function next() {
  if (busy || !queue.length) return;
  busy = true;
  const res = queue.shift();
  setTimeout(() => { res.end(process.env.GEDGE_NODE); busy = false; next(); }, 20);
}
http.createServer((q, s) => (q.url === '/healthz' ? s.end('ok') : (queue.push(s), next()))).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

function serial(): Resource {
  const s = testService('assist', { replicas: 2, http: true, script: SERIAL }) as Resource & { spec: Record<string, unknown> & { template: Record<string, unknown> } };
  s.spec.template.readiness = { http: { port: 'http', path: '/healthz' }, period: '200ms' };
  s.spec.endpoint = {};
  s.spec.overflow = { tiers: ['region'], sla: '200ms', hold: '2s', burst: 1 };
  s.spec.placement = { policy: 'pinned', nodes: ['edge-a-1', 'region-1'], antiAffinity: [{ selector: { app: 'assist' } }] };
  return s;
}

async function events(p: Platform, reason: string): Promise<GedgeEvent[]> {
  return ((await p.center.api.list<GedgeEvent>('Event', { selector: 'gedge.io/involved-kind=Node,gedge.io/involved-name=edge-a-1' })).items as GedgeEvent[]).filter((e) => e.spec.reason === reason);
}

const serviceEvents = async (p: Platform, reason: string) => ((await p.center.api.list<GedgeEvent>('Event', { selector: 'gedge.io/involved-kind=Service,gedge.io/involved-name=assist' })).items as GedgeEvent[]).filter((e) => e.spec.reason === reason);

test('a load step at an edge overflows to the region within its SLA while the center adds an instance there, and comes back once the load falls, without flapping, each switch an event that says why', async () => {
  // The region's gateway behind a WAN link (5 ms each way): what overflows crosses it.
  const gatewayPort = await freePort();
  const wan = await LinkEmulator.start({ upstreamPort: gatewayPort, delayMs: 5 });
  const p = await startPlatform({
    agents: [
      { name: 'edge-a-1', site: 'edge-a' },
      { name: 'region-1', site: 'region-1', args: ['--gateway-listen', `127.0.0.1:${gatewayPort}`, '--gateway-advertise', `127.0.0.1:${wan.port}`] },
    ],
  });
  try {
    await p.center.api.apply(JSON.stringify(serial()));
    await waitFor(async () => {
      const all = await p.instances('app=assist');
      return all.length === 2 && all.every((i) => i.status?.ready) && new Set(all.map((i) => i.spec.node)).size === 2 ? all : undefined;
    }, 30_000, 'assist ready at edge-a and in the region');
    const at = await endpointAt(p, 'edge-a-1', 'assist', { instances: 2 });
    const first = (await resolveEndpoint(p, 'edge-a-1', 'assist'))!;
    assert.deepEqual(first.instances.map((i) => [i.node, i.tier]), [['edge-a-1', 'edge'], ['region-1', 'region']], 'the edge first');
    assert.equal(first.overflow?.state, 'edge');
    assert.equal(first.overflow?.limit, null, 'no limit before the edge missed its SLA');

    const answered = { 'edge-a-1': 0, 'region-1': 0 } as Record<string, number>;
    const ask = async () => {
      const r = await httpRequest(at, '/work', { timeoutMs: 30_000 });
      assert.equal(r.status, 200, r.body);
      answered[r.body] = (answered[r.body] ?? 0) + 1;
      return r.body;
    };

    // A light load, one request after another: all at the edge.
    for (let i = 0; i < 20; i++) assert.equal(await ask(), 'edge-a-1');

    const before = (await resolveEndpoint(p, 'edge-a-1', 'assist'))!.overflow!;
    // A step: 30 clients at once, each asking again as soon as answered (far past the edge's 50 a second).
    let loaded = true;
    const clients = Array.from({ length: 30 }, async () => {
      while (loaded) await ask();
    });
    const overflowing = await waitFor(async () => (await events(p, 'Overflowing'))[0], 60_000, 'an Overflowing event from edge-a-1');
    await waitFor(async () => (answered['region-1']! >= 50 ? true : undefined), 60_000, 'the region answered 50 of the overflow');
    // Capacity upward: the node said its site overflows; the center adds a burst instance in the region, ready and in edge-a's directory.
    const up = await waitFor(async () => (await serviceEvents(p, 'BurstUp'))[0], 60_000, 'a BurstUp event on assist');
    assert.equal(up.spec.message, 'edge-a overflowing to region: one more instance there (1 of 1 at most)');
    const added = await waitFor(async () => (await p.instances('gedge.io/burst=true')).find((i) => i.status?.ready), 60_000, 'the burst instance ready');
    assert.equal(added.spec.node, 'region-1');
    await waitFor(async () => ((await resolveEndpoint(p, 'edge-a-1', 'assist'))?.instances.length === 3 ? true : undefined), 30_000, 'edge-a resolves the burst instance too');
    assert.equal((await p.instances('gedge.io/service=assist')).length, 3, 'the service controller left it alone');
    const during = (await resolveEndpoint(p, 'edge-a-1', 'assist'))!.overflow!;
    loaded = false;
    await Promise.all(clients);
    assert.match(overflowing.spec.message, /^Service default\/assist \(http\) at edge-a: \d+ requests in flight at the edge reached its measured limit of \d+, p90 \d+ ms at the edge; the SLA is 200 ms; requests beyond it go to region-1 \(region\)$/);
    assert.equal(overflowing.spec.type, 'Warning');
    assert.equal(during.state, 'overflowing');
    assert.ok(during.limit !== null && during.limit >= 1, `a measured limit: ${during.limit}`);
    assert.ok(during.overflowed >= 50 && during.edge - before.edge > 20, `both took their share of the step: ${JSON.stringify({ before, during })}`);

    // The load falls back to one client: after the hold, the state is the edge's again and everything is answered there.
    const ended = await waitFor(async () => {
      await ask();
      return (await events(p, 'OverflowEnded'))[0];
    }, 60_000, 'an OverflowEnded event from edge-a-1');
    assert.match(ended.spec.message, /^Service default\/assist \(http\) at edge-a: nothing overflowed for 2s and the edge keeps up: p90 \d+ ms \(within 90% of the SLA 200 ms\)$/);
    for (let i = 0; i < 20; i++) assert.equal(await ask(), 'edge-a-1', 'after the return, the edge answers all');
    const after = (await resolveEndpoint(p, 'edge-a-1', 'assist'))!.overflow!;
    assert.equal(after.state, 'edge');
    // One load step, one switch each way: the swings of 30 clients around the limit did not flap the state.
    assert.equal(after.switches, 2);
    assert.equal((await events(p, 'Overflowing')).length, 1);
    assert.equal((await events(p, 'OverflowEnded')).length, 1);

    // Three holds (6 s) after the last overflow, the burst instance goes; the two replicas stay.
    const down = await waitFor(async () => (await serviceEvents(p, 'BurstDown'))[0], 60_000, 'a BurstDown event on assist');
    assert.match(down.spec.message, /^no site has overflowed for 6s: assist-[0-9a-f]{6} removed \(0 burst instances left\)$/);
    await waitFor(async () => ((await p.instances('gedge.io/service=assist')).length === 2 ? true : undefined), 30_000, 'back to the two replicas');

    // The agent's metrics say the same, through the center.
    const metrics = await waitFor(async () => {
      const text = await (await p.center.api.raw('GET', '/api/v1/nodes/edge-a-1/metrics')).text();
      return text.includes('gedge_endpoint_overflow_switches_total') ? text : undefined;
    }, 15_000, "edge-a-1's metrics");
    assert.match(metrics, /gedge_endpoint_overflow_switches_total\{project="default",service="assist",port="http"\} 2/);
    assert.match(metrics, /gedge_endpoint_overflowing\{project="default",service="assist",port="http"\} 0/);
    assert.match(metrics, /gedge_endpoint_overflow_connections_total\{project="default",service="assist",port="http",to="upper"\} [1-9]\d*/);
  } finally {
    await p.close();
    await wan.close();
  }
});
