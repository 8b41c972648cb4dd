import dns, { type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { classifyAddress, type AddressClass } from './addresses.ts';
import { GedgeError } from './errors.ts';

/** Where a webhook or a sink may not go unless an admin allows it: nowhere, multicast, and link-local (cloud metadata services live there). */
export const EGRESS_DENIED: readonly AddressClass[] = ['unspecified', 'multicast', 'link-local'];

/** A webhook or sink destination the egress policy refuses. */
export class EgressRefusedError extends GedgeError {
  override readonly status = 422;
  override readonly code = 'EgressRefused';
}

/**
 * The admin's allow-list (CIDRs, `--egress-allow`) over the default: a
 * destination in an allowed network is let through, else one whose class is
 * in EGRESS_DENIED is refused. Built once; `check` runs per connection.
 */
export class EgressPolicy {
  private readonly allowed = new BlockList();

  constructor(
    readonly allow: readonly string[] = [],
    /** The resolver (the system's; a test gives one that answers differently each time, as a rebinding DNS server does). */
    private readonly resolve: Resolver = dns.lookup,
  ) {
    for (const cidr of allow) {
      const [net, bits] = cidr.split('/');
      const family = isIP(net ?? '');
      if (!family) throw new EgressRefusedError(`--egress-allow: "${cidr}" is not a network (a.b.c.d/n or an IPv6 prefix)`);
      this.allowed.addSubnet(net!, Number(bits ?? (family === 4 ? 32 : 128)), family === 4 ? 'ipv4' : 'ipv6');
    }
  }

  /** Why the address may not be connected to; undefined: it may. */
  problem(address: string): string | undefined {
    const family = isIP(address);
    if (family && this.allowed.check(address, family === 4 ? 'ipv4' : 'ipv6')) return undefined;
    const cls = classifyAddress(address);
    return cls && EGRESS_DENIED.includes(cls) ? `${address} is ${cls === 'link-local' ? 'link-local (cloud metadata services live there)' : cls}: refused unless an admin allows it (--egress-allow)` : undefined;
  }

  /**
   * A `dns.lookup` for the connection itself (net/tls `lookup`, undici's
   * `connect.lookup`): the addresses it hands over are the ones it checked,
   * so a name cannot resolve to an allowed address for `check` and to a
   * refused one for the connection a moment later (DNS rebinding). Refuses
   * the name when any of its addresses is refused, as `check` does. Names
   * only: net and tls connect to an address literal without a lookup, which
   * `check` covers.
   */
  readonly lookup = (hostname: string, options: LookupOptions, callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void): void => {
    this.resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      for (const a of addresses) {
        const p = this.problem(a.address);
        if (p) return callback(new EgressRefusedError(`${hostname}: ${p}`, { details: [{ path: 'url', message: p }] }), []);
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`${hostname}: no address`), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };

  /** Resolves `host` (when it is a name) and throws EgressRefusedError if any address it stands for is refused. */
  async check(host: string): Promise<void> {
    const bare = host.replace(/^\[(.*)\]$/, '$1');
    const addresses = isIP(bare) ? [bare] : (await this.resolveAll(bare)).map((a) => a.address);
    for (const a of addresses) {
      const p = this.problem(a);
      if (p) throw new EgressRefusedError(`${host}: ${p}`, { details: [{ path: 'url', message: p }] });
    }
  }

  private resolveAll(hostname: string): Promise<LookupAddress[]> {
    return new Promise((resolve) => this.resolve(hostname, { all: true }, (err, addresses) => resolve(err ? [] : addresses)));
  }
}

/** dns.lookup with `all: true`, as the policy calls it. */
export type Resolver = (hostname: string, options: LookupOptions & { all: true }, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;
