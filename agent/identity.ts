import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { GedgeError, errorFromBody, tlsFetch, unreachableReason, type Resources } from '../core/index.ts';
import { newKeyAndCsr } from '../core/pki.ts';
import { CaTrustError, fetchPinnedCa, parsePin } from '../core/ca-pin.ts';
import { loadNodeTls, saveNodeTls, type NodeTls } from './node-certificate.ts';

const identitySchema = z.object({ node: z.string(), credential: z.string(), center: z.string() });
export type Identity = z.infer<typeof identitySchema>;

export class JoinError extends GedgeError {
  override readonly code = 'JoinFailed';
}

/**
 * Zero-touch join, as kubeadm's: the join token comes with the pin of the
 * center's CA. The agent fetches the CA, checks it against the pin (and
 * trusts nothing else from then on), makes its key, and exchanges the
 * single-use token and a CSR for its identity: name, credential and a
 * short-lived certificate. All is kept in the data dir (0600), so a re-run
 * needs no token.
 */
export async function loadOrJoin(opts: {
  dataDir: string;
  center: string;
  joinToken?: string;
  caPin?: string;
  name: string;
  site?: string;
  labels: Record<string, string>;
  capacity: Resources;
  /** Addresses the node's certificate should name (its edge broker serves devices with it). */
  ips: string[];
}): Promise<{ identity: Identity; tls: NodeTls; joined: boolean }> {
  const file = join(opts.dataDir, 'identity.json');
  if (!opts.center.startsWith('https:')) throw new JoinError(`--center must be an https:// URL (got ${opts.center}): a node speaks to its center only over TLS`);
  if (existsSync(file)) {
    const tls = loadNodeTls(opts.dataDir);
    if (!tls) throw new JoinError(`${opts.dataDir} holds an identity but no certificate (made by an older agent): join again with a new data dir`);
    return { identity: identitySchema.parse(JSON.parse(readFileSync(file, 'utf8'))), tls, joined: false };
  }
  if (!opts.joinToken) throw new JoinError(`no identity in ${opts.dataDir} and no join token given (GEDGE_JOIN_TOKEN or --join-token)`);
  if (!opts.caPin) throw new JoinError('no CA pin given (GEDGE_CA_PIN or --ca-pin, printed with the join token): a node trusts only the center it was told about');
  const ca = await fetchPinnedCa(opts.center, parsePin(opts.caPin, 'caPin')).catch((err: unknown) => {
    throw err instanceof CaTrustError ? new JoinError(err.message, { cause: err }) : err;
  });
  const { keyPem, csrPem } = await newKeyAndCsr(opts.name, { ips: opts.ips });
  const res = await tlsFetch({ ca })(new URL('/api/v1/join', opts.center), {
    method: 'POST',
    headers: { authorization: `Bearer ${opts.joinToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: opts.name, site: opts.site, labels: opts.labels, capacity: opts.capacity, csr: csrPem }),
  }).catch((cause: unknown) => {
    throw new JoinError(`cannot reach the center at ${opts.center}: ${unreachableReason(cause)}`, { cause });
  });
  const body = (await res.json().catch(() => ({}))) as { credential?: string; certificate?: string; node?: { metadata: { name: string } }; code?: string; message?: string };
  if (!res.ok || !body.credential || !body.node || !body.certificate) {
    const err = errorFromBody(res.status, body);
    throw new JoinError(`join refused: ${err.message}`, { cause: err, details: err.details });
  }
  const identity: Identity = { node: body.node.metadata.name, credential: body.credential, center: opts.center };
  const tls: NodeTls = { ca, key: keyPem, cert: body.certificate };
  mkdirSync(opts.dataDir, { recursive: true });
  saveNodeTls(opts.dataDir, tls);
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(identity, null, 2), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return { identity, tls, joined: true };
}
