import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { CertificateExpiredError, UnauthorizedError, nowIso } from '../../core/index.ts';
import { parseCsr } from '../../core/pki.ts';
import { certificateFacts } from '../../core/ca-pin.ts';
import type { CertificateAuthority, Issued } from '../pki/authority.ts';
import type { Store, TokenRecord } from '../store/store.ts';

/**
 * A node's identity on the channel is its certificate. Each certificate the
 * center issues is recorded beside the tokens (kind `certificate`, id = its
 * serial, hash = its fingerprint, subject = the node), so listing and
 * revoking work as for tokens, and deleting the Node deletes them with its
 * credential. A record outlives its certificate by the renewal grace: an
 * agent that was offline past expiry may still renew within it.
 */
export interface NodeCertOptions {
  lifetimeMs: number;
  graceMs: number;
}

export interface Presented {
  record: TokenRecord;
  notAfter: number;
}

const need = (message: string) => new UnauthorizedError(message, { details: [{ path: 'certificate', message }] });

/**
 * The certificate this node presented on `socket`, checked: signed by our CA,
 * issued to this node, still on record (not revoked or superseded), and
 * current; with `grace`, an expired one is accepted while its record lasts
 * (for renewal only).
 */
export async function presentedCertificate(store: Store, ca: CertificateAuthority, socket: Socket | undefined, node: string, mode: 'current' | 'grace'): Promise<Presented> {
  if (!(socket instanceof TLSSocket)) throw need('a node must connect over TLS with its client certificate');
  const peer = socket.getPeerX509Certificate();
  if (!peer) throw need('no client certificate presented');
  if (!ca.signed(peer)) throw need('the client certificate was not issued by this center');
  const { serial, fingerprint } = certificateFacts(peer);
  const record = await store.tokens.get(serial);
  if (!record || record.kind !== 'certificate' || record.hash !== fingerprint) throw need('the client certificate was revoked or replaced');
  if (record.subject !== node) throw need(`the client certificate is not node "${node}"'s`);
  const notAfter = Date.parse(peer.validTo);
  const now = Date.now();
  if (now < Date.parse(peer.validFrom) - 60_000) throw need('the client certificate is not valid yet (is the node\'s clock right?)');
  if (now > notAfter) {
    if (mode === 'current') throw new CertificateExpiredError(`the certificate of node "${node}" expired at ${new Date(notAfter).toISOString()}: renew it`, { details: [{ path: 'certificate', message: 'expired; POST /api/v1/node/certificate renews it within the grace' }] });
    if (!record.expiresAt || now > Date.parse(record.expiresAt)) {
      throw need(`the certificate of node "${node}" expired at ${new Date(notAfter).toISOString()}, past the renewal grace: join the node again with a join token`);
    }
  }
  return { record, notAfter };
}

/** Issues a node certificate for `csrPem` and records it; older records of the node but `keep` are deleted. */
export async function issueNodeCertificate(
  store: Store,
  ca: CertificateAuthority,
  node: string,
  csrPem: string,
  opts: NodeCertOptions & { keep?: string; field?: string },
): Promise<{ issued: Issued; record: TokenRecord }> {
  // The request may ask for addresses (the node's edge broker serves devices with this certificate); the name is the center's.
  const asked = await parseCsr(csrPem, opts.field ?? 'csr');
  const issued = await ca.issue(csrPem, { commonName: node, unit: 'node', lifetimeMs: opts.lifetimeMs, usage: 'both', ips: asked.ips.slice(0, 16), dns: [node, ...asked.dns.slice(0, 16).filter((d) => d !== node)], field: opts.field });
  const record: TokenRecord = {
    id: issued.serial,
    kind: 'certificate',
    hash: issued.fingerprint,
    description: `certificate of node ${node}, valid until ${issued.notAfter.toISOString()}`,
    subject: node,
    projects: [],
    createdAt: nowIso(),
    expiresAt: new Date(issued.notAfter.getTime() + opts.graceMs).toISOString(),
    usedAt: null,
  };
  await store.tokens.insert(record);
  // At most two on record: the new one and the one that asked for it (kept until the new one is used, so a lost answer is no lock-out).
  for (const t of await store.tokens.list({ subject: node, kinds: ['certificate'] })) {
    if (t.id !== record.id && t.id !== opts.keep) await store.tokens.delete(t.id);
  }
  return { issued, record };
}

/** The node used `current`: certificates issued to it before that one are void. */
export async function supersedeOlder(store: Store, current: TokenRecord): Promise<void> {
  if (!current.subject) return;
  for (const t of await store.tokens.list({ subject: current.subject, kinds: ['certificate'] })) {
    if (t.id !== current.id && t.createdAt <= current.createdAt) await store.tokens.delete(t.id);
  }
}

/** A hold for a connection made with a certificate: it ends when the certificate does. */
export function certificateHold(p: Presented): TokenRecord {
  return { ...p.record, expiresAt: new Date(p.notAfter).toISOString() };
}
