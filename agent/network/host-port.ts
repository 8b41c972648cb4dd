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
