import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import type { Device, DeviceCredential, Node } from '../../core/index.ts';
import { spawnGedge, startPlatform, waitFor } from '../../testkit/index.ts';
import { NoBrokerError, SIM_CREDENTIAL_DESCRIPTION, startTrafficSim, type TrafficStats } from '../index.ts';

const PROJECT = 'city';

test('gedge sim traffic: real devices on the edge broker, sensor data at the rate asked, commands and desired twins drive the lights', async () => {
  const p = await startPlatform({ heartbeatMs: 300, agents: [{ name: 'edge-a-1', site: 'edge-a', mqtt: true }] });
  try {
    const api = p.center.api;
    await waitFor(async () => (await api.get<Node>('Node', 'edge-a-1')).status?.mqtt, 15_000, 'the broker in the node status');

    // A site without a broker is refused by name, before anything connects.
    await api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Site', metadata: { name: 'edge-z' }, spec: { tier: 'edge' } }));
    await assert.rejects(startTrafficSim({ api, project: PROJECT, sites: ['edge-a', 'edge-z'], devices: 12 }), (e: unknown) => e instanceof NoBrokerError && /edge-z/.test(e.message) && !/edge-a/.test(e.message));

    const sim = await startTrafficSim({ api, project: PROJECT, sites: ['edge-a'], devices: 12, rate: 5, seed: 7 });
    let stopped: TrafficStats | undefined;
    try {
      assert.deepEqual(sim.intersections.map((i) => `${i.site}/${i.id}`), ['edge-a/i1', 'edge-a/i2']);
      assert.equal(sim.stats().devices.connected, 12);

      // A monitor of our own: a device of the project allowed to read the traffic and to send signals.
      await api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: 'monitor', project: PROJECT }, spec: { site: 'edge-a', grants: { subscribe: ['traffic/#'], publish: ['signals/#'] } } }));
      const cred = await api.issueDeviceCredential(PROJECT, 'monitor');
      const port = p.agents.get('edge-a-1')!.mqttPort!;
      const monitor = await waitFor(
        () => mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: cred.clientId, username: cred.clientId, password: cred.password, protocolVersion: 5, reconnectPeriod: 0 }, false).catch(() => undefined),
        15_000,
        'the monitor signed in',
      );
      const got: { topic: string; at: number; body: Record<string, unknown> }[] = [];
      monitor.on('message', (topic, payload) => got.push({ topic, at: Date.now(), body: JSON.parse(payload.toString()) as Record<string, unknown> }));
      await monitor.subscribeAsync('traffic/#', { qos: 1 });

      // Sensor data at the rate asked: 8 loops and 2 cameras, 5 messages a second each, so 3 s of it is 120 loop and
      // 30 camera messages. Timed by the ts each message carries (when the sim published it): a broker slowed by a
      // busy machine delays the messages, not the measure. The sim keeps to its period and skips the ticks it falls
      // behind on instead of bursting, so it cannot run ahead of the rate by more than a tick or two, and only a
      // starved sim falls far behind: each count must take 2 to 6 s to publish (1.5x to half the rate asked).
      await waitFor(() => got.some((m) => m.topic.endsWith('/camera')), 10_000, 'camera messages');
      const from = Date.now();
      const sentBefore = sim.stats().messages.sent;
      const tsOf = (m: { body: Record<string, unknown> }) => m.body.ts as number;
      const since = (kind: string) => got.filter((m) => m.topic.endsWith(`/${kind}`) && tsOf(m) >= from).sort((a, b) => tsOf(a) - tsOf(b));
      const [loops, cameras] = await waitFor(
        () => {
          const [l, c] = [since('loop'), since('camera')];
          return l.length >= 120 && c.length >= 30 ? ([l, c] as const) : undefined;
        },
        20_000,
        '120 loop and 30 camera messages published since the mark',
      );
      for (const [what, list, n] of [['loop', loops, 120], ['camera', cameras, 30]] as const) {
        const took = tsOf(list[n - 1]!) - from;
        assert.ok(took >= 2000 && took <= 6000, `${n} ${what} messages took ${took} ms to publish (3000 at the rate asked)`);
      }
      const loop = loops.find((m) => m.topic === 'traffic/edge-a/i2/w/loop')!;
      assert.ok(loop, 'every approach of every intersection publishes');
      assert.deepEqual(Object.keys(loop.body).sort(), ['approach', 'count', 'intersection', 'occupancy', 'queue', 'site', 'speedKmh', 'ts']);
      assert.deepEqual([loop.body.site, loop.body.intersection, loop.body.approach], ['edge-a', 'i2', 'w']);
      assert.deepEqual(Object.keys(cameras[0]!.body.queue as object).sort(), ['e', 'n', 's', 'w']);
      const rate = sim.stats().messages;
      assert.ok(rate.sent - sentBefore >= 120, `the sim counted ${rate.sent - sentBefore} messages since the mark`);
      // The sim's own count over its last whole seconds: 50 asked; bounded as above (no more than a tick or two over, at least half).
      assert.ok(rate.perSecond >= 25 && rate.perSecond <= 60, `per second: ${rate.perSecond}`);
      assert.ok(rate.bytes > rate.sent * 50);

      // A command on the signal topic changes the light at once; its state carries the actuation latency.
      const sensorTs = Date.now();
      await monitor.publishAsync('signals/edge-a/i1/set', JSON.stringify({ greenNsMs: 40_000, phase: 'EW', sensorTs, via: 'edge' }), { qos: 1 });
      const state = await waitFor(() => got.find((m) => m.topic === 'traffic/edge-a/i1/light' && m.body.via === 'edge'), 5000, 'the light state after the command');
      assert.equal(state.body.greenNsMs, 40_000);
      assert.equal(state.body.phase, 'EW');
      assert.equal(typeof state.body.latencyMs, 'number');
      assert.ok((state.body.latencyMs as number) >= 0 && (state.body.latencyMs as number) < 1000, `latency ${String(state.body.latencyMs)}`);
      let s = sim.stats();
      assert.equal(s.commands.edge.received, 1);
      assert.equal(s.commands.edge.latencyMs.count, 1);
      assert.equal(s.intersections.find((i) => i.intersection === 'i1')!.greenNsMs, 40_000);
      assert.equal(s.intersections.find((i) => i.intersection === 'i2')!.greenNsMs, 20_000);

      // Out of bounds: clamped and counted; not JSON: counted as invalid.
      await monitor.publishAsync('signals/edge-a/i2/set', JSON.stringify({ greenEwMs: 1000, sensorTs: Date.now() }), { qos: 1 });
      await monitor.publishAsync('signals/edge-a/i2/set', 'green please', { qos: 1 });
      s = await waitFor(() => {
        const x = sim.stats();
        return x.commands.unknown.received === 2 ? x : undefined;
      }, 5000, 'the clamped and the invalid command');
      assert.equal(s.commands.unknown.clamped, 1);
      assert.equal(s.commands.unknown.invalid, 1);
      assert.equal(s.intersections.find((i) => i.intersection === 'i2')!.greenEwMs, 5000);

      // The light reports its state in its twin; a desired twin from the cloud drives it too.
      await waitFor(async () => (await api.get<Device>('Device', 'edge-a-i1-light', PROJECT)).status?.reported.greenNsMs === 40_000, 10_000, 'the reported twin in the center');
      const light = await api.get<Device>('Device', 'edge-a-i1-light', PROJECT);
      await api.apply(JSON.stringify({ ...light, status: undefined, metadata: { name: light.metadata.name, project: PROJECT, labels: light.metadata.labels }, spec: { ...light.spec, twin: { desired: { greenEwMs: 30_000, sensorTs: Date.now() } } } }));
      await waitFor(() => got.find((m) => m.topic === 'traffic/edge-a/i1/light' && m.body.via === 'cloud' && m.body.greenEwMs === 30_000), 10_000, 'the light state after the desired twin');
      assert.equal(sim.stats().commands.cloud.received, 1);
      assert.equal(sim.stats().commands.cloud.latencyMs.count, 1);
      await waitFor(async () => (await api.get<Device>('Device', 'edge-a-i1-light', PROJECT)).status?.desiredAckVersion === light.metadata.generation! + 1, 10_000, 'the desired version acknowledged');
      await monitor.endAsync();
    } finally {
      stopped = await sim.stop();
    }

    // stop(): every device disconnected, the run's credentials revoked.
    assert.equal(stopped.devices.connected, 0);
    assert.deepEqual(await sim.done, stopped);
    await waitFor(async () => (await api.list<Device>('Device', { project: PROJECT })).items.filter((d) => d.metadata.name !== 'monitor').every((d) => d.status?.connected === false), 10_000, 'the devices disconnected in the center');
    const simCredentials = async (): Promise<number> => (await api.list<DeviceCredential>('DeviceCredential', { project: PROJECT })).items.filter((c) => c.spec.description === SIM_CREDENTIAL_DESCRIPTION).length;
    assert.equal(await simCredentials(), 0);

    // Provisioning again changes nothing that is there (the desired twin stays) and runs for its duration.
    const again = await startTrafficSim({ api, project: PROJECT, sites: ['edge-a'], devices: 12, rate: 5, durationMs: 1500 });
    const last = await again.done;
    assert.ok(last.messages.sent > 0);
    assert.equal(last.intersections.find((i) => i.intersection === 'i1')!.greenEwMs, 30_000, 'the retained desired twin applied on start');
    assert.equal(last.commands.cloud.latencyMs.count, 0, 'no latency for a retained document');
    assert.equal((await api.list<Device>('Device', { project: PROJECT })).items.length, 13);
    assert.equal(await simCredentials(), 0);

    // The CLI: stats lines while it runs, a clean stop and a summary on SIGTERM.
    const cli = spawnGedge('sim', ['sim', 'traffic', '--project', PROJECT, '--sites', 'edge-a', '--devices', '6', '--rate', '2', '--stats-every', '500ms', '-o', 'json'], { GEDGE_SERVER: p.center.url, GEDGE_TOKEN: p.center.adminToken, GEDGE_CA_FILE: p.center.caFile, GEDGE_CONFIG: '/nonexistent/gedge-config' });
    try {
      await cli.waitForLine((l) => typeof l.messages === 'object' && (l.messages as { sent: number }).sent > 0, 30_000);
    } finally {
      await cli.stop();
    }
    assert.equal(await cli.exited, 0);
    const summary = cli.lines.find((l) => l.final === true) as (TrafficStats & { final: true }) | undefined;
    assert.ok(summary, 'a final summary');
    assert.equal(summary.devices.total, 6);
    assert.equal(summary.devices.connected, 0);
  } finally {
    await p.close();
  }
});
