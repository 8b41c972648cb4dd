import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GedgeEvent, SiteLink, Service } from '../../core/index.ts';
import { spawnGedge, startPlatform, testService, waitFor, type Platform } from '../../testkit/index.ts';

/** A service whose clients are at one site, with a round-trip SLA. */
function slaService(name: string, clientSite: string, maxLatencyMs: number, extra: Record<string, unknown> = {}) {
  const s = testService(name) as Service;
  return { ...s, spec: { ...s.spec, placement: { clients: { sites: [clientSite] }, maxLatency: `${maxLatencyMs}ms`, ...extra } } };
}

const running = async (p: Platform, app: string) => (await p.instances(`app=${app}`)).filter((i) => i.spec.node && i.status?.phase === 'Running');
const linkRtt = async (p: Platform, name: string) => ((await p.center.api.get<SiteLink>('SiteLink', name)) as SiteLink).status?.rttMs ?? NaN;

test('latency-aware placement with real agents and emulated links: lands near its clients, follows the SLA when latency rises, waits with the reason when nothing complies, and moves off a dead node', async () => {
  const p = await startPlatform({
    site: 'cloud',
    probeIntervalMs: 200,
    linkStaleMs: 60_000,
    heartbeatMs: 300,
    notReadyAfterMs: 1500,
    evictAfterMs: 1500,
    rebalanceMs: 1000,
    accessLinks: true,
    agents: ['cloud', 'edge-a', 'edge-b', 'edge-c'].map((site) => ({ name: `${site}-1`, site, viaLink: true })),
  });
  try {
    const api = p.center.api;
    // The cloud is 15 ms from every edge; the edges are a few ms apart on loopback.
    p.setSiteDelay('cloud', 15);
    // Every link from edge-a that step 1's verdicts read must be measured (and the edges' under the SLA) first.
    const measured = async (name: string) => linkRtt(p, name).catch(() => NaN);
    await waitFor(async () => (await measured('cloud--edge-a')) > 12 && (await measured('edge-a--edge-b')) < 8 && (await measured('edge-a--edge-c')) < 8, 20_000, 'links measured');

    // 1. Clients at edge-a, SLA 10 ms: the service lands on edge-a, explained.
    await api.apply(JSON.stringify(slaService('near-a', 'edge-a', 10)));
    const [a] = await waitFor(async () => ((await running(p, 'near-a')).length === 1 ? running(p, 'near-a') : undefined), 20_000, 'near-a Running');
    assert.equal(a!.spec.node, 'edge-a-1');
    const why = a!.status!.scheduling!;
    assert.equal(why.policy, 'latency');
    // edge-a (the clients' own site) always fits and the cloud (15 ms) never does; the other edges are a few ms away on loopback,
    // which a busy machine can push past the 10 ms SLA for a moment (CI read 2/4 once): they fit or are refused for latency.
    const fit = Number(/^(\d)\/4 nodes fit$/.exec(why.summary)?.[1]);
    assert.ok(fit === 2 || fit === 3, `${why.summary}: ${JSON.stringify(why.candidates)}`);
    assert.equal(why.candidates.find((c) => c.node === 'edge-a-1')!.verdict, 'fit');
    for (const c of why.candidates.filter((x) => x.node === 'edge-b-1' || x.node === 'edge-c-1')) assert.match(c.verdict, /^(fit|latency \d+ms > SLA 10ms)$/, c.node);
    assert.match(why.candidates.find((c) => c.node === 'cloud-1')!.verdict, /^latency \d+ms > SLA 10ms$/);

    // 2. Clients at edge-b, not allowed on edge-b itself: edge-a or edge-c, both a few ms away (the closer one wins).
    await api.apply(JSON.stringify(slaService('follow', 'edge-b', 10, { sites: ['cloud', 'edge-a', 'edge-c'] })));
    const [f] = await waitFor(async () => ((await running(p, 'follow')).length === 1 ? running(p, 'follow') : undefined), 20_000, 'follow Running');
    const first = f!.spec.node!.replace(/-1$/, '');
    assert.ok(['edge-a', 'edge-c'].includes(first), `on ${first}`);
    const other = first === 'edge-a' ? 'edge-c' : 'edge-a';

    // 3. That site's link degrades to ~20 ms: the SLA no longer holds there, the other edge complies, so it moves (make before break).
    p.setSiteDelay(first, 20);
    const [moved] = await waitFor(async () => {
      const r = await running(p, 'follow');
      return r.length === 1 && r[0]!.spec.node === `${other}-1` ? r : undefined;
    }, 30_000, `follow moved to ${other}`);
    assert.notEqual(moved!.metadata.name, f!.metadata.name, 'a new instance, the old one retired');
    const followEvents = (await api.list<GedgeEvent>('Event', { selector: 'gedge.io/involved-kind=Service,gedge.io/involved-name=follow' })).items.map((e) => e.spec.reason);
    assert.ok(followEvents.includes('SLAViolated') && followEvents.includes('Moved'), followEvents.join(','));
    assert.equal((await running(p, 'near-a'))[0]!.spec.node, 'edge-a-1', 'near-a is still within its SLA (same site)');

    // 4. The other degrades too: nothing complies. The running replica stays (better degraded than down);
    //    a second replica waits, Pending, with a reason that adds up.
    p.setSiteDelay(other, 20);
    await waitFor(async () => (await linkRtt(p, other === 'edge-a' ? 'edge-a--edge-b' : 'edge-b--edge-c')) > 12, 15_000, `${other} slow`);
    await api.apply(JSON.stringify({ ...slaService('follow', 'edge-b', 10, { sites: ['cloud', 'edge-a', 'edge-c'] }), spec: { ...slaService('follow', 'edge-b', 10, { sites: ['cloud', 'edge-a', 'edge-c'] }).spec, replicas: 2 } }));
    const pending = await waitFor(async () => (await p.instances('app=follow')).find((i) => !i.spec.node && i.status?.message), 15_000, 'a Pending replica with a reason');
    assert.match(pending.status!.message!, /^unschedulable: 0\/4 nodes: 3 latency \d+ms > SLA 10ms, 1 site not allowed$/);
    assert.equal((await running(p, 'follow'))[0]!.metadata.name, moved!.metadata.name, 'the running replica was not moved to a worse place');
    const followMessages = async () => (await api.list<GedgeEvent>('Event', { selector: 'gedge.io/involved-kind=Instance,gedge.io/involved-name=' + moved!.metadata.name })).items.map((e) => `${e.spec.reason}: ${e.spec.message}`);
    const stranded = await waitFor(async () => (await followMessages()).find((m) => m.startsWith('SLAViolated: staying on')), 15_000, 'a stranded warning');
    assert.match(stranded, new RegExp(`^SLAViolated: staying on ${other}-1: latency \\d+ms > SLA 10ms on ${other}-1; no compliant node \\(0/4 nodes: `));

    const describe = spawnGedge('cli', ['describe', 'service', 'follow'], { GEDGE_SERVER: p.center.url, GEDGE_TOKEN: p.center.adminToken, GEDGE_CA_FILE: p.center.caFile, GEDGE_CONFIG: '/nonexistent/gedge-config' });
    assert.equal(await describe.exited, 0);
    const text = describe.lines.map((l) => l.msg ?? '').join('\n');
    assert.match(text, /Placement:/);
    assert.match(text, /NODE\s+SITE\s+VERDICT\s+LATENCY/);
    assert.match(text, new RegExp(`${other}-1\\s+${other}\\s+fit`));

    // 5. The replica's own site recovers first (were the other site to comply first, the replica would
    //    rightly move there, a story told by SLAViolated/Moved instead): it reports its SLA restored.
    //    Then the rest recovers, and edge-a's agent dies: after the grace period near-a is rescheduled to the next compliant site.
    p.setSiteDelay(other, 0);
    await waitFor(async () => (await linkRtt(p, other === 'edge-a' ? 'edge-a--edge-b' : 'edge-b--edge-c')) < 8, 20_000, `${other} recovered`);
    await waitFor(async () => (await followMessages()).find((m) => m.startsWith('SLARestored')), 15_000, 'the SLA restored, reported');
    p.setSiteDelay(first, 0);
    await waitFor(async () => (await linkRtt(p, 'edge-a--edge-b')) < 8 && (await linkRtt(p, 'edge-a--edge-c')) < 8, 20_000, 'edge links recovered');
    await p.agents.get('edge-a-1')!.process.kill9();
    const [again] = await waitFor(async () => {
      const r = await running(p, 'near-a');
      return r.length === 1 && r[0]!.spec.node !== 'edge-a-1' ? r : undefined;
    }, 30_000, 'near-a rescheduled off the dead node');
    assert.ok(['edge-b-1', 'edge-c-1'].includes(again!.spec.node!), `on ${again!.spec.node}, not the cloud (15 ms > SLA)`);
  } finally {
    await p.close();
  }
});

