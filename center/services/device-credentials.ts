import { createHash, randomBytes } from 'node:crypto';
import { DEFAULT_PROJECT, NotFoundError, durationMs, type DeviceCredential } from '../../core/index.ts';
import type { Store } from '../store/store.ts';
import type { CertificateAuthority } from '../pki/authority.ts';

/** What a device signs in with: its MQTT client id (`<device>` in the default project, `<project>/<device>` elsewhere) and username. */
export interface DeviceSignIn {
  credential: DeviceCredential;
  clientId: string;
  username: string;
}

/**
 * Device credentials, apart from HTTP (center/api/device-routes.ts adapts
 * them). A secret: the center generates it, keeps only its sha256 (in a
 * DeviceCredential, synced to the device's edge so it can authenticate the
 * device offline) and returns it once. A certificate: the device keeps its
 * key and sends a CSR; the credential is named by the certificate's serial,
 * so the edge finds it from the certificate alone. Deleting the credential
 * revokes either. Who may call is the route's access rule (admins).
 */
export class DeviceCredentials {
  constructor(
    private readonly store: Store,
    private readonly ca: CertificateAuthority,
  ) {}

  /** A new secret for the device; `ttl` unset: it does not expire. */
  async issueSecret(project: string, device: string, o: { description: string; ttl?: string }): Promise<DeviceSignIn & { password: string }> {
    await this.mustExist(project, device);
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const created = await this.store.create({
      apiVersion: 'gedge.io/v1',
      kind: 'DeviceCredential',
      metadata: { name: id, project, labels: { 'gedge.io/device': device } },
      spec: {
        device,
        hash: createHash('sha256').update(secret).digest('hex'),
        description: o.description,
        ...(o.ttl ? { expiresAt: new Date(Date.now() + durationMs(o.ttl)).toISOString() } : {}),
      },
    } satisfies DeviceCredential);
    return { ...signIn(project, device, created), password: `gdg_${id}_${secret}` };
  }

  /** An X.509 client certificate for the device from its CSR, signed by the center's CA. */
  async issueCertificate(project: string, device: string, o: { csr: string; description: string; ttl: string }): Promise<DeviceSignIn & { certificate: string; ca: string }> {
    await this.mustExist(project, device);
    const issued = await this.ca.issue(o.csr, { commonName: `${project}/${device}`, unit: 'device', lifetimeMs: durationMs(o.ttl), usage: 'client' });
    const created = await this.store.create({
      apiVersion: 'gedge.io/v1',
      kind: 'DeviceCredential',
      metadata: { name: issued.serial, project, labels: { 'gedge.io/device': device } },
      spec: { device, certificate: { fingerprint: issued.fingerprint, notAfter: issued.notAfter.toISOString() }, expiresAt: issued.notAfter.toISOString(), description: o.description },
    } satisfies DeviceCredential);
    return { ...signIn(project, device, created), certificate: issued.pem, ca: this.ca.certPem };
  }

  private async mustExist(project: string, device: string): Promise<void> {
    if (!(await this.store.get('Device', project, device))) {
      throw new NotFoundError(`device "${device}" not found in project "${project}"`, { details: [{ path: 'device', message: 'not found' }] });
    }
  }
}

function signIn(project: string, device: string, credential: DeviceCredential): DeviceSignIn {
  const clientId = project === DEFAULT_PROJECT ? device : `${project}/${device}`;
  return { credential, clientId, username: clientId };
}
