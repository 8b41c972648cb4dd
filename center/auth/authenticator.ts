import type { Socket } from 'node:net';
import type { CertificateAuthority } from '../pki/authority.ts';
import type { Store } from '../store/store.ts';
import type { Caller, CallerKind } from './access.ts';
import { throttledAuthenticate, type AuthThrottle } from './auth-throttle.ts';
import { presentedCertificate, type Presented } from './node-certs.ts';
import { authenticate } from './tokens.ts';

/**
 * Every way in checks its caller here: the API's routes, the dashboard's
 * session, exec upgrades and the agents' channel. A bearer header goes
 * through the throttle (an address that keeps guessing is refused before
 * any lookup); a node also shows its certificate, which must be ours, its
 * own and on record.
 */
export class Authenticator {
  constructor(
    private readonly store: Store,
    private readonly ca: CertificateAuthority,
    private readonly throttle: AuthThrottle,
  ) {}

  /** The caller behind a bearer header from `address`, if its kind is one of `allowed`; Unauthorized, Forbidden or TooManyFailures otherwise. */
  token(address: string | undefined, header: string | undefined, allowed: readonly CallerKind[]): Promise<Caller> {
    return throttledAuthenticate(this.throttle, address, header, () => authenticate(this.store, header, [...allowed]));
  }

  /** The certificate node `node` presented on `socket`, checked (`grace`: an expired one within the renewal grace, for renewal only). */
  certificate(socket: Socket | undefined, node: string, mode: 'current' | 'grace'): Promise<Presented> {
    return presentedCertificate(this.store, this.ca, socket, node, mode);
  }
}
