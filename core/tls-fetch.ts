import type { LookupFunction } from 'node:net';

/**
 * fetch() that trusts only a given CA (the center's, pinned) and may present
 * a client certificate: the global fetch can do neither. undici is loaded on
 * first use, so processes that never call it do not pay for it.
 */
export interface TlsOptions {
  /** PEM CA certificate(s) to trust instead of the system's. */
  ca?: string;
  /** PEM client certificate and key. */
  cert?: string;
  key?: string;
  /** Only for fetching the CA itself before it is pinned: its hash is checked afterwards. */
  insecure?: boolean;
  /** Resolves names for the connections (e.g. EgressPolicy.lookup, which refuses forbidden addresses). */
  lookup?: LookupFunction;
}

export type Fetch = (input: string | URL, init?: RequestInit) => Promise<Response>;

export function tlsFetch(tls: TlsOptions): Fetch {
  let agent: Promise<{ dispatcher: unknown; fetch: (input: string | URL, init: unknown) => Promise<unknown> }> | undefined;
  return async (input, init) => {
    agent ??= import('undici').then((u) => ({
      dispatcher: new u.Agent({ connect: { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: !tls.insecure, noDelay: true, ...(tls.lookup ? { lookup: tls.lookup } : {}) } }),
      fetch: u.fetch as unknown as (input: string | URL, init: unknown) => Promise<unknown>,
    }));
    const a = await agent;
    return (await a.fetch(input, { ...init, dispatcher: a.dispatcher })) as Response;
  };
}

/** For http:// URLs (the loopback listener) and https:// ones with a pinned CA alike. */
export function fetchFor(server: string, tls: TlsOptions | undefined): Fetch {
  return server.startsWith('https:') && tls ? tlsFetch(tls) : (input, init) => fetch(input, init);
}
