import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DEFAULT_PROJECT, KINDS, durationSchema, nameSchema, parseOrThrow } from '../../core/index.ts';
import { jsonBody } from './auth-routes.ts';
import { MAX_CSR_BYTES } from '../../core/pki.ts';
import type { DeviceCredentials } from '../services/device-credentials.ts';

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

/** The query of both device routes (also for OpenAPI): the device's project. */
export const deviceQuerySchema = z.object({ project: nameSchema.default(DEFAULT_PROJECT) });

/** Device credentials over HTTP, under the Device they are for: the request parsed, then center/services/device-credentials.ts. */
export function registerDeviceRoutes(app: FastifyInstance, credentials: DeviceCredentials): void {
  const target = (req: { params: unknown; query: unknown }) => ({
    device: parseOrThrow(z.object({ name: nameSchema }), req.params, 'path').name,
    project: parseOrThrow(deviceQuerySchema, req.query, 'query', 'query').project,
  });

  app.post('/api/v1/devices/:name/credentials', async (req, reply) => {
    const { project, device } = target(req);
    const body = parseOrThrow(credentialRequestSchema, typeof req.body === 'string' && req.body.trim() ? await jsonBody(req.body) : {}, 'credential request');
    const issued: z.output<typeof credentialIssuedSchema> = await credentials.issueSecret(project, device, body);
    return reply.status(201).send(issued);
  });

  // An X.509 client certificate instead of a secret: the device keeps its key; the edge checks the certificate offline.
  app.post('/api/v1/devices/:name/certificates', async (req, reply) => {
    const { project, device } = target(req);
    const body = parseOrThrow(certificateRequestSchema, await jsonBody(typeof req.body === 'string' ? req.body : ''), 'certificate request');
    return reply.status(201).send(await credentials.issueCertificate(project, device, body));
  });
}
