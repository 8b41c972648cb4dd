import http from 'node:http';
import type { Logger } from 'pino';
import { formatHostPort, parseHostPort, type HostPort } from '../../core/host-port.ts';
import { nameKey, portNamed } from '../../core/index.ts';
import type { NodeTls } from '../node-certificate.ts';
import { EndpointGateway, listen, type GatewayOptions, type GatewayRequest } from './endpoint-gateway.ts';
import { EndpointProxies, type ProxyOptions } from './endpoint-proxies.ts';
import type { OverflowFigures } from './overflow.ts';
import type { EndpointTable, Vantage } from './endpoint-table.ts';

export interface EndpointsOptions {
  /** The resolver's host:port; the endpoints listen on its host. */
  listen: string;
  gatewayListen: string;
  gatewayAdvertise?: string;
  table: EndpointTable;
  vantage: () => Omit<Vantage, 'failedUntil'>;
  tls: () => NodeTls;
  ports: { load: () => Promise<Record<string, number>>; save: (ports: Record<string, number>) => Promise<void> };
  /** Session requests other nodes send through the gateway (agent/sessions). */
  session: GatewayOptions['session'];
  onOverflow?: ProxyOptions['onOverflow'];
  log: Logger;
}

/** One endpoint port as the resolver answers it. */
export interface ResolvedEndpoint {
  project: string;
  service: string;
  port: string;
  /** Where this site's clients connect. */
  address: string;
  connections: number;
  failovers: number;
  refused: number;
  /** The Service's overflow to upper tiers at this site, when it declares one. */
  overflow?: OverflowFigures;
  /** The instances a connection would try now, in order. */
  instances: { instance: string; node: string; site?: string; local: boolean; rttMs?: number; tier?: string; failedLately: boolean }[];
}

/**
 * GS-Link endpoints on this node: the listeners this site's clients connect
 * to (EndpointProxies), the gateway other nodes reach this node's instances
 * through (EndpointGateway), and the resolver, a small HTTP API on loopback
 * (by default) saying where each endpoint listens and which instances it
 * would try: `GET /v1/endpoints`, `GET /v1/endpoints/{project}/{service}`.
 */
export class Endpoints {
  private constructor(
    private readonly proxies: EndpointProxies,
    private readonly gatewayServer: EndpointGateway,
    private readonly resolverServer: http.Server,
  ) {}

  static async start(o: EndpointsOptions): Promise<Endpoints> {
    const at = parseHostPort(o.listen)!;
    const proxies = new EndpointProxies({ host: at.host, table: o.table, vantage: o.vantage, tls: o.tls, ports: o.ports, onOverflow: o.onOverflow, log: o.log });
    const gateway = await EndpointGateway.start({ listen: o.gatewayListen, advertise: o.gatewayAdvertise, tls: o.tls(), isNode: (name) => o.table.isNode(name), resolve: (r) => exposedPort(o, r), session: o.session, log: o.log });
    const server = http.createServer({ headersTimeout: 5000, requestTimeout: 10_000 }, (req, res) => answer(proxies, req, res));
    server.on('connection', (s) => s.setNoDelay(true));
    let port: number;
    try {
      port = await listen(server, at.host, at.port);
    } catch (e) {
      await gateway.close();
      throw e;
    }
    server.on('error', (err) => o.log.warn({ err }, 'endpoint resolver: server error'));
    const resolver = { host: at.host, port };
    o.log.info({ event: 'endpoints', resolver: formatHostPort(resolver) }, 'endpoint resolver listening');
    const endpoints = new Endpoints(proxies, gateway, server);
    await proxies.sync();
    return endpoints;
  }

  /** This site's endpoints with their counters and overflow state (metrics). */
  list(): ReturnType<EndpointProxies['list']> {
    return this.proxies.list();
  }

  /** The Services whose requests overflow to upper tiers at this site now (for the heartbeat: the center adds capacity upward). */
  overflowing(): { project: string; service: string }[] {
    const out = new Map<string, { project: string; service: string }>();
    for (const l of this.proxies.list()) if (l.overflow?.state === 'overflowing') out.set(nameKey(l.project, l.service), { project: l.project, service: l.service });
    return [...out.values()];
  }

  /** Where other nodes reach this node's gateway (announced in hello). */
  get gateway(): HostPort {
    return this.gatewayServer.address;
  }

  /** The directory changed: open and close listeners to match. */
  sync(): Promise<void> {
    return this.proxies.sync();
  }

  setTls(t: NodeTls): void {
    this.gatewayServer.setTls(t);
  }

  async stop(): Promise<void> {
    this.resolverServer.closeAllConnections();
    await Promise.all([new Promise((r) => this.resolverServer.close(r)), this.proxies.close(), this.gatewayServer.close()]);
  }
}

/** The host port of an instance of this node for a port its Service's endpoint exposes, when it is ready; else undefined. */
function exposedPort(o: EndpointsOptions, r: GatewayRequest): number | undefined {
  const v = o.vantage();
  const exposed = o.table.all().some((s) => s.project === r.project && s.ports.includes(r.port) && s.backends.some((b) => b.instance === r.instance && b.node === v.node));
  if (!exposed) return undefined;
  const local = v.local(r.project, r.instance);
  return local?.ready ? portNamed(local.ports, r.port) : undefined;
}

function resolved(proxies: EndpointProxies, project?: string, service?: string): ResolvedEndpoint[] {
  return proxies
    .list()
    .filter((l) => (project === undefined || l.project === project) && (service === undefined || l.service === service))
    .map((l) => ({
      project: l.project,
      service: l.service,
      port: l.port,
      address: formatHostPort(l.address),
      connections: l.connections,
      failovers: l.failovers,
      refused: l.refused,
      ...(l.overflow ? { overflow: l.overflow } : {}),
      instances: proxies.candidates(l.project, l.service, l.port).map((c) => ({
        instance: c.backend.instance,
        node: c.backend.node,
        ...(c.backend.site ? { site: c.backend.site } : {}),
        local: c.local,
        ...(c.rank.rttMs !== undefined ? { rttMs: c.rank.rttMs } : {}),
        ...(c.backend.tier ? { tier: c.backend.tier } : {}),
        failedLately: c.rank.failed,
      })),
    }));
}

function answer(proxies: EndpointProxies, req: http.IncomingMessage, res: http.ServerResponse): void {
  const send = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const fail = (status: number, code: string, message: string) => send(status, { code, message, details: [{ path: req.url ?? '', message }] });
  const path = (req.url ?? '').split('?')[0]!;
  let parts: string[];
  try {
    parts = path.split('/').filter(Boolean).map((p) => decodeURIComponent(p));
  } catch {
    return fail(400, 'BadRequest', 'the path is not valid percent-encoding');
  }
  if (parts[0] !== 'v1' || parts[1] !== 'endpoints' || parts.length > 4 || parts.length === 3) return fail(404, 'NotFound', 'the resolver answers GET /v1/endpoints and GET /v1/endpoints/{project}/{service}');
  if (req.method !== 'GET') return fail(405, 'MethodNotAllowed', 'the resolver answers GET only');
  if (parts.length === 2) return send(200, { endpoints: resolved(proxies) });
  const found = resolved(proxies, parts[2], parts[3]);
  if (!found.length) return fail(404, 'NotFound', `no endpoint of Service ${parts[2]}/${parts[3]} is served here`);
  send(200, { endpoints: found });
}
