import { ForbiddenError, NotFoundError, ValidationError, durationMs, type Node, type Resources } from '../../core/index.ts';
import { parseCsr } from '../../core/pki.ts';
import { issueToken } from '../auth/tokens.ts';
import { revokeNodeCredentials, type TokenHolds } from '../auth/token-holds.ts';
import { issueNodeCertificate, type NodeCertOptions, type Presented } from '../auth/node-certs.ts';
import type { CertificateAuthority } from '../pki/authority.ts';
import type { Store, TokenRecord } from '../store/store.ts';

const JOIN_TTL_MS = 3600_000;

export interface NodePki {
  ca: CertificateAuthority;
  certs: NodeCertOptions;
  /** A node renewed its certificate while connected: its live connection now lasts as long as the new one. */
  renewed(node: string, cert: Presented): void;
}

/** A token as anyone may see it: never its secret or hash. */
export type TokenView = Omit<TokenRecord, 'hash'>;

/**
 * Tokens and node identities, apart from HTTP (center/api/auth-routes.ts
 * adapts them): issuing, listing and revoking tokens (admins), the join
 * exchange (a single-use join token and a CSR for a node, its credential
 * and its certificate) and node certificate renewal. Secrets are returned
 * once, at issue; only their hashes are kept.
 */
export class Tokens {
  constructor(
    private readonly store: Store,
    private readonly holds: TokenHolds,
    private readonly pki: NodePki,
  ) {}

  /** A new token; a join token's site and a user token's projects must exist. Join tokens come with the CA's pin and last an hour unless told. */
  async issue(req: { kind: 'join' | 'admin' | 'user' | 'metrics'; site?: string; projects?: string[]; ttl?: string; description: string }): Promise<TokenView & { token: string; caPin?: string }> {
    if (req.kind === 'join' && req.site && !(await this.store.get('Site', undefined, req.site))) {
      throw new ValidationError(`site "${req.site}" does not exist`, { details: [{ path: 'site', message: 'unknown site' }] });
    }
    const missing = [];
    for (const [i, p] of (req.projects ?? []).entries()) if (!(await this.store.get('Project', undefined, p))) missing.push({ path: `projects[${i}]`, message: `project "${p}" does not exist` });
    if (missing.length) throw new ValidationError(missing.length === 1 ? missing[0]!.message : `${missing.length} projects do not exist`, { details: missing });
    const issued = await issueToken(this.store, req.kind, {
      projects: req.projects,
      subject: req.kind === 'join' ? (req.site ?? null) : null,
      ttlMs: req.ttl !== undefined ? durationMs(req.ttl) : req.kind === 'join' ? JOIN_TTL_MS : null,
      description: req.description,
    });
    // A new node pins the center's CA by this (kubeadm's discovery hash): it then trusts no other.
    return { token: issued.token, ...view(issued.record), ...(req.kind === 'join' ? { caPin: this.pki.ca.pin } : {}) };
  }

  async list(): Promise<TokenView[]> {
    return (await this.store.tokens.list()).map(view);
  }

  /** Deletes the token; what is open in its name (streams, an agent's connection) ends now, not at its next request. */
  async revoke(id: string): Promise<{ deleted: string }> {
    if (!(await this.store.tokens.delete(id))) throw new NotFoundError(`token ${id} not found`);
    this.holds.revoke(id, 'token revoked');
    return { deleted: id };
  }

  /**
   * The join exchange. Everything is checked before the token is spent (a
   * bad CSR, an unknown site, a taken name change nothing); only one of two
   * racing joins can spend it. A credential of an earlier node of the name
   * does not survive.
   */
  async join(joinToken: TokenRecord, req: { name: string; site?: string; labels: Record<string, string>; capacity: Resources; csr: string }): Promise<{ node: Node; credential: string; certificate: string; ca: string }> {
    const site = joinToken.subject ?? req.site;
    if (!site) throw new ValidationError('the node needs a site', { details: [{ path: 'site', message: 'required (the join token names none)' }] });
    if (joinToken.subject && req.site && req.site !== joinToken.subject) {
      throw new ForbiddenError(`this join token is for site "${joinToken.subject}"`, { details: [{ path: 'site', message: `must be "${joinToken.subject}"` }] });
    }
    if (!(await this.store.get('Site', undefined, site))) throw new ValidationError(`site "${site}" does not exist`, { details: [{ path: 'site', message: 'unknown site' }] });
    if (await this.store.get('Node', undefined, req.name)) {
      throw new ValidationError(`node "${req.name}" already exists`, { details: [{ path: 'name', message: 'taken; pick another name or delete the old node' }] });
    }
    await parseCsr(req.csr, 'csr');
    if (!(await this.store.tokens.markUsed(joinToken.id, new Date().toISOString()))) {
      throw new ForbiddenError('join token already used', { details: [{ path: 'authorization', message: 'join tokens are single-use' }] });
    }
    const node: Node = {
      apiVersion: 'gedge.io/v1',
      kind: 'Node',
      metadata: { name: req.name, labels: { ...req.labels, 'gedge.io/site': site } },
      spec: { site, capacity: req.capacity, unschedulable: false, taints: [] },
      status: { phase: 'Pending', conditions: [] },
    };
    await revokeNodeCredentials(this.store, this.holds, req.name, `node "${req.name}" joined again`);
    // The certificate first: a request it refuses leaves no node behind.
    const { issued } = await issueNodeCertificate(this.store, this.pki.ca, req.name, req.csr, this.pki.certs);
    const created = await this.store.create(node);
    const credential = await issueToken(this.store, 'node', { subject: req.name, description: `node ${req.name}` });
    return { node: created, credential: credential.token, certificate: issued.pem, ca: this.pki.ca.certPem };
  }

  /** A node's new certificate for `csr`; `presented` (its current one, or an expired one within the grace) proves the key and stays valid beside the new one, while other older ones are deleted. */
  async renew(node: string, presented: Presented, csr: string): Promise<{ certificate: string; ca: string; notAfter: string }> {
    const { issued, record } = await issueNodeCertificate(this.store, this.pki.ca, node, csr, { ...this.pki.certs, keep: presented.record.id });
    this.pki.renewed(node, { record, notAfter: issued.notAfter.getTime() });
    return { certificate: issued.pem, ca: this.pki.ca.certPem, notAfter: issued.notAfter.toISOString() };
  }
}

/** An allowlist, not a spread: a field added to the record later is not shown until it is added here. */
function view(t: TokenRecord): TokenView {
  return { id: t.id, kind: t.kind, description: t.description, subject: t.subject, projects: t.projects, createdAt: t.createdAt, expiresAt: t.expiresAt, usedAt: t.usedAt };
}
