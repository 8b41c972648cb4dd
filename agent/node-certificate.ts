import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { errorFromBody, tlsFetch } from '../core/index.ts';
import { certificateInfo, newKeyAndCsr, type CertificateInfo } from '../core/pki.ts';

/** The node's TLS material: the center's CA (pinned at join), its key and its certificate (PEM). */
export const nodeTlsSchema = z.object({ ca: z.string(), key: z.string(), cert: z.string() }).strict();
export type NodeTls = z.infer<typeof nodeTlsSchema>;

export type RenewOutcome = { ok: true; notAfter: Date } | { ok: false; final: boolean; why: string };

const file = (dataDir: string) => join(dataDir, 'pki', 'node.json');

export function loadNodeTls(dataDir: string): NodeTls | undefined {
  const f = file(dataDir);
  return existsSync(f) ? nodeTlsSchema.parse(JSON.parse(readFileSync(f, 'utf8'))) : undefined;
}

/** One file, replaced atomically: a crash never pairs a key with another key's certificate. */
export function saveNodeTls(dataDir: string, tls: NodeTls): void {
  mkdirSync(join(dataDir, 'pki'), { recursive: true, mode: 0o700 });
  const f = file(dataDir);
  writeFileSync(`${f}.tmp`, JSON.stringify(tls), { mode: 0o600 });
  renameSync(`${f}.tmp`, f);
}

/**
 * Keeps the node's certificate current: at two thirds of its lifetime it
 * asks the center for a new one over mutual TLS with the current one (a new
 * key each time), saves it, and tells the connection, the uplink and the edge
 * broker, which use it for their next handshakes; nothing open is dropped.
 * A node that comes back after its certificate expired renews the same way
 * within the center's grace; past it the center says so and the node must
 * join again.
 */
export class NodeCertificate {
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<RenewOutcome> | undefined;
  private stopped = false;

  constructor(
    private tls: NodeTls,
    private readonly o: { dataDir: string; center: string; credential: string; node: string; log: Logger; ips: () => string[]; onRenewed: (tls: NodeTls) => void; onRefused: (why: string) => void },
  ) {}

  get current(): NodeTls {
    return this.tls;
  }

  get info(): CertificateInfo {
    return certificateInfo(this.tls.cert);
  }

  /** When the next renewal is due (ms epoch): two thirds into the certificate's life. */
  renewAt(): number {
    const { notBefore, notAfter } = this.info;
    return notBefore.getTime() + ((notAfter.getTime() - notBefore.getTime()) * 2) / 3;
  }

  start(): void {
    this.schedule(this.renewAt() - Date.now());
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Renews now (one request at a time); the outcome says whether retrying can help. */
  renew(): Promise<RenewOutcome> {
    this.renewing ??= this.request().finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  private schedule(inMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), Math.max(0, Math.min(inMs, 2 ** 31 - 1)));
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const outcome = await this.renew();
    if (outcome.ok) return this.schedule(this.renewAt() - Date.now());
    if (outcome.final) return;
    // Offline or refused for now: again soon, sooner as the end nears.
    const left = this.info.notAfter.getTime() - Date.now();
    this.schedule(Math.min(60_000, Math.max(1000, left / 10)));
  }

  private async request(): Promise<RenewOutcome> {
    const { keyPem, csrPem } = await newKeyAndCsr(this.o.node, { ips: this.o.ips() });
    let res: Response;
    try {
      res = await tlsFetch(this.tls)(new URL('/api/v1/node/certificate', this.o.center), {
        method: 'POST',
        headers: { authorization: `Bearer ${this.o.credential}`, 'content-type': 'application/json' },
        body: JSON.stringify({ csr: csrPem }),
      });
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'renewing the node certificate: the center is unreachable; will retry');
      return { ok: false, final: false, why: 'the center is unreachable' };
    }
    const body = (await res.json().catch(() => ({}))) as { certificate?: string; ca?: string; code?: string; message?: string };
    if (!res.ok || !body.certificate) {
      const err = errorFromBody(res.status, body);
      // 401: revoked, or expired past the grace; only a new join helps.
      const final = res.status === 401 || res.status === 403 || res.status === 410;
      this.o.log.error({ status: res.status, why: err.message }, 'the center refused to renew the node certificate');
      if (final) this.o.onRefused(err.message);
      return { ok: false, final, why: err.message };
    }
    this.tls = { ca: body.ca ?? this.tls.ca, key: keyPem, cert: body.certificate };
    saveNodeTls(this.o.dataDir, this.tls);
    const { serial, notAfter } = this.info;
    this.o.log.info({ event: 'certificate', serial, notAfter: notAfter.toISOString() }, 'node certificate renewed');
    this.o.onRenewed(this.tls);
    return { ok: true, notAfter };
  }
}
