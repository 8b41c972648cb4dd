import assert from 'node:assert/strict';
import { test } from 'node:test';
import { device, gone, inbox, TestDirectory, until, withBroker } from './test-helpers.ts';

// Delivery in the routing turn (deliver.ts) and QoS 1 routed before its PUBACK (gatekeeper.ts, routeFirst).

const directory = () =>
  new TestDirectory()
    .add('acme', 'pump', 'pump-secret', { publish: ['line/#'] })
    .add('acme', 'panel', 'panel-secret', { subscribe: ['line/#'] })
    .add('acme', 'panel0', 'panel0-secret', { subscribe: ['line/#'] })
    .add('acme', 'late', 'late-secret', { subscribe: ['line/#'] });

test('a QoS 1 burst reaches each subscriber once, in order, at its subscription QoS; retained once', () =>
  withBroker(directory(), {}, async (b) => {
    const panel = await device(b.url, 'acme/panel', 'panel-secret');
    const panel0 = await device(b.url, 'acme/panel0', 'panel0-secret');
    const got = inbox(panel);
    const got0 = inbox(panel0);
    await panel.subscribeAsync('line/#', { qos: 1 });
    await panel0.subscribeAsync('line/#', { qos: 0 });
    const pump = await device(b.url, 'acme/pump', 'pump-secret');
    const n = 300;
    // Not awaited one by one: many PUBLISH packets per TCP segment, acknowledged as a batch.
    await Promise.all(Array.from({ length: n }, (_, i) => pump.publishAsync('line/flow', String(i), { qos: 1 })));
    await pump.publishAsync('line/state', 'on', { qos: 1, retain: true });
    await until(() => got.length === n + 1 && got0.length === n + 1, 'every message at both subscribers');
    const expected = [...Array.from({ length: n }, (_, i) => String(i)), 'on'];
    assert.deepEqual(got.map((m) => m.payload), expected);
    assert.deepEqual(got0.map((m) => m.payload), expected);
    assert.ok(got.every((m) => m.qos === 1));
    assert.ok(got0.every((m) => m.qos === 0), 'downgraded to the subscription QoS');
    assert.equal(b.seen.published.length, n + 1, 'onPublish once per message');
    const late = await device(b.url, 'acme/late', 'late-secret');
    const lateGot = inbox(late);
    await late.subscribeAsync('line/#', { qos: 1 });
    await until(() => lateGot.length === 1, 'the retained message');
    assert.deepEqual(lateGot, [{ topic: 'line/state', payload: 'on', qos: 1, retain: true }]);
    // Nothing more comes (no second routing of any message): a marker published after everything is the next thing the panel sees.
    await pump.publishAsync('line/marker', 'end', { qos: 1 });
    await until(() => got.length === n + 2, 'the marker');
    assert.equal(got.at(-1)!.payload, 'end');
    assert.equal(lateGot.length, 2);
    assert.equal(b.broker.stats().messagesIn, n + 2);
    await Promise.all([panel.endAsync(), panel0.endAsync(), pump.endAsync(), late.endAsync()]);
  }));

test('a QoS 1 message is routed only once onPublish admits it, and acknowledged after that', () => {
  let release: () => void = () => undefined;
  let held = 0;
  return withBroker(directory(), { hooks: { onPublish: () => (held++, new Promise<void>((resolve) => (release = resolve))) } }, async (b) => {
    const panel = await device(b.url, 'acme/panel', 'panel-secret');
    const got = inbox(panel);
    await panel.subscribeAsync('line/#', { qos: 1 });
    const pump = await device(b.url, 'acme/pump', 'pump-secret');
    let acked = false;
    const sent = pump.publishAsync('line/flow', 'x', { qos: 1 }).then(() => (acked = true));
    await until(() => held === 1, 'the hook holding the message');
    // The hook has the message and has not answered: nothing was routed or acknowledged.
    await panel.subscribeAsync('devices/panel/#', { qos: 1 }); // a round trip through the broker's loop
    assert.equal(got.length, 0);
    assert.equal(acked, false);
    release();
    await sent;
    await until(() => got.length === 1, 'the message once admitted');
    assert.deepEqual(got.map((m) => m.payload), ['x']);
    await Promise.all([panel.endAsync(), pump.endAsync()]);
  });
});

test('a QoS 1 message onPublish refuses is neither routed nor acknowledged; the connection closes', () =>
  withBroker(directory(), { hooks: { onPublish: () => Promise.reject(new Error('queue full')) } }, async (b) => {
    const panel = await device(b.url, 'acme/panel', 'panel-secret');
    const got = inbox(panel);
    await panel.subscribeAsync('line/#', { qos: 1 });
    const pump = await device(b.url, 'acme/pump', 'pump-secret');
    let acked = false;
    void pump.publishAsync('line/flow', 'x', { qos: 1 }).then(() => (acked = true), () => undefined);
    await gone(pump);
    // The panel's own round trip: anything routed before the refusal would have reached it by now.
    await panel.subscribeAsync('devices/panel/#', { qos: 1 });
    assert.deepEqual(got, []);
    assert.equal(acked, false);
    await panel.endAsync();
    pump.end(true);
  }));

test('a persistent subscriber gets QoS 1 through the session store, once, also after reconnecting', () =>
  withBroker(directory(), {}, async (b) => {
    const opts = { clean: false };
    let panel = await device(b.url, 'acme/panel', 'panel-secret', opts);
    let got = inbox(panel);
    await panel.subscribeAsync('line/#', { qos: 1 });
    const pump = await device(b.url, 'acme/pump', 'pump-secret');
    await pump.publishAsync('line/flow', 'online', { qos: 1 });
    await until(() => got.length === 1, 'the message while online');
    await panel.endAsync();
    await pump.publishAsync('line/flow', 'offline', { qos: 1 });
    panel = await device(b.url, 'acme/panel', 'panel-secret', opts);
    got = inbox(panel);
    await until(() => got.length === 1, 'the message queued while offline');
    assert.deepEqual(got.map((m) => [m.payload, m.qos]), [['offline', 1]]);
    await pump.publishAsync('line/flow', 'again', { qos: 1 });
    await until(() => got.length === 2, 'the next message');
    assert.deepEqual(got.map((m) => m.payload), ['offline', 'again'], 'the acknowledged "online" is not redelivered');
    await Promise.all([panel.endAsync(), pump.endAsync()]);
  }));
