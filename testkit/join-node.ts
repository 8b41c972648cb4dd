import { tlsFetch } from '../core/index.ts';
import { newKeyAndCsr } from '../core/pki.ts';

/** What a joined node holds: its credential and its TLS material (the center's CA, its key and certificate). */
export interface NodeIdentity {
  node: string;
  credential: string;
  tls: { ca: string; cert: string; key: string };
}

/**
 * Joins `name` at `site` the way `gedge agent` does (a join token from the
 * admin, a key made here, a CSR exchanged for a credential and a
 * certificate), for tests that play a node by hand.
 */
export async function joinAsNode(center: { url: string; ca: string; adminToken: string }, name: string, site: string, body: Record<string, unknown> = {}): Promise<NodeIdentity> {
  const fetch = tlsFetch({ ca: center.ca });
  const call = async (path: string, token: string, payload: unknown) => {
    const res = await fetch(new URL(path, center.url), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(payload) });
    const json = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw Object.assign(new Error(`${path}: ${res.status} ${JSON.stringify(json)}`), { status: res.status, body: json });
    return json;
  };
  const join = (await call('/api/v1/tokens', center.adminToken, { kind: 'join', site })).token as string;
  const { keyPem, csrPem } = await newKeyAndCsr(name);
  const joined = await call('/api/v1/join', join, { name, capacity: { cpu: 1, memoryMiB: 512, diskMiB: 0 }, csr: csrPem, ...body });
  return { node: name, credential: joined.credential as string, tls: { ca: center.ca, cert: joined.certificate as string, key: keyPem } };
}
