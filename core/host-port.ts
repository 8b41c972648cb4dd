import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { z } from 'zod';

export interface HostPort {
  host: string;
  port: number;
}

/** "host:port" or "[v6]:port"; undefined when malformed. Port 0 means any free port (listen only). */
export function parseHostPort(text: string): HostPort | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: (m[1] ?? m[2])!, port };
}

export const formatHostPort = (a: HostPort): string => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`);

/** A config field holding "host:port"; `minPort` 1 for addresses others dial. */
export const hostPortString = (minPort: 0 | 1) =>
  z.string().refine((s) => (parseHostPort(s)?.port ?? -1) >= minPort, `expected host:port${minPort ? ' with a port from 1' : ''} (e.g. 127.0.0.1:7390 or [::1]:7390)`);

/** Wildcard listen addresses mean "every interface"; peers cannot dial them. */
export const isWildcard = (host: string): boolean => host === '0.0.0.0' || host === '::' || host === '[::]';

/** The IP addresses clients reach these listen addresses at (every interface's for a wildcard), for a certificate to name. */
export function certificateAddresses(listens: (string | undefined)[]): string[] {
  const ips = new Set<string>();
  for (const l of listens) {
    const hp = l && l !== 'off' ? parseHostPort(l) : undefined;
    if (!hp) continue;
    if (isWildcard(hp.host)) {
      for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (!a.address.startsWith('fe80:')) ips.add(a.address);
    } else if (isIP(hp.host)) ips.add(hp.host);
  }
  return [...ips];
}
