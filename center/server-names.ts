import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/** What the center's certificate names: loopback always, the listen host, every interface's address when it listens on all, and the operator's extras. */
export function serverNames(host: string, extra: string[]): { ips: string[]; dns: string[] } {
  const ips = new Set(['127.0.0.1', '::1']);
  const dns = new Set(['localhost']);
  const add = (h: string) => (isIP(h) ? ips.add(h) : dns.add(h));
  if (host === '0.0.0.0' || host === '::') {
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (!a.address.startsWith('fe80:')) ips.add(a.address);
  } else add(host);
  for (const h of extra) add(h);
  return { ips: [...ips], dns: [...dns] };
}
