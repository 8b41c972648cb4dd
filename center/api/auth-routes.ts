import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ForbiddenError, durationMs, durationSchema, NotFoundError, ValidationError, labelsSchema, nameSchema, parseOrThrow, resourcesSchema, type Node } from '../../core/index.ts';
import { issueToken } from '../auth/tokens.ts';
import { revokeNodeCredentials, type TokenHolds } from '../auth/token-holds.ts';
import { issueNodeCertificate, type NodeCertOptions, type Presented } from '../auth/node-certs.ts';
import type { CertificateAuthority } from '../pki/authority.ts';
import { MAX_CSR_BYTES, parseCsr } from '../../core/pki.ts';
import type { Store } from '../store/store.ts';
import { bodyText } from './resource-routes.ts';
import { manifests } from '../services/manifest-parser.ts';

const JOIN_TTL_S = 3600;

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

export interface NodePki {
  ca: CertificateAuthority;
  certs: NodeCertOptions;
  /** A node renewed its certificate while connected: its live connection now lasts as long as the new one. */
  renewed(node: string, cert: Presented): void;
}

/**
 * Tokens (admin only), the CA (public: it is what clients pin), the join
 * exchange (join token + CSR -> node, credential and certificate) and the
 * renewal of node certificates.
 */
export function registerAuthRoutes(app: FastifyInstance, store: Store, holds: TokenHolds, pki: NodePki): void {
  app.get('/api/v1/ca', { config: { public: true } }, async () => ({ certificate: pki.ca.certPem, pin: pki.ca.pin }));

  app.post('/api/v1/tokens', async (req, reply) => {
    const body = parseOrThrow(tokenRequestSchema, await jsonBody(bodyText(req)), 'token request');
    if (body.kind === 'join' && body.site && !(await store.get('Site', undefined, body.site))) {
      throw new ValidationError(`site "${body.site}" does not exist`, { details: [{ path: 'site', message: 'unknown site' }] });
    }
    const missing = [];
    for (const [i, p] of (body.projects ?? []).entries()) if (!(await store.get('Project', undefined, p))) missing.push({ path: `projects[${i}]`, message: `project "${p}" does not exist` });
    if (missing.length) throw new ValidationError(missing.length === 1 ? missing[0]!.message : `${missing.length} projects do not exist`, { details: missing });
    const issued = await issueToken(store, body.kind, {
      projects: body.projects,
      subject: body.kind === 'join' ? (body.site ?? null) : null,
      ttlMs: body.ttl !== undefined ? durationMs(body.ttl) : body.kind === 'join' ? JOIN_TTL_S * 1000 : null,
      description: body.description,
    });
    // A new node pins the center's CA by this (kubeadm's discovery hash): it then trusts no other.
    return reply.status(201).send({ token: issued.token, ...publicView(issued.record), ...(body.kind === 'join' ? { caPin: pki.ca.pin } : {}) });
  });

  app.get('/api/v1/tokens', async () => ({ items: (await store.tokens.list()).map(publicView) }));

  app.delete('/api/v1/tokens/:id', async (req) => {
    const id = (req.params as { id: string }).id;
    if (!(await store.tokens.delete(id))) throw new NotFoundError(`token ${id} not found`);
    // What is open in its name ends now, not at its next request.
    holds.revoke(id, 'token revoked');
    return { deleted: id };
  });

  app.post('/api/v1/join', { config: { auth: ['join'] } }, async (req, reply) => {
    const body = parseOrThrow(joinRequestSchema, await jsonBody(bodyText(req)), 'join request');
    const join = req.token!;
    const site = join.subject ?? body.site;
    if (!site) throw new ValidationError('the node needs a site', { details: [{ path: 'site', message: 'required (the join token names none)' }] });
    if (join.subject && body.site && body.site !== join.subject) {
      throw new ForbiddenError(`this join token is for site "${join.subject}"`, { details: [{ path: 'site', message: `must be "${join.subject}"` }] });
    }
    if (!(await store.get('Site', undefined, site))) throw new ValidationError(`site "${site}" does not exist`, { details: [{ path: 'site', message: 'unknown site' }] });
    if (await store.get('Node', undefined, body.name)) {
      throw new ValidationError(`node "${body.name}" already exists`, { details: [{ path: 'name', message: 'taken; pick another name or delete the old node' }] });
    }
    // The request is checked before the token is spent: a bad CSR changes nothing.
    await parseCsr(body.csr, 'csr');
    // Single use: only one of two racing joins can mark the token.
    if (!(await store.tokens.markUsed(join.id, new Date().toISOString()))) {
      throw new ForbiddenError('join token already used', { details: [{ path: 'authorization', message: 'join tokens are single-use' }] });
    }
    const node: Node = {
      apiVersion: 'gedge.io/v1',
      kind: 'Node',
      metadata: { name: body.name, labels: { ...body.labels, 'gedge.io/site': site } },
      spec: { site, capacity: body.capacity, unschedulable: false, taints: [] },
      status: { phase: 'Pending', conditions: [] },
    };
    // No credential of an earlier node of this name survives (one left by a crash, say): the name is bound afresh.
    await revokeNodeCredentials(store, holds, body.name, `node "${body.name}" joined again`);
    // The certificate first: a request it refuses leaves no node behind.
    const { issued } = await issueNodeCertificate(store, pki.ca, body.name, body.csr, pki.certs);
    const created = await store.create(node);
    const credential = await issueToken(store, 'node', { subject: body.name, description: `node ${body.name}` });
    return reply.status(201).send({ node: created, credential: credential.token, certificate: issued.pem, ca: pki.ca.certPem });
  });

  // Renewal, before expiry over the node's live TLS session or after it within the grace: presenting the old certificate proves the key.
  app.post('/api/v1/node/certificate', { config: { auth: ['node'], expiredCertificate: true } }, async (req, reply) => {
    const body = parseOrThrow(renewRequestSchema, await jsonBody(bodyText(req)), 'renewal request');
    const node = req.token!.subject!;
    const presented = req.certificate!;
    const { issued, record } = await issueNodeCertificate(store, pki.ca, node, body.csr, { ...pki.certs, keep: presented.record.id });
    pki.renewed(node, { record, notAfter: issued.notAfter.getTime() });
    return reply.status(201).send({ certificate: issued.pem, ca: pki.ca.certPem, notAfter: issued.notAfter.toISOString() });
  });
}

function publicView(t: { id: string; kind: string; description: string; subject: string | null; createdAt: string; expiresAt: string | null; usedAt: string | null; projects: string[] }) {
  return { id: t.id, kind: t.kind, description: t.description, subject: t.subject, projects: t.projects, createdAt: t.createdAt, expiresAt: t.expiresAt, usedAt: t.usedAt };
}

/** A request body (JSON, or YAML), parsed off the event loop. */
export function jsonBody(text: string): Promise<unknown> {
  return manifests.value(text);
}
