import type { GedgeEvent, Resource } from '../core/index.ts';
import { endpointAt, freePort, httpRequest, LinkEmulator, resolveEndpoint, startPlatform, testService, waitFor, type Platform } from '../testkit/index.ts';
import { metric, type Metric } from './results.ts';
import { percentile } from './stats.ts';

/**
 * GS-Link offloading across tiers: a 3x load step at one edge. A real
 * center, an edge agent and a region agent whose gateway sits behind a WAN
 * link of 5 ms one way. The service answers each request after 10 ms of
 * work; the edge's instance works one request at a time (100 a second at
 * most), the region's (bigger hardware) four at a time. Clients at the edge
 * send requests at a steady rate through the edge's endpoint, each on a
 * connection of its own (open loop: a late answer does not slow the
 * arrivals): 60 a second for 10 s, then 180 a second (3x) for 20 s, then 60
 * again for 15 s.
 *
 * Ours: the Service declares overflow to the region with an SLA of 100 ms,
 * and lets the center add one instance there while the edge overflows.
 * The peer: the same Service without it (an instance in the region is only
 * a failover), what a platform that places by latency but does not offload
 * does. Share within the SLA over the step; time to react (from the step to
 * the first request the edge sent to the region); switches of the overflow
 * state a minute.
 */
const SLA_MS = 100;
const BASE_PER_S = 60;
const PHASES = [
  { name: 'before', ms: 10_000, perS: BASE_PER_S },
  { name: 'step', ms: 20_000, perS: 3 * BASE_PER_S },
  { name: 'after', ms: 15_000, perS: BASE_PER_S },
] as const;
const WAN_ONE_WAY_MS = 5;

const SERVICE = `
const http = require('http');
const workers = process.env.GEDGE_NODE.startsWith('region') ? 4 : 1;
const queue = [];
let busy = 0;
function next() {
  while (busy < workers && queue.length) {
    busy++;
    const res = queue.shift();
    setTimeout(() => { res.end(process.env.GEDGE_NODE + ' ' + process.env.GEDGE_INSTANCE); busy--; next(); }, 10);
  }
}
http.createServer((q, s) => (q.url === '/healthz' ? s.end('ok') : (queue.push(s), next()))).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

interface Sample {
  phase: string;
  sentAt: number;
  ms: number;
  node: string;
  instance: string;
}

export async function run(): Promise<Metric[]> {
  const gatewayPort = await freePort();
  const wan = await LinkEmulator.start({ upstreamPort: gatewayPort, delayMs: WAN_ONE_WAY_MS });
  const p = await startPlatform({
    agents: [
      { name: 'edge-a-1', site: 'edge-a' },
      { name: 'region-1', site: 'region-1', args: ['--gateway-listen', `127.0.0.1:${gatewayPort}`, '--gateway-advertise', `127.0.0.1:${wan.port}`] },
    ],
  });
  try {
    const ours = await stepAt(p, 'assist', true);
    const peer = await stepAt(p, 'plain', false);
    const within = (r: Run) => share(r.step, (s) => s.ms <= SLA_MS);
    console.log(`within the SLA over the step: ${within(ours).toFixed(1)}% offloading, ${within(peer).toFixed(1)}% without`);
    const peerOf = (value: number) => ({ name: 'the same Service without overflow (edge only, the region a failover)', value });
    return [
      metric(`requests within the SLA (${SLA_MS} ms) over the 3x step`, '%', within(ours), '>= 90', peerOf(within(peer))),
      metric('requests within the SLA over the whole run (before, step, after)', '%', share(ours.all, (s) => s.ms <= SLA_MS), 'report', peerOf(share(peer.all, (s) => s.ms <= SLA_MS))),
      metric('response time over the step, p50', 'ms', percentile(ours.step.map((s) => s.ms), 50), 'report', peerOf(percentile(peer.step.map((s) => s.ms), 50))),
      metric('response time over the step, p99', 'ms', percentile(ours.step.map((s) => s.ms), 99), 'report', peerOf(percentile(peer.step.map((s) => s.ms), 99))),
      metric('time to react: from the step to the first request sent to the region', 'ms', ours.reactMs ?? Number.NaN, '<= 1000'),
      metric('requests answered in the region over the step', '%', share(ours.step, (s) => s.node === 'region-1'), 'report'),
      metric('capacity upward: from the step to the first answer of the instance the center added in the region', 's', (ours.burstMs ?? Number.NaN) / 1000, 'report'),
      metric('from the load falling to the state back at the edge (its hold is 5 s)', 's', ours.returnS ?? Number.NaN, 'report'),
      metric('switches of the overflow state a minute (one step up and down)', 'per min', ours.switchesPerMin, '<= 4'),
    ];
  } finally {
    await p.close();
    await wan.close();
  }
}

interface Run {
  all: Sample[];
  step: Sample[];
  reactMs: number | undefined;
  /** From the step to the first request answered by the instance the center added in the region. */
  burstMs: number | undefined;
  returnS: number | undefined;
  switchesPerMin: number;
}

/** One run of the three phases against a Service (made for it, with or without overflow), then deleted. */
async function stepAt(p: Platform, name: string, overflow: boolean): Promise<Run> {
  const svc = testService(name, { replicas: 2, http: true, script: SERVICE }) as Resource & { spec: Record<string, unknown> & { template: Record<string, unknown> } };
  svc.spec.template.readiness = { http: { port: 'http', path: '/healthz' }, period: '1s' };
  Object.assign(svc.spec, { endpoint: {}, placement: { policy: 'pinned', nodes: ['edge-a-1', 'region-1'], antiAffinity: [{ selector: { app: name } }] } });
  if (overflow) svc.spec.overflow = { tiers: ['region'], sla: `${SLA_MS}ms`, hold: '5s', burst: 1 };
  await p.center.api.apply(JSON.stringify(svc));
  await waitFor(async () => (await p.instances(`app=${name}`)).filter((i) => i.status?.ready).length === 2 || undefined, 60_000, `${name} ready at the edge and in the region`);
  const at = await endpointAt(p, 'edge-a-1', name, { instances: 2 });
  const replicas = new Set((await p.instances(`app=${name}`)).map((i) => i.metadata.name));
  const started = Date.now();
  const samples: Sample[] = [];
  const pending: Promise<void>[] = [];
  let stepAt = 0;
  let fellAt = 0;
  for (const phase of PHASES) {
    const t0 = performance.now();
    if (phase.name === 'step') stepAt = Date.now();
    if (phase.name === 'after') fellAt = Date.now();
    let sent = 0;
    while (performance.now() - t0 < phase.ms) {
      const due = Math.floor(((performance.now() - t0) / 1000) * phase.perS);
      for (; sent < due; sent++) pending.push(ask(at).then((s) => void samples.push({ ...s, phase: phase.name })));
      await new Promise((r) => setTimeout(r, 2));
    }
  }
  await Promise.all(pending);
  const ranMs = Date.now() - started;
  const step = samples.filter((s) => s.phase === 'step');
  const firstUp = step.filter((s) => s.node === 'region-1').sort((a, b) => a.sentAt - b.sentAt)[0];
  const events = ((await p.center.api.list<GedgeEvent>('Event', { selector: 'gedge.io/involved-kind=Node,gedge.io/involved-name=edge-a-1' })).items as GedgeEvent[]).filter((e) => e.spec.message.startsWith(`Service default/${name} `));
  const firstBurst = step.filter((s) => !replicas.has(s.instance) && s.node === 'region-1').sort((a, b) => a.sentAt - b.sentAt)[0];
  const ended = events.find((e) => e.spec.reason === 'OverflowEnded' && Date.parse(e.spec.at) >= fellAt);
  const switches = overflow ? ((await resolveEndpoint(p, 'edge-a-1', name))?.overflow?.switches ?? 0) : 0;
  console.log(`${name}: ${samples.length} requests, ${events.map((e) => `${e.spec.reason} at +${((Date.parse(e.spec.at) - started) / 1000).toFixed(1)} s: ${e.spec.message}`).join('; ') || 'no overflow events'}`);
  await p.center.api.delete('Service', name);
  await waitFor(async () => ((await p.instances(`app=${name}`)).length === 0 ? true : undefined), 60_000, `${name}'s instances gone`);
  return {
    all: samples,
    step,
    reactMs: firstUp ? firstUp.sentAt - stepAt : undefined,
    burstMs: firstBurst ? firstBurst.sentAt - stepAt : undefined,
    returnS: ended ? (Date.parse(ended.spec.at) - fellAt) / 1000 : undefined,
    switchesPerMin: switches / (ranMs / 60_000),
  };
}

/** One request on a connection of its own: when it was sent, how long it took, who answered (node and instance). */
async function ask(at: { host: string; port: number }): Promise<Omit<Sample, 'phase'>> {
  const sentAt = Date.now();
  const t = performance.now();
  const r = await httpRequest(at, '/work', { timeoutMs: 120_000 }).catch((err: Error) => ({ status: 0, body: `error: ${err.message}` }));
  const [node, instance] = r.status === 200 ? r.body.split(' ') : [r.status ? `HTTP ${r.status}` : r.body, ''];
  return { sentAt, ms: performance.now() - t, node: node!, instance: instance ?? '' };
}

const share = (xs: Sample[], ok: (s: Sample) => boolean) => (xs.length ? (100 * xs.filter(ok).length) / xs.length : 0);
