import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newKeyAndCsr } from '../core/pki.ts';
import { CertificateAuthority } from '../center/pki/authority.ts';
import { freePort } from './platform.ts';
import { waitFor } from './wait-for.ts';

export interface MosquittoTls {
  port: number;
  url: string;
  child: ChildProcess;
  /** The CA (made for this broker) and the broker's certificate for 127.0.0.1, PEM: what a gedge edge broker would serve. */
  material: { ca: string; cert: string; key: string };
  /** Stops Mosquitto and removes its files. */
  stop(): Promise<void>;
}

/**
 * The system's Mosquitto with one TLS listener on a free port of 127.0.0.1,
 * anonymous, serving a certificate for 127.0.0.1 from a gedge CA made for
 * it (as an agent serves its node certificate); `conf` adds lines to its
 * configuration. For tests and benches that need a peer broker over TLS.
 */
export async function startMosquittoTls(conf: string[] = []): Promise<MosquittoTls> {
  const dir = mkdtempSync(join(tmpdir(), 'gedge-mosquitto-tls-'));
  chmodSync(dir, 0o755); // Mosquitto started as root reads its files as the mosquitto user (a throwaway certificate; the CA key stays in pki/, 0700)
  const ca = await CertificateAuthority.open(join(dir, 'pki'));
  const { keyPem, csrPem } = await newKeyAndCsr('mosquitto');
  const issued = await ca.issue(csrPem, { commonName: 'mosquitto', unit: 'node', lifetimeMs: 24 * 3_600_000, usage: 'both', ips: ['127.0.0.1'] });
  const files = { cert: join(dir, 'broker.crt'), key: join(dir, 'broker.key') };
  writeFileSync(files.cert, issued.pem);
  writeFileSync(files.key, keyPem, { mode: 0o644 }); // Mosquitto may drop privileges before it reads it
  const port = await freePort();
  const confFile = join(dir, 'mosquitto.conf');
  writeFileSync(confFile, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', `certfile ${files.cert}`, `keyfile ${files.key}`, 'persistence false', 'log_dest stderr', 'log_type error', ...conf, ''].join('\n'));
  // Its stderr stays quiet: a refused handshake (what tests provoke) is logged there as an OpenSSL error.
  const child = spawn('/usr/sbin/mosquitto', ['-c', confFile], { stdio: 'ignore' });
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  await waitFor(
    () => {
      if (exited !== undefined) throw new Error(`mosquitto (TLS) exited with ${exited}`);
      return new Promise<boolean>((resolve) => net.connect(port, '127.0.0.1').once('connect', function (this: net.Socket) { this.destroy(); resolve(true); }).once('error', () => resolve(false)));
    },
    10_000,
    'mosquitto (TLS) listening',
    50,
  );
  return {
    port,
    url: `mqtts://127.0.0.1:${port}`,
    child,
    material: { ca: ca.certPem, cert: issued.pem, key: keyPem },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) await new Promise<void>((resolve) => (child.once('exit', () => resolve()), child.kill('SIGTERM')));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
