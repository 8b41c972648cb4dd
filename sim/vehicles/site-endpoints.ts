import { SimConfigError } from '../errors.ts';

export interface SiteEndpoint {
  host: string;
  port: number;
  /** The site's own node serving the Service, whose metrics count its hand-overs in. */
  node: string;
}

interface Resolved {
  port: string;
  address: string;
  instances: { node: string; local: boolean }[];
}

/**
 * Where each site's clients reach a Service: asked of the site's agent's
 * endpoint resolver (`GET /v1/endpoints/{project}/{service}`, docs/link.md),
 * kept until a request through it fails.
 */
export class SiteEndpoints {
  private readonly known = new Map<string, SiteEndpoint>();

  constructor(
    private readonly resolvers: Record<string, string>,
    private readonly project: string,
    private readonly service: string,
  ) {}

  async at(site: string): Promise<SiteEndpoint> {
    const had = this.known.get(site);
    if (had) return had;
    const resolver = this.resolvers[site];
    if (!resolver) throw new SimConfigError(`no endpoint resolver for site ${site}`, { details: [{ path: 'resolvers', message: site }] });
    const res = await fetch(`http://${resolver}/v1/endpoints/${this.project}/${this.service}`, { signal: AbortSignal.timeout(5000) });
    if (res.status !== 200) throw new Error(`${site}'s resolver ${resolver}: HTTP ${res.status} for ${this.project}/${this.service}`);
    const e = ((await res.json()) as { endpoints: Resolved[] }).endpoints.find((x) => x.port === 'http');
    // The site's own instance first: its node is the one whose counts tell a predicted hand-over.
    if (!e || !e.instances.some((i) => i.local)) throw new Error(`${site}'s resolver ${resolver}: ${this.project}/${this.service} has no instance at ${site} yet`);
    const [host, port] = e.address.split(':');
    const found = { host: host === '0.0.0.0' ? '127.0.0.1' : host!, port: Number(port), node: e.instances.find((i) => i.local)!.node };
    this.known.set(site, found);
    return found;
  }

  forget(site: string): void {
    this.known.delete(site);
  }
}
