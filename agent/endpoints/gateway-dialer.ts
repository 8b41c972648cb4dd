import tls from 'node:tls';
import type { HostPort } from '../../core/host-port.ts';
import type { NodeTls } from '../node-certificate.ts';
import { isNodeCertificate, nodeTlsOptions } from './endpoint-gateway.ts';

/**
 * Connections to other nodes' gateways (endpoint-gateway.ts), for the
 * endpoints' relayed connections and continuity's hand-overs alike: mutual
 * TLS under this node's certificate, the peer's certificate that of the node
 * expected, TCP_NODELAY, and a TLS session kept per gateway so the next
 * connection resumes instead of a full handshake. The certificate makes a
 * TLS context once (not parsed again per connection), until it is renewed.
 */
export class GatewayDialer {
  private readonly tickets = new Map<string, Buffer>();
  private context: { from: NodeTls; ctx: tls.SecureContext } | undefined;

  constructor(private readonly tls: () => NodeTls) {}

  /** A connection to `node`'s gateway; the caller listens for `secureConnect` and errors. `allowHalfOpen` for a relay. */
  connect(gateway: HostPort, node: string, o: { allowHalfOpen?: boolean } = {}): tls.TLSSocket {
    const key = `${gateway.host}:${gateway.port}`;
    const s = tls.connect({
      secureContext: this.secureContext(),
      // tls.connect passes allowHalfOpen to its socket (Node's typings leave it out).
      ...(o.allowHalfOpen ? ({ allowHalfOpen: true } as tls.ConnectionOptions) : {}),
      host: gateway.host,
      port: gateway.port,
      session: this.tickets.get(key),
      checkServerIdentity: (_host, cert) => (isNodeCertificate(cert) && cert.subject.CN === node ? undefined : new Error(`the gateway's certificate is not node ${node}'s`)),
    });
    s.setNoDelay(true);
    s.on('session', (t: Buffer) => this.tickets.set(key, t));
    return s;
  }

  /** Drops the sessions of gateways not in `keep` (nodes gone, or gateways moved). */
  keepOnly(keep: Set<string>): void {
    for (const k of this.tickets.keys()) if (!keep.has(k)) this.tickets.delete(k);
  }

  private secureContext(): tls.SecureContext {
    const now = this.tls();
    if (this.context?.from !== now) this.context = { from: now, ctx: tls.createSecureContext(nodeTlsOptions(now)) };
    return this.context.ctx;
  }
}
