import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import mqtt from 'mqtt';
import { ApiClient, type Instance, type Node } from '../../core/index.ts';
import { freePort, metricSample, promtoolProblems, startPlatform, testService, waitFor, type Platform } from '../../testkit/index.ts';

const EDGE = 'edge-m-1';

/**
 * The agent is a list of supervised modules (core/module.ts): one that
 * cannot start (its MQTT port is taken) leaves the rest running, shows as
 * down in the agent's metrics, and is started again with backoff; once it
 * runs, the center is told its address and devices are served.
 */
describe('an agent whose edge broker cannot listen', () => {
  let p: Platform;
  let port: number;
  let squatter: net.Server | undefined;
  const scrape = async () => {
    const res = await new ApiClient(p.center.url, p.center.adminToken, p.center.ca).raw('GET', `/api/v1/nodes/${EDGE}/metrics`);
    assert.equal(res.status, 200);
    return res.text();
  };
  const sample = metricSample;

  before(async () => {
    port = await freePort();
    squatter = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => squatter!.listen(port, '127.0.0.1', resolve));
    p = await startPlatform({ heartbeatMs: 300, agents: [{ name: EDGE, site: 'edge-m', args: ['--mqtt-listen', `127.0.0.1:${port}`] }] });
  });
  after(async () => {
    squatter?.close();
    await p?.close();
  });

  test('keeps its workloads and its channel, says the edge module is down, and serves devices once the port is free', async () => {
    // The node joined and is Ready (startPlatform waited): the channel runs without the broker.
    await p.center.api.apply(JSON.stringify(testService('web')));
    await waitFor(async () => (await p.instances('app=web')).some((i: Instance) => i.status?.phase === 'Running'), 30_000, 'web running on the node');

    const down = await scrape();
    assert.equal(sample(down, 'gedge_module_up{module="edge"}'), 0, 'the edge module backs off');
    for (const m of ['state', 'identity', 'workloads', 'probing', 'channel']) assert.equal(sample(down, `gedge_module_up{module="${m}"}`), 1, m);
    assert.deepEqual(promtoolProblems(down), []);
    assert.equal((await p.center.api.get<Node>('Node', EDGE)).status?.mqtt, undefined, 'no broker address told yet');

    await new Promise((resolve) => squatter!.close(resolve));
    squatter = undefined;
    const up = await waitFor(async () => {
      const text = await scrape();
      return sample(text, 'gedge_module_up{module="edge"}') === 1 && text;
    }, 60_000, 'the edge module running again');
    assert.ok(sample(up, 'gedge_module_restarts_total{module="edge"}') >= 1);

    // The agent introduced itself again with its broker's address.
    await waitFor(async () => (await p.center.api.get<Node>('Node', EDGE)).status?.mqtt?.tcp === port, 30_000, 'the center knows the broker');
    await p.center.api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: 'late-1' }, spec: { site: 'edge-m', grants: { publish: ['traffic/#'] } } }));
    const { password } = await p.center.api.issueDeviceCredential('default', 'late-1');
    const device = await waitFor(() => mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'late-1', username: 'late-1', password, reconnectPeriod: 0 }, false).catch(() => undefined), 30_000, 'the device signed in');
    await device.publishAsync('traffic/x/loop', '{"speed":3}', { qos: 1 });
    await device.endAsync();
    // Still the same node and workload: nothing else restarted.
    const again = await scrape();
    assert.equal(sample(again, 'gedge_module_restarts_total{module="workloads"}'), 0);
    assert.equal(sample(again, 'gedge_agent_center_connected'), 1);
  });
});
