import { createHash, randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { KINDS, durationMs, durationSchema, NotFoundError, nameSchema, parseOrThrow, type DeviceCredential, DEFAULT_PROJECT } from '../../core/index.ts';
import type { Store } from '../store/store.ts';
import { jsonBody } from './auth-routes.ts';
import { MAX_CSR_BYTES } from '../../core/pki.ts';
import type { CertificateAuthority } from '../pki/authority.ts';

export const credentialRequestSchema = z
  .object({
    description: z.string().max(1024).default(''),
    /** Unset: the credential does not expire (delete it to revoke). */
    ttl: durationSchema({ min: '1m', max: '3650d' }).optional(),
  })
  .strict();

export const certificateRequestSchema = z
  .object({
    /** PEM PKCS #10 request, signed by the device's own key (which never leaves it). */
    csr: z.string().min(1).max(MAX_CSR_BYTES),
    description: z.string().max(1024).default(''),
    /** Lifetime; default one year. */
    ttl: durationSchema({ min: '1m', max: '3650d' }).default('365d'),
  })
  .strict();

/** The issuing endpoint's answer: the stored DeviceCredential and what the device signs in with (the password only here). */
export const credentialIssuedSchema = z
  .object({
    credential: KINDS.DeviceCredential.schema,
    /** The MQTT client id: `<device>` in the default project, `<project>/<device>` elsewhere. */
    clientId: z.string(),
    username: z.string(),
    /** `gdg_<credential name>_<secret>`; not stored, not shown again. */
    password: z.string(),
  })
  .strict();

/**
 * Device credentials: the center generates a random secret, keeps only its
 * sha256 (in a DeviceCredential, synced to the device's edge so it can
 * authenticate the device offline) and returns the secret once. The device
 * signs in to its edge broker with client id `<project>/<device>` and the
 * secret as password.
 */
export function registerDeviceRoutes(app: FastifyInstance, store: Store, ca: CertificateAuthority): void {
  app.post('/api/v1/projects/:project/devices/:device/credentials', async (req, reply) => {
    const params = parseOrThrow(z.object({ project: nameSchema, device: nameSchema }), req.params, 'path');
    const body = parseOrThrow(credentialRequestSchema, typeof req.body === 'string' && req.body.trim() ? await jsonBody(req.body) : {}, 'credential request');
    if (!(await store.get('Device', params.project, params.device))) {
      throw new NotFoundError(`device "${params.device}" not found in project "${params.project}"`, { details: [{ path: 'device', message: 'not found' }] });
    }
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const credential: DeviceCredential = {
      apiVersion: 'gedge.io/v1',
      kind: 'DeviceCredential',
      metadata: { name: id, project: params.project, labels: { 'gedge.io/device': params.device } },
      spec: {
        device: params.device,
        hash: createHash('sha256').update(secret).digest('hex'),
        description: body.description,
        ...(body.ttl ? { expiresAt: new Date(Date.now() + durationMs(body.ttl)).toISOString() } : {}),
      },
    };
    const created = await store.create(credential);
    const clientId = params.project === DEFAULT_PROJECT ? params.device : `${params.project}/${params.device}`;
    const issued: z.output<typeof credentialIssuedSchema> = { credential: created as DeviceCredential, clientId, username: clientId, password: `gdg_${id}_${secret}` };
    return reply.status(201).send(issued);
  });

  // An X.509 client certificate instead of a secret: the device keeps its key; the edge checks the certificate offline.
  app.post('/api/v1/projects/:project/devices/:device/certificates', async (req, reply) => {
    const params = parseOrThrow(z.object({ project: nameSchema, device: nameSchema }), req.params, 'path');
    const body = parseOrThrow(certificateRequestSchema, await jsonBody(bodyTextOf(req.body)), 'certificate request');
    if (!(await store.get('Device', params.project, params.device))) {
      throw new NotFoundError(`device "${params.device}" not found in project "${params.project}"`, { details: [{ path: 'device', message: 'not found' }] });
    }
    const issued = await ca.issue(body.csr, { commonName: `${params.project}/${params.device}`, unit: 'device', lifetimeMs: durationMs(body.ttl), usage: 'client' });
    const credential: DeviceCredential = {
      apiVersion: 'gedge.io/v1',
      kind: 'DeviceCredential',
      // Named by the certificate's serial: the edge finds the record from the certificate alone.
      metadata: { name: issued.serial, project: params.project, labels: { 'gedge.io/device': params.device } },
      spec: { device: params.device, certificate: { fingerprint: issued.fingerprint, notAfter: issued.notAfter.toISOString() }, expiresAt: issued.notAfter.toISOString(), description: body.description },
    };
    const created = await store.create(credential);
    const clientId = params.project === DEFAULT_PROJECT ? params.device : `${params.project}/${params.device}`;
    return reply.status(201).send({ credential: created, clientId, certificate: issued.pem, ca: ca.certPem });
  });
}

function bodyTextOf(body: unknown): string {
  return typeof body === 'string' ? body : '';
}
