import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Device, DeviceCredential, EdgeObject, Route } from '../../core/index.ts';
import { objectKey } from '../sync.ts';
import { EdgeObjects } from './edge-objects.ts';
import { ackVersion, mergeReported, twinDelta, twinTopicOf } from './twin.ts';

const SECRET = 'A'.repeat(43);
const device = (name: string, project = 'default'): Device => ({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name, project, labels: {} }, spec: { site: 'edge-a', description: '', grants: { publish: ['city/#'], subscribe: [] }, twin: { desired: {} } } });
const cred = (id: string, dev: string, o: { project?: string; expiresAt?: string; secret?: string } = {}): DeviceCredential => ({
  apiVersion: 'gedge.io/v1',
  kind: 'DeviceCredential',
  metadata: { name: id, project: o.project ?? 'default', labels: {} },
  spec: { device: dev, hash: createHash('sha256').update(o.secret ?? SECRET).digest('hex'), description: '', ...(o.expiresAt ? { expiresAt: o.expiresAt } : {}) },
});
const route = (name: string, sites?: string[]): Route => ({ apiVersion: 'gedge.io/v1', kind: 'Route', metadata: { name, project: 'default', labels: {} }, spec: { topic: 'x/#', ...(sites ? { sites } : {}), sink: { type: 'table' } } });
const byKey = (...os: EdgeObject[]) => new Map(os.map((o) => [objectKey(o), o]));

test('a device signs in with gdg_<credential>_<secret> of one of its unexpired credentials, and only of its own project', () => {
  let now = Date.parse('2026-01-01T00:00:00Z');
  const e = new EdgeObjects(() => now);
  e.apply(byKey(device('lamp'), device('lamp', 'other'), cred('00000000000000a1', 'lamp', { expiresAt: '2026-01-02T00:00:00Z' }), cred('00000000000000b2', 'lamp', { project: 'other', secret: 'B'.repeat(43) })), [], false);
  assert.deepEqual(e.authenticate('default', 'lamp', `gdg_00000000000000a1_${SECRET}`), { project: 'default', device: 'lamp', grants: { publish: ['city/#'], subscribe: [] } });
  assert.equal(e.authenticate('default', 'lamp', `gdg_00000000000000a1_${'C'.repeat(43)}`), null, 'wrong secret');
  assert.equal(e.authenticate('default', 'lamp', `gdg_00000000000000b2_${'B'.repeat(43)}`), null, "another project's credential");
  assert.equal(e.authenticate('default', 'lamp', SECRET), null, 'not a token');
  assert.equal(e.authenticate('default', 'ghost', `gdg_00000000000000a1_${SECRET}`), null, 'a credential of another device');
  // A device that roams says so: its broker brings its session when it connects (broker/roaming.ts).
  e.apply(byKey({ ...device('car'), spec: { ...device('car').spec, roaming: { sites: ['edge-b'] } } } as Device), [], false);
  assert.equal(e.lookup('default', 'car')?.roaming, true);
  assert.equal(e.lookup('default', 'lamp')?.roaming, undefined);
  now = Date.parse('2026-01-03T00:00:00Z');
  assert.equal(e.authenticate('default', 'lamp', `gdg_00000000000000a1_${SECRET}`), null, 'expired');
});

test('removals and snapshots report what was revoked; unchanged puts change nothing; routes filter by site', () => {
  const e = new EdgeObjects();
  const c1 = e.apply(byKey(device('lamp'), cred('00000000000000a1', 'lamp'), route('all'), route('b-only', ['edge-b'])), [], false);
  assert.equal(c1.devices.length, 1);
  assert.ok(c1.routesChanged);
  const again = e.apply(byKey(device('lamp')), [], false);
  assert.deepEqual(again, { revoked: [], commands: [], devices: [], routesChanged: false, rulesChanged: false });
  assert.deepEqual(e.routes('edge-a').map((r) => r.metadata.name), ['all']);
  const revoked = e.apply(new Map(), [objectKey(cred('00000000000000a1', 'lamp'))], false);
  assert.deepEqual(revoked.revoked, ['default/lamp']);
  assert.equal(e.authenticate('default', 'lamp', `gdg_00000000000000a1_${SECRET}`), null);
  const snap = e.apply(byKey(route('all')), [], true);
  assert.deepEqual(snap.revoked, ['default/lamp']);
  assert.equal(e.lookup('default', 'lamp'), null);
});

test('twin topics, reported merges (null removes, version only grows) and acks', () => {
  assert.deepEqual(twinTopicOf('devices/lamp/twin/reported'), { device: 'lamp', leaf: 'reported' });
  assert.deepEqual(twinTopicOf('devices/lamp/twin/ack'), { device: 'lamp', leaf: 'ack' });
  assert.deepEqual(twinTopicOf('devices/lamp/twin/get'), { device: 'lamp', leaf: 'get' });
  assert.equal(twinTopicOf('devices/lamp/twin/desired'), undefined);
  assert.equal(twinTopicOf('devices/lamp/twin/get/accepted'), undefined);
  assert.equal(twinTopicOf('devices/lamp/twin/reported/x'), undefined);
  const s1 = mergeReported({ reported: { a: 1, b: 2 }, reportedVersion: 5000, desiredAckVersion: 0 }, Buffer.from('{"b":null,"c":3}'), 100);
  assert.deepEqual(s1, { reported: { a: 1, c: 3 }, reportedVersion: 5001, desiredAckVersion: 0 });
  assert.equal(mergeReported(s1, Buffer.from('{}'), 9000).reportedVersion, 9000);
  assert.throws(() => mergeReported(s1, Buffer.from('[1]'), 1), TypeError);
  assert.throws(() => mergeReported(s1, Buffer.from('not json'), 1));
  assert.equal(ackVersion(Buffer.from('{"version":3}')), 3);
  assert.equal(ackVersion(Buffer.from('{"version":-1}')), undefined);
  assert.equal(ackVersion(Buffer.from('nope')), undefined);
});

test('the twin delta: desired keys the reported document does not match, nested objects key by key', () => {
  assert.deepEqual(twinDelta({ a: 1, b: 'x', c: [1, 2] }, { a: 1, b: 'y', c: [1, 2] }), { b: 'x' });
  assert.deepEqual(twinDelta({ cfg: { rate: 5, mode: 'eco' }, on: true }, { cfg: { rate: 5, mode: 'max', extra: 1 } }), { cfg: { mode: 'eco' }, on: true });
  assert.deepEqual(twinDelta({ cfg: { rate: 5 } }, { cfg: 'flat' }), { cfg: { rate: 5 } }, 'an object where the report has none: all of it');
  assert.deepEqual(twinDelta({ a: null }, {}), { a: null });
  assert.deepEqual(twinDelta({}, { a: 1 }), {}, 'keys only reported are not in the delta');
});
