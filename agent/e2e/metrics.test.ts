import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { ApiClient, tlsFetch, type Instance, type Rule } from '../../core/index.ts';
import { metricSample, RawNode, promtoolProblems, startPlatform, testService, waitFor, type Platform } from '../../testkit/index.ts';
import { tableRows } from '../uplink/test-helpers.ts';

const EDGE = 'edge-a-1';

/**
 * Every agent has a /metrics, scraped through the center with an admin or
 * metrics token (GET /api/v1/nodes/{name}/metrics): its uplink queue, edge
 * broker, devices, rules and workloads, besides the process. The text
 * passes promtool; a node answers only the scrapes asked of it, and a
 * scraper learns a node is silent or gone from a JSON error, not a hang.
 */
describe("an agent's metrics, through the center", () => {
  let p: Platform;
  let metricsToken: string;
  const scrape = (node: string, token = metricsToken) => new ApiClient(p.center.url, token, p.center.ca).raw('GET', `/api/v1/nodes/${node}/metrics`);

  before(async () => {
    p = await startPlatform({ heartbeatMs: 300, agents: [{ name: EDGE, site: 'edge-a', mqtt: true }] });
    await p.center.api.apply(
      [
        { apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: 'loop-1' }, spec: { site: 'edge-a', grants: { publish: ['traffic/#'] } } },
        { apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: 'idle' }, spec: { site: 'edge-a', grants: { publish: ['traffic/#'] } } },
        { apiVersion: 'gedge.io/v1', kind: 'Route', metadata: { name: 'flows' }, spec: { topic: 'traffic/#', sink: { type: 'table' } } },
        { apiVersion: 'gedge.io/v1', kind: 'Rule', metadata: { name: 'slow' }, spec: { sql: 'SELECT speed FROM "traffic/+/loop" WHERE speed < 15', actions: [{ log: {} }] } },
        testService('web'),
      ]
        .map((d) => JSON.stringify(d))
        .join('\n---\n'),
    );
    metricsToken = (await p.center.api.createToken({ kind: 'metrics' })).token;
    await waitFor(async () => (await p.instances('app=web')).some((i: Instance) => i.status?.phase === 'Running'), 20_000, 'web running');
    await waitFor(async () => (await p.center.api.get<Rule>('Rule', 'slow')).status?.nodes[EDGE]?.phase === 'Running', 20_000, 'the rule running at the edge');
    const { password } = await p.center.api.issueDeviceCredential('default', 'loop-1');
    const device = await waitFor(() => mqtt.connectAsync(`mqtt://127.0.0.1:${p.agents.get(EDGE)!.mqttPort!}`, { clientId: 'loop-1', username: 'loop-1', password, reconnectPeriod: 0 }, false).catch(() => undefined), 20_000, 'loop-1 signed in');
    for (const speed of [10, 20, 5]) await device.publishAsync('traffic/i1/loop', JSON.stringify({ speed }), { qos: 1 });
    await waitFor(async () => (await tableRows(p.center.api, 'flows')).length === 3 || undefined, 20_000, 'the three rows uplinked');
    await device.endAsync();
  });
  after(async () => {
    await p?.close();
  });

  test('uplink queue, broker, devices, rules, workloads and the process, in a text promtool accepts', async () => {
    const res = await scrape(EDGE);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const sample = (series: string) => metricSample(text, series);
    assert.equal(sample('gedge_agent_center_connected'), 1);
    assert.equal(sample('gedge_uplink_enqueued_total'), 3);
    assert.equal(sample('gedge_uplink_delivered_total'), 3, 'the center acknowledged all three');
    assert.equal(sample('gedge_uplink_queue_messages'), 0);
    assert.equal(sample('gedge_uplink_dropped_total{reason="overflow"}'), 0);
    assert.equal(sample('gedge_broker_messages_received_total'), 3);
    assert.equal(sample('gedge_broker_denied_total{what="auth"}'), 0);
    assert.equal(sample('gedge_devices{state="connected"}') + sample('gedge_devices{state="disconnected"}'), 2, "the site's two devices");
    assert.equal(sample('gedge_rule_messages_total{project="default",rule="slow",outcome="in"}'), 3);
    assert.equal(sample('gedge_rule_messages_total{project="default",rule="slow",outcome="out"}'), 2, 'two of the three were slow');
    assert.equal(sample('gedge_rule_latency_seconds_count{project="default",rule="slow"}'), 3);
    assert.equal(sample('gedge_instances{phase="Running"}'), 1);
    assert.ok(sample('process_cpu_user_seconds_total') > 0, "the process's own, under the standard names");
    assert.deepEqual(promtoolProblems(text), []);
  });

  test("Prometheus finds every node's target through the center (http_sd_configs) and scrapes it there", async () => {
    const api = new ApiClient(p.center.url, metricsToken, p.center.ca);
    const res = await api.raw('GET', '/api/v1/metrics/targets');
    assert.equal(res.status, 200);
    const targets = (await res.json()) as { targets: string[]; labels: Record<string, string> }[];
    const edge = targets.find((t) => t.labels.node === EDGE);
    assert.deepEqual(edge, { targets: [new URL(p.center.url).host], labels: { __metrics_path__: `/api/v1/nodes/${EDGE}/metrics`, node: EDGE, site: 'edge-a', connected: 'true' } });
    // As Prometheus would: the target's address, the path from the label, the token from its authorization config.
    const scraped = await api.raw('GET', edge!.labels.__metrics_path__!);
    assert.equal(scraped.status, 200);
    assert.match(await scraped.text(), /^gedge_agent_center_connected 1$/m);
  });

  test('admin and metrics tokens may scrape, nobody else; an unknown node is a 404', async () => {
    assert.equal((await scrape(EDGE, p.center.adminToken)).status, 200);
    const user = await p.center.api.createToken({ kind: 'user', projects: ['default'] });
    const denied = await scrape(EDGE, user.token);
    assert.equal(denied.status, 403);
    assert.equal((await new ApiClient(p.center.url, user.token, p.center.ca).raw('GET', '/api/v1/metrics/targets')).status, 403, 'nor list the targets');
    assert.equal(((await denied.json()) as { code: string }).code, 'Forbidden');
    const anonymous = (await tlsFetch({ ca: p.center.ca })(`${p.center.url}/api/v1/nodes/${EDGE}/metrics`, {})) as Response;
    assert.equal(anonymous.status, 401);
    const missing = await scrape('nowhere-1');
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { code: 'NotFound', message: 'Node "nowhere-1" not found', details: [{ path: 'name', message: 'not found' }] });
    assert.equal((await scrape('Bad_Name')).status, 422);
  });

  test('scrapes of a node share one request; only the node asked, under the id asked, answers; a silent node times out, a gone one is a 503', async () => {
    const nodeB = await RawNode.join(p.center, 'node-b', 'edge-a');
    const b = await RawNode.connect(p.center.url, nodeB);
    await b.hello();
    try {
      const scrapes = [scrape('node-b'), scrape('node-b'), scrape('node-b')];
      const asked = await waitFor(() => b.received.find((m) => m.t === 'metrics.scrape'), 10_000, 'the scrape asked of node-b');
      assert.equal(asked.t, 'metrics.scrape');
      // A wrong id, and (below) the real agent's scrape answered by node-b: neither counts.
      b.send({ t: 'metrics', id: asked.id + 1, text: 'forged 1\n' });
      await b.roundTrip();
      b.send({ t: 'metrics', id: asked.id, text: '# TYPE node_b_up gauge\nnode_b_up 1\n' });
      const answers = await Promise.all(scrapes);
      assert.deepEqual(await Promise.all(answers.map((r) => r.text())), Array(3).fill('# TYPE node_b_up gauge\nnode_b_up 1\n'));
      assert.equal(b.received.filter((m) => m.t === 'metrics.scrape').length, 1, 'one request for the three scrapes');

      const real = scrape(EDGE);
      b.send({ t: 'metrics', id: asked.id, text: 'forged 2\n' });
      assert.doesNotMatch(await (await real).text(), /forged/);
      const refused = await (await p.center.api.raw('GET', '/metrics')).text();
      assert.match(refused, /gedge_agent_refused_total\{type="metrics"\} [2-9]/);

      const silent = await scrape('node-b');
      assert.equal(silent.status, 504);
      assert.equal(((await silent.json()) as { code: string }).code, 'Timeout');
      b.close();
      await waitFor(async () => (await scrape('node-b')).status === 503 || undefined, 10_000, 'node-b offline');
      const gone = await scrape('node-b');
      assert.equal(((await gone.json()) as { code: string }).code, 'AgentOffline');
    } finally {
      b.close();
    }
  });
});
