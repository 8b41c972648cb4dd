import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { ApiClient } from '../../core/index.ts';
import { metricSample, promtoolProblems, startPlatform, waitFor, type Platform } from '../../testkit/index.ts';
import { tableRows } from '../uplink/test-helpers.ts';

const EDGE = 'edge-a-1';

/** The value of one series in a Prometheus text (NaN when absent). */
const sample = metricSample;

/**
 * A link that drops packets says nothing: no FIN, no RST. Both ends must
 * notice the silence themselves (the agent by its pings, the center by its
 * silence watch), and once the link heals the data path must resume at
 * once, with the retry, the outage and the catch-up counted where an
 * operator scrapes them. A link that resets what crosses it is redialled
 * within a second however long it lasts.
 */
describe('recovery from a cut between an edge and the center', () => {
  let p: Platform;
  let client: mqtt.MqttClient | undefined;
  let metricsToken: string;
  let published = 0;
  const api = () => p.center.api;
  const centerMetrics = async () => (await api().raw('GET', '/metrics')).text();
  const scrape = async () => {
    const res = await new ApiClient(p.center.url, metricsToken, p.center.ca).raw('GET', `/api/v1/nodes/${EDGE}/metrics`);
    return res.status === 200 ? res.text() : undefined;
  };
  const publish = async (count: number) => {
    for (let i = 0; i < count; i++) await client!.publishAsync('traffic/i1/loop', JSON.stringify({ n: published++ }), { qos: 1 });
  };
  const uplinked = async () => (await tableRows(api(), 'flows')).map((r) => (JSON.parse(r.payload) as { n: number }).n);
  const allUplinked = () => waitFor(async () => ((await uplinked()).length === published ? true : undefined), 30_000, `all ${published} rows uplinked`);

  before(async () => {
    // NotReady only after a minute: what the center notices here is the silence, not the missing heartbeats.
    p = await startPlatform({ heartbeatMs: 300, notReadyAfterMs: 60_000, agents: [{ name: EDGE, site: 'edge-a', viaLink: true, mqtt: true }] });
    await api().apply(
      [
        { apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: 'loop-1' }, spec: { site: 'edge-a', grants: { publish: ['traffic/#'] } } },
        { apiVersion: 'gedge.io/v1', kind: 'Route', metadata: { name: 'flows' }, spec: { topic: 'traffic/#', sink: { type: 'table' } } },
      ]
        .map((d) => JSON.stringify(d))
        .join('\n---\n'),
    );
    metricsToken = (await api().createToken({ kind: 'metrics' })).token;
    const { password } = await api().issueDeviceCredential('default', 'loop-1');
    client = await waitFor(() => mqtt.connectAsync(`mqtt://127.0.0.1:${p.agents.get(EDGE)!.mqttPort!}`, { clientId: 'loop-1', username: 'loop-1', password, reconnectPeriod: 0 }, false).catch(() => undefined), 20_000, 'loop-1 signed in');
    await publish(1);
    await allUplinked();
  });
  after(async () => {
    await client?.endAsync();
    await p?.close();
  });

  test('a blackholed link: the center drops the silent agent before the heal; after it the uplink resumes and the agent counts the retry, the outage and the catch-up', async () => {
    const before = (await waitFor(scrape, 20_000, 'a scrape before the cut'))!;
    assert.equal(sample(before, 'gedge_uplink_outages_total'), 0);
    assert.equal(sample(before, 'gedge_agent_catchups_total{mode="delta"}') + sample(before, 'gedge_agent_catchups_total{mode="snapshot"}'), 1, 'the catch-up after start');
    assert.equal(sample(await centerMetrics(), 'gedge_agent_disconnects_total{reason="silent"}'), 0);

    const agent = p.agents.get(EDGE)!.process;
    const mark = agent.lines.length;
    const centerMark = p.center.process.lines.length;
    const link = p.links.get(EDGE)!;
    link.cut('blackhole');
    // Published while the link is down: safe in the edge's queue, acknowledged to the device.
    await publish(3);

    // The center notices on its own, while the link is still down: nothing closed the socket.
    const silent = await waitFor(async () => {
      const text = await centerMetrics();
      return sample(text, 'gedge_agents_connected') === 0 && sample(text, 'gedge_agent_disconnects_total{reason="silent"}') >= 1 ? text : undefined;
    }, 30_000, 'the center closing the silent connection');
    assert.deepEqual(promtoolProblems(silent), []);
    assert.ok(link.isCut, 'still cut');
    const closed = p.center.process.lines.slice(centerMark).find((l) => l.msg === 'agent silent; closing its connection');
    assert.equal(closed?.node, EDGE, JSON.stringify(p.center.process.lines.slice(centerMark)));
    const targets = (await (await new ApiClient(p.center.url, metricsToken, p.center.ca).raw('GET', '/api/v1/metrics/targets')).json()) as { labels: Record<string, string> }[];
    assert.equal(targets.find((t) => t.labels.node === EDGE)?.labels.connected, 'false');
    // And so does the agent, by its unanswered pings.
    const lost = await agent.waitForLine((l) => l.event === 'disconnected', 30_000, mark);
    assert.match(String(lost.reason), /nothing from the center for \d+ ms/);

    link.restore();
    await allUplinked();
    assert.deepEqual(await uplinked(), [0, 1, 2, 3], 'once each, in order');
    await waitFor(async () => sample(await centerMetrics(), 'gedge_agents_connected') === 1, 30_000, 'the agent connected again');

    const after = (await waitFor(async () => {
      const text = await scrape();
      return text && sample(text, 'gedge_agent_center_connected') === 1 ? text : undefined;
    }, 30_000, 'a scrape after the heal'))!;
    assert.ok(sample(after, 'gedge_uplink_send_retries_total') >= 1, 'the batch sent into the dead link was tried again');
    assert.equal(sample(after, 'gedge_uplink_outages_total'), 1);
    assert.ok(sample(after, 'gedge_uplink_outage_seconds_total') > 0);
    assert.equal(sample(after, 'gedge_agent_center_disconnects_total'), 1);
    assert.equal(sample(after, 'gedge_agent_catchups_total{mode="delta"}'), sample(before, 'gedge_agent_catchups_total{mode="delta"}') + 1, 'caught up again, by the changes it missed');
    assert.equal(sample(after, 'gedge_uplink_queue_messages'), 0);
    assert.deepEqual(promtoolProblems(after), []);
  });

  test('a link that resets what crosses it: the agent redials within a second however long it lasts, and the uplink drains after the heal', async () => {
    const agent = p.agents.get(EDGE)!.process;
    const mark = agent.lines.length;
    const closedBefore = sample(await centerMetrics(), 'gedge_agent_disconnects_total{reason="closed"}');
    const link = p.links.get(EDGE)!;
    link.cut('reset');
    await publish(3);
    // Six redials: on the backoff alone the fourth would wait 2-4 s and the sixth 8-16 s.
    const redials = () => agent.events('reconnecting', mark);
    await waitFor(() => redials().length >= 6, 60_000, 'six redials of the reset link');
    const [first, ...refused] = redials();
    assert.ok((first!.inMs as number) <= 1000, JSON.stringify(first));
    for (const r of refused) assert.ok(r.refused === true && (r.inMs as number) <= 1000, JSON.stringify(r));
    link.restore();
    await allUplinked();
    assert.deepEqual(await uplinked(), [0, 1, 2, 3, 4, 5, 6]);
    const after = (await waitFor(async () => {
      const text = await scrape();
      return text && sample(text, 'gedge_agent_center_connected') === 1 ? text : undefined;
    }, 30_000, 'a scrape after the heal'))!;
    assert.equal(sample(after, 'gedge_uplink_outages_total'), 2);
    assert.equal(sample(after, 'gedge_agent_center_disconnects_total'), 2);
    assert.equal(sample(await centerMetrics(), 'gedge_agent_disconnects_total{reason="closed"}'), closedBefore + 1, 'the reset closed it');
  });
});
