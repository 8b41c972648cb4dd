import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import type { Device, GedgeEvent, Node, Rule } from '../../core/index.ts';
import { checkScenarioPage } from '../../dashboard/e2e/scenario-view.ts';
import { launchBrowser, resolverOf, resultsDir, spawnGedge, startPlatform, startWakeupProbe, waitFor } from '../../testkit/index.ts';
import { formatStats, formatVehicleStats, quantile, startVehicleSim, type TrafficStats, type VehicleSim } from '../index.ts';
import { CITY_PROJECT, deploySmartCity, deploySmartCityVehicles } from './smart-city.ts';
import { Wan } from './wan.ts';

const MANIFESTS = fileURLToPath(new URL('../../examples/smart-city/', import.meta.url));
const EDGES = ['edge-a', 'edge-b'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The rush hour at edge-a, and the hold of assist's overflow (examples/smart-city/assist.yaml). */
const RUSH_MS = 25_000;
const HOLD_MS = 5000;

interface Flow {
  site: string;
  intersection: string;
  windowEnd: number;
  vehicles: number;
}

test('the smart-city scenario, short: edge control far faster than the cloud, aggregates up, an outage loses nothing, lights follow the queues, vehicles keep their sessions across the edges, a rush hour overflows to the region and comes back, the dashboard shows it', async (t) => {
  // The machine, idle, before anything starts: how long it takes to wake a sleeping process (see the bound below).
  const machine = await (await startWakeupProbe()).stop(30);
  const p = await startPlatform({
    heartbeatMs: 500,
    agents: [
      { name: 'cloud-1', site: 'cloud', mqtt: true },
      // The region takes what an edge cannot answer in time (the assistant's warm instance there).
      { name: 'region-1', site: 'region-gangnam', viaLink: true },
      ...EDGES.map((site) => ({ name: `${site}-1`, site, mqtt: true, viaLink: true })),
    ],
  });
  const wan = new Wan(p.center.port);
  const clients: mqtt.MqttClient[] = [];
  try {
    const api = p.center.api;
    // Edge <-> cloud: 5 ms to the region plus 20 ms to the cloud, each way.
    const oneWay = wan.delayOf('edge');
    for (const site of EDGES) p.setSiteDelay(site, oneWay);
    p.setSiteDelay('region-gangnam', wan.delayOf('region'));
    const edgeBrokers = Object.fromEntries(await Promise.all(EDGES.map(async (s) => [s, await wan.brokerAddress(s, 'edge', p.agents.get(`${s}-1`)!.mqttPort!)] as const)));
    const deployed = await deploySmartCity(api, { manifestsDir: MANIFESTS, cloudBroker: `127.0.0.1:${p.agents.get('cloud-1')!.mqttPort}`, edgeBrokers });
    assert.deepEqual(deployed.cloudControlled, ['i1']);
    assert.deepEqual(deployed.routes.sort(), ['city-stats', 'city-view', 'flows', 'incidents', 'raw-to-cloud-i1', 'signals-edge-a', 'signals-edge-b']);

    // A watcher in the cloud: every aggregate that reaches the cloud's broker, with the edge's message id.
    await api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: 'watcher', project: CITY_PROJECT }, spec: { site: 'cloud', grants: { subscribe: ['flows/#', 'traffic/#'] } } }));
    const cred = await api.issueDeviceCredential(CITY_PROJECT, 'watcher');
    const watcher = await waitFor(
      () => mqtt.connectAsync(`mqtt://127.0.0.1:${p.agents.get('cloud-1')!.mqttPort}`, { clientId: cred.clientId, username: cred.clientId, password: cred.password, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 }, reconnectPeriod: 0 }, false).catch(() => undefined),
      20_000,
      'the watcher signed in to the cloud broker',
    );
    clients.push(watcher);
    const flows = new Map<string, Flow & { at: number }>();
    const rawAtCloud = new Set<string>();
    watcher.on('message', (topic, payload, packet) => {
      const id = packet.properties?.userProperties?.['gedge-msg-id'];
      if (topic.startsWith('traffic/')) rawAtCloud.add(topic.split('/')[2]!);
      if (topic.startsWith('flows/') && typeof id === 'string') flows.set(id, { ...(JSON.parse(payload.toString()) as Flow), at: Date.now() });
    });
    await watcher.subscribeAsync(['flows/#', 'traffic/#'], { qos: 1 });

    const running = async (rule: string, node: string) => (await api.get<Rule>('Rule', rule, CITY_PROJECT)).status?.nodes?.[node]?.phase === 'Running';
    await waitFor(async () => (await Promise.all([...EDGES.flatMap((s) => ['signal-timing', 'flows', 'traffic-volume'].map((r) => running(r, `${s}-1`))), running('signal-timing-cloud', 'cloud-1'), running('city-view', 'cloud-1')])).every(Boolean), 30_000, 'the rules running where they belong');

    // 8 intersections (i1 to i4 at each edge; i1 decided through the cloud, so six at the edge: the edge p99 is
    // taken over some 300 commands, not a handful); an incident closes a lane of edge-a/i2's north approach.
    // Observers on the edge brokers: each light's state carries the latency it measured and who decided.
    const samples: { site: string; via: string; latencyMs: number; at: number }[] = [];
    /** edge-a/i2's decisions: did the edge give north-south the longer green? */
    const i2Splits: boolean[] = [];
    for (const site of EDGES) {
      await api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: `observer-${site}`, project: CITY_PROJECT }, spec: { site, grants: { subscribe: ['traffic/+/+/light'] } } }));
      const c = await api.issueDeviceCredential(CITY_PROJECT, `observer-${site}`);
      const port = p.agents.get(`${site}-1`)!.mqttPort!;
      const observer = await waitFor(() => mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: c.clientId, username: c.clientId, password: c.password, reconnectPeriod: 0 }, false).catch(() => undefined), 20_000, `observer at ${site}`);
      clients.push(observer);
      observer.on('message', (_topic, payload) => {
        const b = JSON.parse(payload.toString()) as { id: string; latencyMs: number | null; via: string | null; greenNsMs: number; greenEwMs: number };
        if (b.latencyMs !== null && b.via) samples.push({ site, via: b.via, latencyMs: b.latencyMs, at: Date.now() });
        if (b.id === 'edge-a/i2' && b.via === 'edge' && b.greenNsMs !== b.greenEwMs) i2Splits.push(b.greenNsMs > b.greenEwMs);
      });
      await observer.subscribeAsync('traffic/+/+/light', { qos: 1 });
    }
    // The devices run as their own process, as under `gedge up`: the lights' clocks are not held up by this test's observers.
    const sim = spawnGedge('sim', ['sim', 'traffic', '-p', CITY_PROJECT, '--sites', EDGES.join(','), '--devices', '48', '--rate', '10', '--cycle', '60s', '--seed', '3', '--incident', 'edge-a/i2/n@0s+600s', '--stats-every', '1s', '-o', 'json'], {
      GEDGE_SERVER: p.center.url,
      GEDGE_TOKEN: p.center.adminToken,
      GEDGE_CA_FILE: p.center.caFile,
    });
    // With `-o json`, every stdout line of the simulator is a TrafficStats; the last has `final`.
    const statsLines = () => sim.lines.filter((l) => 'commands' in l) as unknown as (TrafficStats & { final?: true })[];
    await Promise.race([
      sim.waitForLine((l) => 'commands' in l, 60_000),
      sim.exited.then((c) => {
        throw new Error(`gedge sim traffic exited with ${c}: ${JSON.stringify(sim.lines.slice(-3))}`);
      }),
    ]).catch(async (err: unknown) => {
      await sim.stop();
      throw err;
    });
    const warm = Date.now() + 3000;
    let measuredUntil = Infinity;
    let restoredAt = 0;
    let shownPeak = 0;
    let heldAtRestore = 0;
    let vehicles: VehicleSim | undefined;
    try {
      await sleep(15_000);

      // The outage: edge-b is cut from the cloud (both directions) for 8 s.
      const cutAt = Date.now();
      p.links.get('edge-b-1')!.cut();
      wan.cut('edge-b');
      await sleep(8000);
      const beforeRestore = [...flows.values()].filter((f) => f.site === 'edge-b' && f.windowEnd > cutAt + 1000);
      assert.equal(beforeRestore.length, 0, 'nothing of edge-b reaches the cloud while it is cut off');
      restoredAt = Date.now();
      p.links.get('edge-b-1')!.restore();
      wan.restore('edge-b');
      await sleep(8000);
      const whileCut = samples.filter((x) => x.site === 'edge-b' && x.via === 'edge' && x.at > cutAt && x.at < restoredAt).length;
      assert.ok(whileCut > 0, 'edge-b went on deciding at the edge while cut off');
      // Every aggregate edge-b made while cut off (windows that closed at least 1 s before the restore) was held at once
      // when the link came back; edge-b could not report then, but its peak buffer says so once it is back.
      heldAtRestore = [...flows.values()].filter((f) => f.site === 'edge-b' && f.at >= restoredAt && f.windowEnd < restoredAt - 1000).length;
      // The peak it reports must be the outage's (reached while cut off), not an older one that happens to be as large.
      await waitFor(
        async () => {
          const u = (await api.get<Node>('Node', 'edge-b-1')).status?.uplink;
          return (u && u.peakDepthAt >= cutAt && u.peakDepthMessages >= heldAtRestore) || undefined;
        },
        30_000,
        `edge-b-1 to report the outage's peak buffer, at least ${heldAtRestore}`,
      );

      // The dashboard's Smart city page shows it all, live (screenshot test-results/smart-city/20-scenario.png).
      // The latencies are measured until then: a browser on the same two cores is not part of the city.
      measuredUntil = Date.now();

      // Vehicles drive between the two edges with the assistant, a hand-over about every 6 s each, then a rush hour at
      // edge-a (40 lookups a second, 1.6x what its instance answers, with the vehicles' own requests 2x) overflows to the region while the page is open.
      // Deployed now, as the latencies are measured: the assistant's instances are not part of the control loop either.
      const assist = await deploySmartCityVehicles(api, { manifestsDir: MANIFESTS, edges: EDGES });
      assert.deepEqual(assist.map((d) => d.metadata.name).sort(), ['assist', 'city-handovers', 'city-vehicles']);
      vehicles = await startVehicleSim({
        api,
        project: CITY_PROJECT,
        resolvers: Object.fromEntries(EDGES.map((s) => [s, resolverOf(p, `${s}-1`)])),
        vehicles: 6,
        legMs: 6000,
        intervalMs: 400,
        surge: { site: 'edge-a', everyMs: 3_600_000, forMs: RUSH_MS, rate: 40 },
        windowMs: 2000,
      });
      const driving = vehicles;
      await waitFor(() => (driving.handovers.length >= 8 ? true : undefined), 90_000, '8 hand-overs between the edges');
      assert.ok(driving.surgeNow(), 'a rush hour starts');
      const overflowing = async () => ((await api.get<Node>('Node', 'edge-a-1')).status?.overflowing ?? []).some((o) => o.project === CITY_PROJECT && o.service === 'assist');
      await waitFor(async () => (await overflowing()) || undefined, 60_000, 'edge-a-1 to say it overflows assist to the region');
      const overflowedAt = Date.now();
      const browser = await launchBrowser();
      try {
        const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
        await page.goto(`${p.center.localUrl}/`);
        await page.getByLabel('Access token').fill(p.center.adminToken);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.getByRole('heading', { name: 'Overview' }).waitFor();
        const shown = await checkScenarioPage({ page, url: p.center.localUrl, shotDir: resultsDir('smart-city'), vehicles: { handovers: 1, offload: { site: 'edge-a', state: 'overflowing' } } });
        t.diagnostic(`the page shows ${JSON.stringify(shown)}`);
        assert.ok(shown.edgeP99 < shown.cloudP99, `the page: edge p99 ${shown.edgeP99} < cloud p99 ${shown.cloudP99}`);
        assert.ok(shown.ratio >= 10, `the page: data reduction ${shown.ratio}x`);
        assert.equal(shown.intersections, 8);
        shownPeak = shown.peaks['edge-b-1'] ?? 0;
        assert.equal(shown.vehicles.length, 6, 'every vehicle on the map');
        assert.ok(shown.handovers.every((h) => h.counterOk && h.interruptionMs > 0), `hand-overs listed: ${JSON.stringify(shown.handovers)}`);
        assert.ok(EDGES.every((s) => shown.offload[s]), `every edge's offload state: ${JSON.stringify(shown.offload)}`);
        assert.ok(Object.keys(shown.assistP99).length > 0, `the assistant's p99 as vehicles see it: ${JSON.stringify(shown.assistP99)}`);
      } finally {
        await browser.close();
      }
      // The rush hour ends; after the hold, edge-a answers its vehicles itself again.
      await waitFor(async () => (!(await overflowing()) && !driving.stats().surge.active) || undefined, 120_000, 'edge-a-1 back at the edge after the rush hour');
      t.diagnostic(`overflowing for ${((Date.now() - overflowedAt) / 1000).toFixed(1)} s from the page's view on`);
      await waitFor(() => (driving.handovers.length >= 12 ? true : undefined), 60_000, '12 hand-overs');
    } finally {
      const final = await vehicles?.stop();
      if (final) t.diagnostic(`${formatVehicleStats(final)}; failures ${JSON.stringify(final.failures)}`);
      await sim.stop();
    }
    assert.ok(vehicles);
    const moved = vehicles.stats();
    // Every answer a vehicle got counted on from its last one, across every hand-over: the session was never lost,
    // forked or rolled back.
    assert.ok(moved.counter.checked > 100, `answers checked: ${moved.counter.checked}`);
    assert.deepEqual([moved.counter.skipped, moved.counter.repeated], [0, 0], 'no count skipped or repeated');
    const moves = vehicles.handovers;
    assert.ok(moves.every((h) => h.counterOk), 'every hand-over counted on');
    assert.ok(moves.some((h) => h.from === 'edge-a') && moves.some((h) => h.from === 'edge-b'), 'hand-overs both ways');
    assert.ok(moves.some((h) => h.predicted === true), 'the platform saw some coming (the session copied ahead of its vehicle)');
    t.diagnostic(`hand-overs: ${moves.map((h) => `${h.from}->${h.to} ${h.interruptionMs} ms${h.predicted === null ? '' : h.predicted ? ' predicted' : ' unpredicted'}`).join(', ')}`);
    // Each switch is an event that says why, on and off in turn, ending at the edge. Hysteresis: at most one round
    // trip per hold (5 s) of the rush hour (a machine that stalls the rush hour's own sender for a hold, as starting a
    // browser on 2 busy cores can, ends one early: nothing came to overflow).
    const nodeEvents = (await api.list<GedgeEvent>('Event', { selector: 'gedge.io/involved-kind=Node,gedge.io/involved-name=edge-a-1' })).items
      .filter((e) => e.spec.message.startsWith(`Service ${CITY_PROJECT}/assist `))
      .sort((a, b) => Date.parse(a.spec.at) - Date.parse(b.spec.at));
    t.diagnostic(nodeEvents.map((e) => `${e.spec.at} ${e.spec.reason}: ${e.spec.message}`).join('\n'));
    const reasons = nodeEvents.map((e) => e.spec.reason);
    assert.ok(reasons.length >= 2 && reasons.every((r, k) => r === (k % 2 ? 'OverflowEnded' : 'Overflowing')) && reasons.length % 2 === 0, `on and off in turn: ${reasons.join(', ')}`);
    assert.ok(reasons.length / 2 <= RUSH_MS / HOLD_MS, `${reasons.length / 2} round trips over a ${RUSH_MS / 1000} s rush hour with a ${HOLD_MS / 1000} s hold`);
    const stats = statsLines().find((l) => l.final) ?? statsLines().at(-1)!;
    t.diagnostic(formatStats(stats));

    // Control-loop latency, measured by the lights from the reading that decided (after the first 3 s, while
    // every device connects and every rule makes its first decision at once, and before the browser starts).
    const quantiles = (via: string) => {
      const v = samples.filter((x) => x.via === via && x.at > warm && x.at < measuredUntil).map((x) => x.latencyMs).sort((a, b) => a - b);
      return { n: v.length, p50: quantile(v, 0.5), p99: quantile(v, 0.99), max: v.at(-1) };
    };
    const edge = quantiles('edge');
    const cloud = quantiles('cloud');
    t.diagnostic(`control loop: edge ${JSON.stringify(edge)}, cloud ${JSON.stringify(cloud)}`);
    assert.ok(edge.n >= 100 && cloud.n >= 5, `commands: edge ${edge.n}, cloud ${cloud.n}`);
    // The 10 ms bound is the benchmark's (`npm run bench -- smart-city`, several runs, the machine measured beside
    // them), not a test's: on a busy 2-core CI machine one run of 40 s read exactly 10 ms. Here the edge is held to
    // what no machine's load can blur, a quarter of the cloud path's median measured side by side, and the figure
    // is reported with the machine's own wakeup latency.
    t.diagnostic(`machine, idle: loopback round trip between two idle processes ${JSON.stringify(machine)}; edge p99 ${edge.p99} ms (the benchmark's goal: under 10 ms)`);
    assert.ok(edge.p99 < cloud.p50 / 4, `edge p99 ${edge.p99} ms < a quarter of the cloud's p50 ${cloud.p50} ms`);
    assert.ok(cloud.p50 > 2 * oneWay, `the cloud path crosses the WAN twice: p50 ${cloud.p50} ms`);
    assert.ok(edge.p99 < cloud.p50, `edge p99 ${edge.p99} < cloud p50 ${cloud.p50}`);

    // The lights follow the queues: the closed lane makes north-south the longer queue at edge-a/i2, so most of
    // the edge's decisions there give it the longer green (over the run: the last one may follow a moment when
    // east-west was longer).
    const i2 = stats.intersections.find((i) => i.site === 'edge-a' && i.intersection === 'i2')!;
    const nsFirst = i2Splits.filter(Boolean).length;
    t.diagnostic(`edge-a/i2: NS got the longer green in ${nsFirst} of ${i2Splits.length} decisions`);
    assert.ok(nsFirst > i2Splits.length / 2, `edge-a/i2 gives NS more green in ${nsFirst} of ${i2Splits.length} decisions (now ${i2.greenNsMs} vs ${i2.greenEwMs} ms, queues ${JSON.stringify(i2.queues)})`);
    const light = await api.get<Device>('Device', 'edge-a-i2-light', CITY_PROJECT);
    assert.equal(light.status?.reported?.via, 'edge');
    const cloudLight = await waitFor(async () => {
      const d = await api.get<Device>('Device', 'edge-b-i1-light', CITY_PROJECT);
      return d.status?.reported?.via === 'cloud' ? d : undefined;
    }, 15_000, 'i1 reported as decided by the cloud');
    assert.ok(cloudLight);

    // Nothing lost: every aggregate each edge made reached the cloud, once each, none missing in time.
    await waitFor(async () => {
      const nodes = (await api.list<Node>('Node')).items.filter((n) => EDGES.includes(n.spec.site));
      return nodes.every((n) => n.status?.uplink?.depthMessages === 0) || undefined;
    }, 30_000, 'the edges\' uplink queues drained');
    for (const site of EDGES) {
      const made = await waitFor(async () => {
        const s = (await api.get<Rule>('Rule', 'flows', CITY_PROJECT)).status?.nodes?.[`${site}-1`];
        const got = [...flows.values()].filter((f) => f.site === site).length;
        return s && s.out === got ? s.out : undefined;
      }, 20_000, `every aggregate of ${site} in the cloud`);
      for (const int of ['i1', 'i2', 'i3', 'i4']) {
        const ends = [...flows.values()].filter((f) => f.site === site && f.intersection === int).map((f) => f.windowEnd).sort((a, b) => a - b);
        // Loss is checked above (every aggregate the edge made is here, once). A second with no reading made no aggregate:
        // with the vehicles, the rush hour and the browser on the same two cores, the simulator may miss one.
        assert.ok(ends.slice(1).every((t, k) => (t - ends[k]!) % 1000 === 0 && t > ends[k]!), `${site}/${int}: whole seconds, none twice`);
        const gaps = ends.slice(1).filter((t, k) => t - ends[k]! !== 1000);
        if (gaps.length) t.diagnostic(`${site}/${int}: ${gaps.length} second(s) without an aggregate (no reading made one)`);
        assert.ok(gaps.length <= Math.ceil(ends.length / 20), `${site}/${int}: at most one second in 20 without an aggregate (${gaps.length} of ${ends.length})`);
      }
      assert.ok(made > 20, `${site}: ${made} aggregates`);
      const node = await api.get<Node>('Node', `${site}-1`);
      const u = node.status!.uplink!;
      assert.equal(u.droppedOverflow + u.droppedExpired + u.droppedRouteGone, 0, `${site}: no uplink message dropped`);
    }
    const late = [...flows.values()].filter((f) => f.site === 'edge-b' && f.at - f.windowEnd > 5000);
    assert.ok(late.length >= 5, `edge-b's aggregates of the outage arrived afterwards (${late.length})`);
    assert.ok(shownPeak >= heldAtRestore && heldAtRestore >= 5, `the page's peak buffer for edge-b-1 (${shownPeak}) covers the ${heldAtRestore} aggregates held through the outage`);
    assert.deepEqual([...rawAtCloud].sort(), ['i1'], 'only the cloud-decided intersection sends raw readings up');

    // Data reduction, from the edges' own measurements (route city-stats).
    const volume = (await api.messages(CITY_PROJECT, 'city-stats', { limit: 1000 })).items
      .filter((m) => m.topic.endsWith('/volume'))
      .map((m) => JSON.parse(m.payload) as { stream: string; bytes: number });
    const bytes = (stream: string) => volume.filter((v) => v.stream === stream).reduce((s, v) => s + v.bytes, 0);
    assert.ok(bytes('flows') > 0 && bytes('traffic') / bytes('flows') >= 10, `raw ${bytes('traffic')} B vs uplinked ${bytes('flows')} B`);

    // The incident detector saw the closed lane.
    const incidents = (await api.messages(CITY_PROJECT, 'incidents', { limit: 100 })).items.map((m) => m.topic);
    assert.ok(incidents.includes('incidents/edge-a/i2/n'), `incidents: ${[...new Set(incidents)].join(', ')}`);
    // The cloud's city-wide view, made from the aggregates alone.
    const view = (await api.messages(CITY_PROJECT, 'city-view', { limit: 100 })).items.map((m) => m.topic);
    assert.ok(EDGES.every((s) => view.includes(`city/${s}`)), `city view rows: ${[...new Set(view)].join(', ')}`);
  } finally {
    for (const c of clients) await c.endAsync(true);
    await p.close();
    await wan.close();
  }
});
