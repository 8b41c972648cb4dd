import 'reflect-metadata'; // @peculiar/x509's dependency injection needs it loaded first
import * as x509 from '@peculiar/x509';
import { X509Certificate, createPublicKey, webcrypto } from 'node:crypto';
import { ValidationError } from './errors.ts';
import { certificateFacts } from './ca-pin.ts';
export { caPin } from './ca-pin.ts';

/**
 * Keys, certificate requests and certificates, shared by the center (its CA),
 * the agent (its node certificate) and the CLI (pinning the CA). Keys are
 * ECDSA P-256: small, fast to make on a gateway, and what TLS 1.3 prefers.
 */
x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A CSR is a few hundred bytes; anything much larger is not one. */
export const MAX_CSR_BYTES = 16 * 1024;

export interface CertificateInfo {
  /** Lower-case hex, as the center stores it. */
  serial: string;
  /** The subject's common name. */
  commonName: string;
  notBefore: Date;
  notAfter: Date;
  /** sha256 of the DER, lower-case hex. */
  fingerprint: string;
}

export function certificateInfo(pem: string): CertificateInfo {
  const c = new X509Certificate(pem);
  return {
    ...certificateFacts(c),
    notBefore: new Date(c.validFrom),
    notAfter: new Date(c.validTo),
  };
}

/** A new key and a request for a certificate naming `commonName` (the issuer decides what the certificate finally says). */
export async function newKeyAndCsr(commonName: string, sans: { ips?: string[]; dns?: string[] } = {}): Promise<{ keyPem: string; csrPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const names = [...(sans.ips ?? []).map((value) => ({ type: 'ip' as const, value })), ...(sans.dns ?? []).map((value) => ({ type: 'dns' as const, value }))];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [commonName] }],
    keys,
    signingAlgorithm: KEY_ALGORITHM,
    extensions: names.length ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { keyPem: toPem(Buffer.from(pkcs8), 'PRIVATE KEY'), csrPem: csr.toString('pem') };
}

export interface ParsedCsr {
  csr: x509.Pkcs10CertificateRequest;
  commonName: string;
  /** Subject alternative names asked for. */
  ips: string[];
  dns: string[];
}

/**
 * Parses and checks a certificate request: well-formed, signed by the key it
 * carries (proof of possession), and that key an EC P-256/P-384 or RSA >= 2048
 * key. Throws a ValidationError naming `field`.
 */
export async function parseCsr(pem: string, field: string): Promise<ParsedCsr> {
  const bad = (message: string) => new ValidationError(`${field}: ${message}`, { details: [{ path: field, message }] });
  if (pem.length > MAX_CSR_BYTES) throw bad(`longer than ${MAX_CSR_BYTES} bytes`);
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch {
    throw bad('not a PEM certificate request (PKCS #10)');
  }
  const key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  const d = key.asymmetricKeyDetails ?? {};
  const strong = (key.asymmetricKeyType === 'ec' && (d.namedCurve === 'prime256v1' || d.namedCurve === 'secp384r1')) || (key.asymmetricKeyType === 'rsa' && (d.modulusLength ?? 0) >= 2048);
  if (!strong) throw bad(`key must be EC P-256/P-384 or RSA >= 2048 bits (got ${key.asymmetricKeyType ?? 'unknown'}${d.namedCurve ? ` ${d.namedCurve}` : ''}${d.modulusLength ? ` ${d.modulusLength}` : ''})`);
  const signed = await csr.verify().catch(() => false);
  if (!signed) throw bad('its signature does not verify (the request must be signed by its own key)');
  // The CSR's extension comes back generic; re-read it as a SAN extension.
  const raw = csr.getExtension('2.5.29.17');
  const general = raw ? new x509.SubjectAlternativeNameExtension(raw.rawData).names.items : [];
  return {
    csr,
    commonName: csr.subjectName.getField('CN')[0] ?? '',
    ips: general.filter((n) => n.type === 'ip').map((n) => n.value),
    dns: general.filter((n) => n.type === 'dns').map((n) => n.value),
  };
}

export function toPem(der: Buffer, label: string): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export { x509 };
