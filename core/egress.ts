import { lookup } from 'node:dns/promises';
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

  constructor(readonly allow: readonly string[] = []) {
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

  /** Resolves `host` (when it is a name) and throws EgressRefusedError if any address it stands for is refused. */
  async check(host: string): Promise<void> {
    const bare = host.replace(/^\[(.*)\]$/, '$1');
    const addresses = isIP(bare) ? [bare] : (await lookup(bare, { all: true }).catch(() => [])).map((a) => a.address);
    for (const a of addresses) {
      const p = this.problem(a);
      if (p) throw new EgressRefusedError(`${host}: ${p}`, { details: [{ path: 'url', message: p }] });
    }
  }
}
