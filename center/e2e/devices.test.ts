import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { GedgeError, type DeviceCommand, type DeviceCredential } from '../../core/index.ts';
import { removeDir, startCenterProcess, waitFor } from '../../testkit/index.ts';

const device = (name: string, site: string, desired: Record<string, unknown> = {}) =>
  JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name }, spec: { site, grants: { publish: ['city/#'] }, twin: { desired } } });
const command = (name: string, dev: string, ttlMs = 60_000) =>
  ({ apiVersion: 'gedge.io/v1', kind: 'DeviceCommand', metadata: { name, project: 'default', labels: {} }, spec: { device: dev, topic: 'commands', payload: { light: 'red' }, ttl: `${ttlMs}ms` } }) as DeviceCommand;

async function refusal(p: Promise<unknown>): Promise<{ status: number; code: string; message: string; details: { path: string; message: string }[] }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof GedgeError) return { status: e.status, code: e.code, message: e.message, details: e.details };
    throw e;
  }
  throw new Error('expected a refusal');
}

test('devices through the API: credentials issued once and stored hashed, admission rules, cascade on delete, commands expire', async () => {
  const center = await startCenterProcess({});
  try {
    const api = center.api;
    await api.apply(device('loop-1', 'edge-a', { interval: 5 }));

    // A credential: the password is returned once; only its sha256 is stored.
    const issued = await api.issueDeviceCredential('default', 'loop-1', { description: 'bench unit' });
    assert.equal(issued.clientId, 'loop-1');
    assert.match(issued.password, /^gdg_[a-f0-9]{16}_[A-Za-z0-9_-]{43}$/);
    const cred = (await api.get<DeviceCredential>('DeviceCredential', issued.credential.metadata.name)) as DeviceCredential;
    assert.equal(cred.spec.device, 'loop-1');
    const secret = issued.password.slice('gdg_'.length + 16 + 1); // base64url: the secret itself may contain '_'
    assert.equal(cred.spec.hash, createHash('sha256').update(secret).digest('hex'));
    assert.ok(!JSON.stringify(cred).includes(secret), 'the secret is not stored');
    assert.equal((await refusal(api.issueDeviceCredential('default', 'nope'))).status, 404);

    // Admission: credentials only through the issuing endpoint; commands need their device; a device keeps its site.
    const byApply = await refusal(api.apply(JSON.stringify({ ...cred, metadata: { ...cred.metadata, name: 'ffffffffffffffff', revision: undefined } })));
    assert.equal(byApply.status, 422);
    assert.match(byApply.details[0]!.message, /issued by POST \/api\/v1\/devices\/loop-1\/credentials\?project=default /);
    const orphan = await refusal(api.create(command('c-0', 'ghost')));
    assert.deepEqual([orphan.status, orphan.details[0]!.path], [422, 'spec.device']);
    const moved = await refusal(api.apply(device('loop-1', 'edge-b')));
    assert.deepEqual([moved.status, moved.details[0]!.path], [422, 'spec.site']);
    assert.match(moved.details[0]!.message, /fixed once created \("edge-a"\)/);
    const both = await refusal(api.apply([device('ok', 'edge-a'), JSON.stringify(command('c-1', 'ghost'))].join('\n---\n')));
    assert.equal(both.details[0]!.path, '[1].spec.device');
    assert.equal(await api.get('Device', 'ok').catch(() => undefined), undefined, 'nothing of a refused apply is written');

    // A command not delivered within its TTL expires (no edge serves edge-a here).
    await api.create(command('c-2', 'loop-1', 1000));
    const expired = await waitFor(async () => {
      const c = (await api.get<DeviceCommand>('DeviceCommand', 'c-2')) as DeviceCommand;
      return c.status?.phase === 'Expired' ? c : undefined;
    }, 10_000, 'the command expired');
    assert.match(expired.status!.message!, /not delivered within 1000ms/);

    // Deleting the device takes its credentials and commands with it.
    await api.create(command('c-3', 'loop-1'));
    await api.delete('Device', 'loop-1');
    await waitFor(async () => (await api.list('DeviceCredential')).items.length === 0 && (await api.list('DeviceCommand')).items.length === 0, 10_000, 'credentials and commands gone');
  } finally {
    await center.process.stop();
    removeDir(center.dataDir);
  }
});
