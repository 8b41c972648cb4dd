import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ForbiddenError, NotFoundError, ValidationError } from '../../core/index.ts';
import { newKeyAndCsr } from '../../core/pki.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import type { Store } from '../store/store.ts';
import { TokenHolds } from '../auth/token-holds.ts';
import { CertificateAuthority } from '../pki/authority.ts';
import { Tokens } from './tokens.ts';
import { DeviceCredentials } from './device-credentials.ts';

const capacity = { cpu: 1, memoryMiB: 512, diskMiB: 0, accelerators: {} };

/** A store with one site and one project, a CA, and the services on them: no HTTP anywhere. */
async function withServices(fn: (s: { store: Store; tokens: Tokens; holds: TokenHolds; ca: CertificateAuthority }) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gedge-tokens-'));
  const store = await openSqliteStore(':memory:');
  const holds = new TokenHolds();
  try {
    const ca = await CertificateAuthority.open(join(dir, 'pki'));
    await store.apply([
      { apiVersion: 'gedge.io/v1', kind: 'Site', metadata: { name: 'edge-a', labels: {} }, spec: { tier: 'edge' } },
      { apiVersion: 'gedge.io/v1', kind: 'Project', metadata: { name: 'p1', labels: {} }, spec: {} },
    ] as never);
    const tokens = new Tokens(store, holds, { ca, certs: { lifetimeMs: 3_600_000, graceMs: 600_000 }, renewed: () => undefined });
    await fn({ store, tokens, holds, ca });
  } finally {
    holds.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a join token, without HTTP: what is wrong with a join leaves the token unspent; the first good join spends it, a second is refused', () =>
  withServices(async ({ store, tokens }) => {
    const issued = await tokens.issue({ kind: 'join', site: 'edge-a', description: 'rack 3' });
    assert.match(issued.caPin ?? '', /^sha256:/);
    assert.equal(JSON.stringify(await tokens.list()).includes(issued.token.split('_')[2]!), false, 'the secret is never listed');
    const record = (await store.tokens.list()).find((t) => t.id === issued.id)!;
    const { csrPem } = await newKeyAndCsr('n1');

    await assert.rejects(tokens.join(record, { name: 'n1', site: 'edge-b', labels: {}, capacity, csr: csrPem }), ForbiddenError, 'another site than the token names');
    await assert.rejects(tokens.join(record, { name: 'n1', labels: {}, capacity, csr: 'not a csr' }), /csr/i);
    assert.equal((await store.tokens.list()).find((t) => t.id === issued.id)!.usedAt, null, 'still unspent');

    const joined = await tokens.join(record, { name: 'n1', labels: { rack: '3' }, capacity, csr: csrPem });
    assert.equal(joined.node.spec.site, 'edge-a');
    assert.equal(joined.node.metadata.labels['gedge.io/site'], 'edge-a');
    assert.match(joined.credential, /^gdg_/);
    assert.match(joined.certificate, /BEGIN CERTIFICATE/);
    const { csrPem: again } = await newKeyAndCsr('n2');
    await assert.rejects(tokens.join(record, { name: 'n2', labels: {}, capacity, csr: again }), /already used/);
  }));

test('token requests name what does not exist; revoking ends what is open in its name', () =>
  withServices(async ({ tokens, holds }) => {
    await assert.rejects(tokens.issue({ kind: 'join', site: 'nowhere', description: '' }), ValidationError);
    await assert.rejects(tokens.issue({ kind: 'user', projects: ['p1', 'p9', 'p8'], description: '' }), (e: ValidationError) => e.details.map((d) => d.path).join() === 'projects[1],projects[2]');
    const user = await tokens.issue({ kind: 'user', projects: ['p1'], ttl: '1h', description: 'ci' });
    assert.equal(user.caPin, undefined);
    assert.ok(user.expiresAt);
    const ended: string[] = [];
    holds.hold({ id: user.id, expiresAt: null } as never, (why) => ended.push(why));
    assert.deepEqual(await tokens.revoke(user.id), { deleted: user.id });
    assert.deepEqual(ended, ['token revoked']);
    await assert.rejects(tokens.revoke(user.id), NotFoundError);
  }));

test("device credentials, without HTTP: a secret shown once and kept hashed; a certificate from the device's CSR; an unknown device is refused", () =>
  withServices(async ({ store, ca }) => {
    await store.create({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: 'lamp', project: 'p1', labels: {} }, spec: { site: 'edge-a', grants: { publish: [], subscribe: [] } } } as never);
    const devices = new DeviceCredentials(store, ca);
    const secret = await devices.issueSecret('p1', 'lamp', { description: 'bench', ttl: '1h' });
    assert.equal(secret.clientId, 'p1/lamp');
    assert.match(secret.password, new RegExp(`^gdg_${secret.credential.metadata.name}_`));
    const stored = JSON.stringify(await store.get('DeviceCredential', 'p1', secret.credential.metadata.name));
    assert.equal(stored.includes(secret.password.split('_')[2]!), false, 'only the hash is stored');
    const { csrPem } = await newKeyAndCsr('p1/lamp');
    const cert = await devices.issueCertificate('p1', 'lamp', { csr: csrPem, description: '', ttl: '30d' });
    assert.match(cert.certificate, /BEGIN CERTIFICATE/);
    assert.equal(cert.credential.spec.certificate?.fingerprint !== undefined, true);
    await assert.rejects(devices.issueSecret('p1', 'ghost', { description: '' }), NotFoundError);
  }));
