import { X509Certificate, createHash } from 'node:crypto';
import { GedgeError, ValidationError, unreachableReason } from './errors.ts';
import { tlsFetch } from './tls-fetch.ts';

/** The center's CA could not be fetched, or is not the one pinned. */
export class CaTrustError extends GedgeError {
  override readonly code = 'CaTrust';
}

/**
 * A CA's pin, as kubeadm's discovery hash: `sha256:` and the hex SHA-256 of
 * the certificate's SubjectPublicKeyInfo. It names the key, so a CA
 * re-issued with the same key keeps its pin.
 */
export function caPin(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/** How the platform names a certificate: serial (lower-case hex, no leading zeros), subject CN, sha256 fingerprint (lower-case hex). */
export function certificateFacts(c: X509Certificate): { serial: string; commonName: string; fingerprint: string } {
  return {
    serial: c.serialNumber.toLowerCase().replace(/^0+(?=.)/, ''),
    commonName: /(?:^|\n)CN=([^\n]*)/.exec(c.subject)?.[1] ?? '',
    fingerprint: c.fingerprint256.replace(/:/g, '').toLowerCase(),
  };
}

/** Normalises a pin given by a user (`sha256:<64 hex>`); throws naming the field. */
export function parsePin(value: string, field: string): string {
  const m = /^sha256:([0-9a-fA-F]{64})$/.exec(value.trim());
  if (!m) throw new ValidationError(`${field}: expected sha256:<64 hex digits>, got "${value}"`, { details: [{ path: field, message: 'expected sha256:<64 hex digits>' }] });
  return `sha256:${m[1]!.toLowerCase()}`;
}

/**
 * The center's CA (GET /api/v1/ca), fetched before anything is trusted and
 * accepted only if it matches the pin: the agent at join and `gedge login`.
 */
export async function fetchPinnedCa(center: string, pin: string): Promise<string> {
  const res = await tlsFetch({ insecure: true })(new URL('/api/v1/ca', center)).catch((cause: unknown) => {
    throw new CaTrustError(`cannot reach the center at ${center}: ${unreachableReason(cause)}`, { cause });
  });
  const body = (await res.json().catch(() => ({}))) as { certificate?: unknown };
  if (!res.ok || typeof body.certificate !== 'string') throw new CaTrustError(`${center} did not serve its CA (HTTP ${res.status})`);
  let got: string;
  try {
    got = caPin(body.certificate);
  } catch {
    throw new CaTrustError(`${center} served something that is not a certificate as its CA`);
  }
  if (got !== pin) throw new CaTrustError(`the center's CA does not match the pin: expected ${pin}, got ${got} (wrong center, or someone in between)`);
  return body.certificate;
}
