import { isIP } from 'node:net';
import { classifyAddress } from './addresses.ts';
import type { ProbeAddress } from './protocol.ts';

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * Why the center will not hand an agent's advertised probe address to other
 * agents (undefined: it will). Peers connect to it, so it must not point
 * them at what they should never dial: nowhere (0.0.0.0, ::), a multicast
 * group, a link-local address (cloud metadata services live there), or,
 * unless the agent itself connects over loopback (one machine, as in
 * tests), the peers' own loopback.
 */
export function probeAddressProblem(probe: ProbeAddress, agentAddress: string | undefined): string | undefined {
  const host = probe.host.replace(/^\[(.*)\]$/, '$1');
  const fromLoopback = agentAddress !== undefined && classifyAddress(agentAddress) === 'loopback';
  if (!isIP(host)) {
    if (!HOSTNAME.test(host)) return `"${probe.host}" is neither an IP address nor a host name`;
    if (host.toLowerCase() === 'localhost' && !fromLoopback) return 'localhost names each peer itself';
    return undefined;
  }
  const cls = classifyAddress(host);
  if (cls === 'unspecified' || cls === 'multicast' || cls === 'link-local') return `${host} is a ${cls} address`;
  if (cls === 'loopback' && !fromLoopback) return `${host} is loopback, and the agent does not connect from this machine`;
  return undefined;
}
