import http from 'node:http';
import { ApiClient, type Resource } from '../core/index.ts';
import { endpointAt, freePort, httpRequest, LinkEmulator, startPlatform, testService, waitFor, type Platform } from '../testkit/index.ts';
import { metric, type Metric } from './results.ts';
import { median, percentile } from './stats.ts';

/**
 * GS-Link continuity: a vehicle driving back and forth between two edges of
 * one region, carrying an assistant session (route guidance with its
 * history, about 2 KiB) that follows it. A real center and two agents;
 * each agent's endpoint gateway sits behind a WAN link of 10 ms one way
 * (edge -> region -> edge at 5 ms a hop; the cloud, 20 ms beyond the
 * region, is not on this path). The vehicle talks to the edge it is at
 * (its radio link is not emulated), one request after another.
 *
 * Interruption: from the last answer at the old edge to the first at the
 * new one. Predicted moves report the vehicle's position with each request,
 * so the old edge foresees the new one and it copies the session ahead;
 * unpredicted moves say nothing, and the new edge finds and pulls the
 * session on the first request. The peer is what a platform without
 * session migration does: the service started cold at the target (its
 * state lost), timed from the order to the first answer there.
 */
const MOVES = 200;
const LEG = 6;
const COLD_TRIALS = 5;
const EDGE_TO_EDGE_MS = 10;

const ASSISTANT = `
const http = require('http');
const url = process.env.GEDGE_SESSION_URL, token = process.env.GEDGE_SESSION_TOKEN;
const route = Array.from({ length: 20 }, (_, i) => ({ lat: 37.5, lon: 127 + i * 0.0005, instruction: 'continue straight ahead for 50 m' }));
async function call(method, path, body) {
  const r = await fetch(url + path, { method, headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}
http.createServer(async (q, s) => {
  const u = new URL(q.url, 'http://x');
  if (u.pathname !== '/step') return s.end('ok');
  const client = u.searchParams.get('client');
  const got = await call('GET', '/' + client);
  if (got.status !== 200) { s.statusCode = 502; return s.end(JSON.stringify(got.body)); }
  const d = got.body.data;
  const count = (d.count || 0) + 1;
  const at = u.searchParams.has('lon') ? { lat: Number(u.searchParams.get('lat')), lon: Number(u.searchParams.get('lon')) } : undefined;
  const history = [...(d.history || []), { count, at: at || null, t: Date.now() }].slice(-30);
  const put = await call('PATCH', '/' + client, { set: { count, history, route: d.route || route }, ifVersion: got.body.version, location: at });
  if (put.status !== 200) { s.statusCode = 502; return s.end(JSON.stringify(put.body)); }
  s.end(String(count));
}).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

const SITES = { 'edge-a': 127.0, 'edge-b': 127.00625 } as const;
type Edge = keyof typeof SITES;

export async function run(): Promise<Metric[]> {
  const ports = { 'edge-a': await freePort(), 'edge-b': await freePort() };
  const links = { 'edge-a': await LinkEmulator.start({ upstreamPort: ports['edge-a'], delayMs: EDGE_TO_EDGE_MS }), 'edge-b': await LinkEmulator.start({ upstreamPort: ports['edge-b'], delayMs: EDGE_TO_EDGE_MS }) };
  const agentOf = (site: Edge) => ({ name: `${site}-1`, site, args: ['--gateway-listen', `127.0.0.1:${ports[site]}`, '--gateway-advertise', `127.0.0.1:${links[site].port}`] });
  const p = await startPlatform({ agents: [agentOf('edge-a'), agentOf('edge-b')] });
  try {
    const api = p.center.api;
    await api.apply(Object.entries(SITES).map(([name, lon]) => JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Site', metadata: { name }, spec: { tier: 'edge', location: { lat: 37.5, lon } } })).join('\n---\n'));
    const svc = testService('assist', { replicas: 2, http: true, script: ASSISTANT }) as Resource & { spec: Record<string, unknown> };
    Object.assign(svc.spec, { endpoint: {}, continuity: {}, placement: { policy: 'spread', nodes: ['edge-a-1', 'edge-b-1'] } });
    await api.apply(JSON.stringify(svc));
    await waitFor(async () => (await p.instances('app=assist')).filter((i) => i.status?.ready).length === 2 || undefined, 60_000, 'assist ready at both edges');
    const at = { 'edge-a': await endpointAt(p, 'edge-a-1', 'assist', { instances: 2, pollMs: 50 }), 'edge-b': await endpointAt(p, 'edge-b-1', 'assist', { instances: 2, pollMs: 50 }) };
    const agents = { 'edge-a': new http.Agent({ keepAlive: true }), 'edge-b': new http.Agent({ keepAlive: true }) };
    const step = async (edge: Edge, client: string, lon?: number) => Number(await get(at[edge], agents[edge], `/step?client=${client}${lon === undefined ? '' : `&lat=37.5&lon=${lon.toFixed(6)}`}`));
    const ahead = (edge: Edge) => p.agents.get(`${edge}-1`)!.process.events('session').filter((e) => e.msg === 'session copied ahead of its client').length;

    const drive = async (client: string, predicted: boolean) => {
      const gaps: number[] = [];
      const still: number[] = [];
      const counts: number[] = [];
      let edge: Edge = 'edge-a';
      counts.push(await step(edge, client));
      for (let move = 0; move < MOVES; move++) {
        const next: Edge = edge === 'edge-a' ? 'edge-b' : 'edge-a';
        // Heading for the border with the next edge (half-way between them), a little more each request.
        const from = SITES[edge];
        const toward = Math.sign(SITES[next] - from);
        const copies = ahead(next);
        for (let i = 0; i < LEG; i++) {
          const t = performance.now();
          counts.push(await step(edge, client, predicted ? from + toward * 0.0004 * (i + 1) : undefined));
          still.push(performance.now() - t);
        }
        if (predicted) await waitFor(async () => ahead(next) > copies || undefined, 10_000, `${next} copies ${client} ahead`);
        const last = performance.now();
        counts.push(await step(next, client));
        gaps.push(performance.now() - last);
        edge = next;
      }
      return { gaps, still, lost: counts.filter((c, i) => c !== i + 1).length };
    };
    // The wait for the session at the new edge, as its agent counts it (gedge_session_acquire_seconds_total over gedge_session_acquires_total), per drive.
    const scrape = new ApiClient(p.center.url, p.center.adminToken, p.center.ca);
    const acquired = async () => {
      let sum = 0;
      let n = 0;
      for (const node of ['edge-a-1', 'edge-b-1']) {
        const text = await (await scrape.raw('GET', `/api/v1/nodes/${node}/metrics`)).text();
        sum += Number(/^gedge_session_acquire_seconds_total (\S+)$/m.exec(text)?.[1] ?? 0);
        n += Number(/^gedge_session_acquires_total (\S+)$/m.exec(text)?.[1] ?? 0);
      }
      return { sum, n };
    };
    const before = await acquired();
    const predicted = await drive('bus-1', true);
    const between = await acquired();
    const spread = (g: number[]) => [10, 25, 50, 75, 90, 95, 99].map((q) => `p${q} ${percentile(g, q).toFixed(1)}`).join(' ');
    console.log(`predicted: ${spread(predicted.gaps)} ms, lost ${predicted.lost}`);
    const unpredicted = await drive('bus-2', false);
    const after = await acquired();
    const waitMs = (a: { sum: number; n: number }, b: { sum: number; n: number }) => (1000 * (b.sum - a.sum)) / Math.max(1, b.n - a.n);
    console.log(`unpredicted: ${spread(unpredicted.gaps)} ms, lost ${unpredicted.lost}`);
    const handedIn = ['edge-a', 'edge-b'].flatMap((e) => p.agents.get(`${e}-1`)!.process.events('session').filter((l) => l.msg === 'session handed over' && l.ahead !== undefined));
    const bytes = median(handedIn.map((l) => Number(l.bytes)));
    const fromCopies = handedIn.filter((l) => l.ahead === true && (l.session as { client: string }).client === 'bus-1').length;

    const cold = await coldStarts(p);
    console.log(`cold start at the target: ${cold.map((c) => c.toFixed(0)).join(', ')} ms`);
    const peer = { name: 'the service started cold at the target (state lost), median', value: median(cold) };
    return [
      metric('interruption at a predicted move, p50 (last answer at the old edge to the first at the new)', 'ms', percentile(predicted.gaps, 50), 'report', peer),
      metric('interruption at a predicted move, p99', 'ms', percentile(predicted.gaps, 99), '<= 50 ms', peer),
      metric('interruption at an unpredicted move, p50', 'ms', percentile(unpredicted.gaps, 50), 'report', peer),
      metric('interruption at an unpredicted move, p99', 'ms', percentile(unpredicted.gaps, 99), 'report', peer),
      metric('a request with no move, p50 (the same requests between moves)', 'ms', percentile([...predicted.still, ...unpredicted.still], 50), 'report'),
      metric('the wait for the session at the new edge, predicted, mean (its agent\'s gedge_session_acquire_seconds_total)', 'ms', waitMs(before, between), 'report'),
      metric('the wait for the session at the new edge, unpredicted, mean', 'ms', waitMs(between, after), 'report'),
      metric('predicted moves handed over from a copy made ahead', '%', (100 * fromCopies) / MOVES, 'report'),
      metric('session state moved per hand-over, median', 'bytes', bytes, 'report'),
      metric(`session writes lost or repeated over ${2 * MOVES} moves`, 'count', predicted.lost + unpredicted.lost, '<= 0'),
    ];
  } finally {
    await p.close();
    await Promise.all(Object.values(links).map((l) => l.close()));
  }
}

/** The peer: a Service of the same program ordered at edge-b, timed from the order to its first answer through edge-b's endpoint. */
async function coldStarts(p: Platform): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < COLD_TRIALS; i++) {
    const name = `cold-${i}`;
    const svc = testService(name, { replicas: 1, http: true, script: ASSISTANT }) as Resource & { spec: Record<string, unknown> };
    Object.assign(svc.spec, { endpoint: {}, continuity: {}, placement: { policy: 'pinned', nodes: ['edge-b-1'] } });
    const t = performance.now();
    await p.center.api.apply(JSON.stringify(svc));
    const address = await endpointAt(p, 'edge-b-1', name, { pollMs: 1 });
    const agent = new http.Agent({ keepAlive: false });
    await waitFor(async () => (await get(address, agent, '/step?client=cold').catch(() => undefined)) === '1' || undefined, 60_000, `${name} answers`, 1);
    out.push(performance.now() - t);
    await p.center.api.delete('Service', name);
  }
  return out;
}

/** One GET on `agent`: the body of a 200, else an error. */
async function get(at: { host: string; port: number }, agent: http.Agent, path: string): Promise<string> {
  const r = await httpRequest(at, path, { agent });
  if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.body}`);
  return r.body;
}
