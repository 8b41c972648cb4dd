import { X509Certificate, randomBytes, webcrypto } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GedgeError, ensurePrivateDir } from '../../core/index.ts';
import { KEY_ALGORITHM, caPin, certificateInfo, newKeyAndCsr, parseCsr, toPem, x509, type CertificateInfo } from '../../core/pki.ts';

const CA_LIFETIME_MS = 10 * 365 * 24 * 3_600_000;
/** The center's own server certificate is made afresh at every start. */
const SERVER_LIFETIME_MS = 365 * 24 * 3_600_000;
/** Issued certificates start up to this far in the past (a tenth of their life at most): a node whose clock is a little behind still accepts them. */
const BACKDATE_MS = 5 * 60_000;

export class PkiError extends GedgeError {
  override readonly code = 'PkiError';
}

export type Usage = 'client' | 'server' | 'both';

export interface Issued extends CertificateInfo {
  pem: string;
}

/**
 * The center's certificate authority. On first start it makes an ECDSA P-256
 * CA (or takes the operator's CA certificate and key), kept in
 * <dataDir>/pki (key 0600). It signs the center's server certificate, each
 * node's short-lived client certificate (also the edge broker's server
 * certificate) and devices' client certificates.
 */
export class CertificateAuthority {
  readonly pin: string;
  readonly x509: X509Certificate;
  private readonly issuer: x509.X509Certificate;

  private constructor(
    readonly certPem: string,
    private readonly key: CryptoKey,
  ) {
    this.pin = caPin(certPem);
    this.x509 = new X509Certificate(certPem);
    this.issuer = new x509.X509Certificate(certPem);
  }

  static async open(dir: string, given: { cert?: string; key?: string } = {}): Promise<CertificateAuthority> {
    ensurePrivateDir(dir);
    const certFile = join(dir, 'ca.crt');
    const keyFile = join(dir, 'ca.key');
    if (!existsSync(certFile)) {
      if (given.cert || given.key) {
        if (!given.cert || !given.key) throw new PkiError('a CA of your own needs both its certificate and its key (--ca-cert and --ca-key)');
        copyFileSync(given.key, keyFile);
        chmodSync(keyFile, 0o600);
        copyFileSync(given.cert, certFile);
      } else await create(certFile, keyFile);
    }
    const certPem = readFileSync(certFile, 'utf8');
    let key: CryptoKey;
    try {
      key = await importKey(readFileSync(keyFile, 'utf8'));
    } catch (cause) {
      throw new PkiError(`${keyFile}: not an EC P-256 private key in PKCS #8 PEM`, { cause });
    }
    const ca = new CertificateAuthority(certPem, key);
    if (!ca.x509.ca) throw new PkiError(`${certFile} is not a CA certificate (basicConstraints CA:true)`);
    return ca;
  }

  /** True when `cert` was signed by this CA (its validity period is the caller's to check). */
  signed(cert: X509Certificate): boolean {
    return cert.checkIssued(this.x509) && cert.verify(this.x509.publicKey);
  }

  /**
   * Signs a request. The subject is what the center decides (`commonName`,
   * `unit`), never what the request asks; addresses only those given.
   */
  async issue(csrPem: string, o: { commonName: string; unit: string; lifetimeMs: number; usage: Usage; ips?: string[]; dns?: string[]; field?: string }): Promise<Issued> {
    const { csr } = await parseCsr(csrPem, o.field ?? 'csr');
    return this.sign(csr.publicKey, o);
  }

  /** The center's HTTPS certificate for these addresses and names. */
  async serverCertificate(hosts: { ips: string[]; dns: string[] }): Promise<{ keyPem: string; certPem: string }> {
    const { keyPem, csrPem } = await newKeyAndCsr('gedge-center');
    const issued = await this.issue(csrPem, { commonName: 'gedge-center', unit: 'center', lifetimeMs: SERVER_LIFETIME_MS, usage: 'server', ...hosts });
    return { keyPem, certPem: issued.pem };
  }

  private async sign(publicKey: x509.PublicKey, o: { commonName: string; unit: string; lifetimeMs: number; usage: Usage; ips?: string[]; dns?: string[] }): Promise<Issued> {
    const serial = randomBytes(8);
    serial[0]! &= 0x7f; // positive
    serial[0]! |= 0x10; // and 16 hex digits: no leading zero to lose
    const now = Date.now();
    const usages = { client: [x509.ExtendedKeyUsage.clientAuth], server: [x509.ExtendedKeyUsage.serverAuth], both: [x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth] }[o.usage];
    const names = [...(o.ips ?? []).map((value) => ({ type: 'ip' as const, value })), ...(o.dns ?? []).map((value) => ({ type: 'dns' as const, value }))];
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial.toString('hex'),
      subject: [{ CN: [o.commonName] }, { OU: [o.unit] }],
      issuer: this.issuer.subjectName,
      notBefore: new Date(now - Math.min(BACKDATE_MS, o.lifetimeMs / 10)),
      notAfter: new Date(now + o.lifetimeMs),
      signingKey: this.key,
      publicKey,
      signingAlgorithm: KEY_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        await x509.AuthorityKeyIdentifierExtension.create(this.issuer, false),
        await x509.SubjectKeyIdentifierExtension.create(publicKey, false),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension(usages, false),
        ...(names.length ? [new x509.SubjectAlternativeNameExtension(names, false)] : []),
      ],
    });
    const pem = cert.toString('pem') + '\n';
    return { pem, ...certificateInfo(pem) };
  }
}

async function create(certFile: string, keyFile: string): Promise<void> {
  const keys = (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: [{ CN: ['gedge CA'] }, { O: ['gedge'] }],
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + CA_LIFETIME_MS),
    keys,
    signingAlgorithm: KEY_ALGORITHM,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true), await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false)],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  // The key first, so a crash between the two leaves no certificate without its key.
  writeFileSync(`${keyFile}.tmp`, toPem(pkcs8, 'PRIVATE KEY'), { mode: 0o600 });
  renameSync(`${keyFile}.tmp`, keyFile);
  writeFileSync(`${certFile}.tmp`, cert.toString('pem') + '\n', { mode: 0o644 });
  renameSync(`${certFile}.tmp`, certFile);
}

async function importKey(pem: string): Promise<CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return webcrypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign']);
}
