import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { durationSchema, labelsSchema, nameSchema, parseOrThrow, resourcesSchema } from '../../core/index.ts';
import { MAX_CSR_BYTES } from '../../core/pki.ts';
import type { Tokens } from '../services/tokens.ts';
import type { CertificateAuthority } from '../pki/authority.ts';
import { bodyText } from './resource-routes.ts';
import { manifests } from '../services/manifest-parser.ts';

export const tokenRequestSchema = z
  .object({
    kind: z.enum(['join', 'admin', 'user', 'metrics']).default('join'),
    /** Join tokens: the site the node will belong to (the agent may also name one). */
    site: nameSchema.optional(),
    /** User tokens: the projects it may use (required for them, refused for the other kinds). */
    projects: z.array(nameSchema).min(1).max(100).optional(),
    /** Lifetime; join tokens default to an hour, user and admin tokens to none. */
    ttl: durationSchema({ min: '1m', max: '365d' }).optional(),
    description: z.string().max(256).default(''),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.kind === 'user' && !t.projects) ctx.addIssue({ code: 'custom', path: ['projects'], message: 'a user token needs at least one project' });
    if (t.kind !== 'user' && t.projects) ctx.addIssue({ code: 'custom', path: ['projects'], message: `only user tokens have projects (this is a ${t.kind} token)` });
  });

export const joinRequestSchema = z
  .object({
    name: nameSchema,
    site: nameSchema.optional(),
    labels: labelsSchema.default({}),
    capacity: resourcesSchema,
    /** PEM PKCS #10 request for the node's certificate, signed by the key the node just made. */
    csr: z.string().min(1).max(MAX_CSR_BYTES),
  })
  .strict();

export const renewRequestSchema = z.object({ csr: z.string().min(1).max(MAX_CSR_BYTES) }).strict();

export type { NodePki } from '../services/tokens.ts';

/**
 * Tokens (admin only), the CA (public: it is what clients pin), the join
 * exchange (join token + CSR -> node, credential and certificate) and the
 * renewal of node certificates, over HTTP: the request parsed, then
 * center/services/tokens.ts.
 */
export function registerAuthRoutes(app: FastifyInstance, tokens: Tokens, ca: Pick<CertificateAuthority, 'certPem' | 'pin'>): void {
  app.get('/api/v1/ca', { config: { public: true } }, async () => ({ certificate: ca.certPem, pin: ca.pin }));

  app.post('/api/v1/tokens', async (req, reply) => reply.status(201).send(await tokens.issue(parseOrThrow(tokenRequestSchema, await jsonBody(bodyText(req)), 'token request'))));

  app.get('/api/v1/tokens', async () => ({ items: await tokens.list() }));

  app.delete('/api/v1/tokens/:id', async (req) => tokens.revoke((req.params as { id: string }).id));

  app.post('/api/v1/join', { config: { auth: ['join'] } }, async (req, reply) => {
    const body = parseOrThrow(joinRequestSchema, await jsonBody(bodyText(req)), 'join request');
    return reply.status(201).send(await tokens.join(req.token!, body));
  });

  // Renewal, before expiry over the node's live TLS session or after it within the grace: presenting the old certificate proves the key.
  app.post('/api/v1/node/certificate', { config: { auth: ['node'], expiredCertificate: true } }, async (req, reply) => {
    const body = parseOrThrow(renewRequestSchema, await jsonBody(bodyText(req)), 'renewal request');
    return reply.status(201).send(await tokens.renew(req.token!.subject!, req.certificate!, body.csr));
  });
}

/** A request body (JSON, or YAML), parsed off the event loop. */
export function jsonBody(text: string): Promise<unknown> {
  return manifests.value(text);
}
