import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ApiClient, waitFor, type Device, type DeviceCommand, type GedgeEvent } from '../../core/index.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import type { Store } from '../store/store.ts';
import { startCenter } from '../center.ts';
import { DeviceController } from './device-controller.ts';

const MIN = 60_000;
const RETENTION = 10 * MIN;

const device = (name: string): Device => ({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name, project: 'default', labels: {} }, spec: { site: 'edge-a', description: '', grants: { publish: [], subscribe: [] }, twin: { desired: {} } } });
const command = (name: string, dev: string, ttlMs: number): DeviceCommand => ({ apiVersion: 'gedge.io/v1', kind: 'DeviceCommand', metadata: { name, project: 'default', labels: {} }, spec: { device: dev, topic: 'commands', payload: 'go', ttl: `${ttlMs}ms` } });

async function setup(t: TestContext): Promise<{ store: Store; ctl: DeviceController; clock: { now: number }; t0: number }> {
  const store = await openSqliteStore(':memory:');
  t.after(() => store.close());
  const t0 = Date.now();
  const clock = { now: t0 };
  return { store, ctl: new DeviceController(store, { commandRetentionMs: RETENTION, now: () => clock.now }), clock, t0 };
}

const phases = async (store: Store) => Object.fromEntries((await store.list('DeviceCommand')).items.map((c) => [c.metadata.name, c.status?.phase ?? 'Pending']));
const removals = async (store: Store) => (await store.list('Event')).items.filter((e) => e.spec.reason === 'CommandsRemoved');

test('finished commands are deleted commandRetentionMs after they finished (delivery, or the end of the TTL), with an Event on the device', async (t) => {
  const { store, ctl, clock, t0 } = await setup(t);
  await store.create(device('lamp'));
  await store.create(device('other'));
  await store.create(command('quick', 'lamp', 1000));
  await store.create(command('slow', 'lamp', 2 * MIN));
  await store.create(command('sent', 'lamp', 2 * MIN));
  await store.create(command('elsewhere', 'other', 1000));
  await store.updateStatus('DeviceCommand', 'default', 'sent', { phase: 'Delivered', node: 'n1', deliveredAt: new Date(t0).toISOString() });

  // Nothing is due yet; look again when "quick" expires.
  const first = await ctl.reconcile('default/lamp');
  const within = (ms: number | undefined, lo: number, hi: number) => assert.ok(ms !== undefined && ms >= lo && ms <= hi, `requeue ${ms} not in [${lo}, ${hi}]`);
  within(first?.requeueAfterMs, 1050, 1250);
  assert.deepEqual(await phases(store), { quick: 'Pending', slow: 'Pending', sent: 'Delivered', elsewhere: 'Pending' });

  // Expired is kept through its retention like Delivered.
  clock.now = t0 + 5000;
  await ctl.reconcile('default/lamp');
  assert.deepEqual(await phases(store), { quick: 'Expired', slow: 'Pending', sent: 'Delivered', elsewhere: 'Pending' });

  // "sent" finished at t0: gone after the retention; "quick" finished at its TTL's end, a little later.
  clock.now = t0 + RETENTION + 500;
  const third = await ctl.reconcile('default/lamp');
  assert.deepEqual(await phases(store), { quick: 'Expired', slow: 'Expired', elsewhere: 'Pending' });
  within(third?.requeueAfterMs, 550, 750);
  const [ev] = await removals(store);
  assert.equal(ev?.spec.involved.name, 'lamp');
  assert.equal(ev.metadata.labels?.['gedge.io/involved-kind'], 'Device');
  assert.match(ev.spec.message, /^1 finished command\(s\) deleted 600000 ms after they finished: sent$/);

  // "slow" expired at t0 + 2 min: due 10 minutes later. Another device's commands are its own key's business.
  clock.now = t0 + 2 * MIN + RETENTION + 1000;
  assert.equal(await ctl.reconcile('default/lamp'), undefined, 'nothing left to look at');
  assert.deepEqual(await phases(store), { elsewhere: 'Pending' });
  assert.equal((await removals(store)).length, 2);
  assert.ok((await removals(store)).some((e) => /^2 finished command\(s\) deleted .*: (quick, slow|slow, quick)$/.test(e.spec.message)));

  // Idempotent: again is a no-op, no Event.
  await ctl.reconcile('default/lamp');
  assert.equal((await removals(store)).length, 2);
});

test('a center with a short commandRetentionMs deletes an expired command and one its edge reported delivered', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gedge-device-gc-'));
  const center = await startCenter({ dataDir: dir, port: 0, commandRetentionMs: 300 }, pino({ level: 'silent' }));
  try {
    const api = new ApiClient(center.url, center.adminToken!, center.caCertificate);
    await api.create(device('lamp'));
    await api.create(command('short', 'lamp', 3000));
    await api.create(command('acked', 'lamp', 60_000));

    // The edge's report arrives as a status write; the retention starts from its deliveredAt.
    await center.store.updateStatus('DeviceCommand', 'default', 'acked', { phase: 'Delivered', node: 'n1', deliveredAt: new Date().toISOString() });
    const left = await waitFor(async () => {
      const items = (await api.list<DeviceCommand>('DeviceCommand')).items;
      return !items.some((c) => c.metadata.name === 'acked') && items;
    }, 10_000, 'the delivered command deleted');
    // The status write itself triggered the controller: the other command is still waiting out its TTL.
    assert.deepEqual(left.map((c) => [c.metadata.name, c.status?.phase ?? 'Pending']), [['short', 'Pending']]);
    // It expires after its TTL (3 s), then goes 300 ms later.
    await waitFor(async () => (await api.list('DeviceCommand')).items.length === 0, 10_000, 'the expired command deleted');
    const events = (await api.list<GedgeEvent>('Event', { selector: 'gedge.io/involved-name=lamp' })).items.filter((e) => e.spec.reason === 'CommandsRemoved');
    assert.deepEqual(events.map((e) => e.spec.message.split(': ')[1]).sort(), ['acked', 'short']);
  } finally {
    await center.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
