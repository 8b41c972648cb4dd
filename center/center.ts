import http from 'node:http';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { EgressPolicy, ensurePrivateDir, parseOrThrow, projectOf } from '../core/index.ts';
import { centerConfigSchema, parseLoopbackListen, type CenterConfig } from './config.ts';
import { openSqliteStore } from './store/sqlite-store.ts';
import { openPostgresStore } from './store/postgres-store.ts';
import type { Store } from './store/store.ts';
import { createServer, servedRoutes } from './api/server.ts';
import { registerResourceRoutes } from './api/resource-routes.ts';
import { registerAuthRoutes } from './api/auth-routes.ts';
import { registerDeviceRoutes } from './api/device-routes.ts';
import { registerSessionRoutes } from './api/session-routes.ts';
import { registerOpsRoutes } from './api/ops-routes.ts';
import { execUpgradeRoute, registerExecRoute } from './api/exec-route.ts';
import { registerRolloutRoutes } from './api/rollout-routes.ts';
import { registerUplinkRoutes } from './uplink/index.ts';
import { createMetrics } from './metrics.ts';
import { registerRuleMetrics } from './rule-metrics.ts';
import { AgentHub } from './hub/agent-hub.ts';
import { Telemetry } from './telemetry/telemetry.ts';
import { registerDashboardRoutes } from './dashboard/routes.ts';
import { ControllerManager } from './controllers/manager.ts';
import { bootstrapAdmin } from './auth/tokens.ts';
import { TokenHolds, revokeNodeCredentials, sweepOrphanCredentials } from './auth/token-holds.ts';
import { AuthThrottle } from './auth/auth-throttle.ts';
import { NetworkAwareness } from './network/index.ts';
import { CertificateAuthority } from './pki/authority.ts';
import { DEFAULT_PROJECT } from '../core/index.ts';

export const VERSION = '0.1.0';

export interface RunningCenter {
  /** https://host:port: the API, the agents' channel and the dashboard. */
  url: string;
  port: number;
  /** The plain-HTTP loopback listener (localListen), when there is one. */
  localUrl: string | undefined;
  /** The CA's certificate (PEM) and pin: what clients and agents trust. */
  caCertificate: string;
  caPin: string;
  store: Store;
  /** The admin token, only on the very first start (it is stored hashed). */
  adminToken: string | undefined;
  /** The routes its API serves (method and URL pattern): what its OpenAPI document must describe. */
  routes(): readonly { method: string; url: string }[];
  close(): Promise<void>;
}

/** Starts the control plane: store, API, agent hub, controllers and housekeeping. */
export async function startCenter(input: Partial<CenterConfig>, logger?: Logger): Promise<RunningCenter> {
  const cfg = parseOrThrow(centerConfigSchema, input, 'center config');
  // The store and the admin token file: the owner's alone.
  if (!cfg.database?.startsWith('postgres')) ensurePrivateDir(cfg.dataDir);
  const log = logger ?? pino({ level: cfg.logLevel, base: { part: 'center' } });
  const store = cfg.database?.startsWith('postgres') ? await openPostgresStore(cfg.database) : await openSqliteStore(cfg.database ?? join(cfg.dataDir, 'center.db'), cfg.storeSync);
  const adminToken = await bootstrapAdmin(store);
  if (!(await store.get('Project', undefined, DEFAULT_PROJECT))) {
    await store.apply([{ apiVersion: 'gedge.io/v1', kind: 'Project', metadata: { name: DEFAULT_PROJECT, labels: {} }, spec: { description: 'The default project' } }]);
  }

  const swept = await sweepOrphanCredentials(store);
  if (swept) log.info({ credentials: swept }, 'deleted the credentials of nodes deleted while the center was down');
  const metrics = createMetrics();
  registerRuleMetrics(metrics.registry, store);
  const holds = new TokenHolds();
  const throttle = new AuthThrottle();
  const ca = await CertificateAuthority.open(join(cfg.dataDir, 'pki'), { cert: cfg.caCert, key: cfg.caKey });
  const app = createServer(store, log, metrics, { holds, throttle, ca }, await ca.serverCertificate(serverNames(cfg.host, cfg.tlsSans)));
  const startedAt = Date.now();
  const network = new NetworkAwareness(store, log.child({ module: 'network' }), cfg);
  await network.start();
  const telemetry = new Telemetry();
  const forgetTelemetry = store.subscribe((c) => {
    if (c.type !== 'DELETED') return;
    if (c.object.kind === 'Node') {
      const node = c.object.metadata.name;
      telemetry.forgetNode(node);
      // A deleted node's credential dies with it, and its agent is cut off at once.
      void revokeNodeCredentials(store, holds, node, `node "${node}" was deleted`).catch((err: unknown) => log.error({ err, node }, 'revoking a deleted node\'s credentials failed'));
    } else if (c.object.kind === 'Instance') telemetry.forgetInstance(projectOf(c.object), c.object.metadata.name);
  });
  const hub = new AgentHub(store, log.child({ module: 'hub' }), metrics, { holds, throttle, ca }, {
    heartbeatMs: cfg.heartbeatMs,
    telemetry,
    statusWriteMs: cfg.statusWriteMs,
    // Agents connect only after listen(), by which time the manager exists.
    onAlive: (n) => manager.nodeSeen(n),
    network,
  });
  const manager = new ControllerManager(store, log, metrics, {
    notReadyAfterMs: cfg.notReadyAfterMs,
    evictAfterMs: cfg.evictAfterMs,
    seenAt: (n) => hub.seenAt(n),
    startedAt,
    tickMs: Math.min(1000, cfg.heartbeatMs),
    resyncMs: 30_000,
    scheduler: { tierCost: cfg.tierCost },
    rebalance: { periodMs: cfg.rebalanceMs, minGain: cfg.rebalanceMinGain, maxMoves: 20 },
    commandRetentionMs: cfg.commandRetentionMs,
  });
  const egress = new EgressPolicy(cfg.egressAllow);
  registerResourceRoutes(app, store, egress);
  registerRolloutRoutes(app, store);
  registerAuthRoutes(app, store, holds, { ca, certs: { lifetimeMs: cfg.nodeCertTtlMs, graceMs: cfg.nodeCertGraceMs }, renewed: (node, cert) => hub.renewed(node, cert) });
  registerDeviceRoutes(app, store, ca);
  registerSessionRoutes(app, store, throttle);
  registerOpsRoutes(app, store, hub, metrics, VERSION);
  registerExecRoute(app, store, hub);
  // MQTTS sinks trust the system's roots and this CA: a gedge edge broker serves a certificate it issued.
  registerUplinkRoutes(app, store, log.child({ module: 'uplink' }), { tableSweepMs: cfg.tableSweepMs, egress, trust: [ca.certPem], reader: () => manager.reader() });
  registerDashboardRoutes(app, store, { reader: () => manager.reader(), telemetry, dashboardDir: cfg.dashboardDir });
  const upgrades = [execUpgradeRoute(store, hub, { holds, throttle }, log.child({ module: 'exec' }))];
  hub.attach(app.server, upgrades);

  await app.listen({ host: cfg.host, port: cfg.port });
  const port = (app.server.address() as { port: number }).port;
  const url = `https://${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${port}`;
  const local = cfg.localListen ? await listenLocal(app, cfg.localListen) : undefined;
  if (local) hub.attach(local.server, upgrades);
  await manager.start();
  const housekeeping = setInterval(() => void housekeep(store, cfg, log), cfg.housekeepingMs);
  log.info({ url, localUrl: local?.url, caPin: ca.pin, version: VERSION }, 'center listening');

  return {
    url,
    port,
    localUrl: local?.url,
    caCertificate: ca.certPem,
    caPin: ca.pin,
    store,
    adminToken,
    routes: () => servedRoutes(app),
    async close() {
      clearInterval(housekeeping);
      forgetTelemetry();
      manager.stop();
      await hub.close();
      holds.close();
      network.stop();
      local?.server.closeAllConnections();
      await Promise.all([app.close(), local && new Promise((r) => local.server.close(r))]);
      await store.close();
    },
  };
}

/** What the center's certificate names: loopback always, the listen host, every interface's address when it listens on all, and the operator's extras. */
function serverNames(host: string, extra: string[]): { ips: string[]; dns: string[] } {
  const ips = new Set(['127.0.0.1', '::1']);
  const dns = new Set(['localhost']);
  const add = (h: string) => (isIP(h) ? ips.add(h) : dns.add(h));
  if (host === '0.0.0.0' || host === '::') {
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (!a.address.startsWith('fe80:')) ips.add(a.address);
  } else add(host);
  for (const h of extra) add(h);
  return { ips: [...ips], dns: [...dns] };
}

/** The loopback plain-HTTP listener: the same routes and hooks as the HTTPS one (Fastify's router behind another server). */
async function listenLocal(app: { ready(): PromiseLike<unknown>; routing(req: http.IncomingMessage, res: http.ServerResponse): void }, address: string): Promise<{ server: http.Server; url: string }> {
  await app.ready();
  const { host, port: wanted } = parseLoopbackListen(address)!; // checked by the config schema
  const server = http.createServer({ noDelay: true }, (req, res) => app.routing(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(wanted, host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return { server, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}` };
}

/** Compacts the change log and drops expired events; never fails the center. */
async function housekeep(store: Store, cfg: CenterConfig, log: Logger): Promise<void> {
  try {
    const current = await store.currentRevision();
    const removed = await store.compact(current - cfg.changeLogRetain);
    const cutoff = Date.now() - cfg.eventTtlMs;
    const events = (await store.list('Event')).items;
    let expired = 0;
    for (const e of events) {
      if (Date.parse(e.spec.at) < cutoff) {
        await store.delete('Event', undefined, e.metadata.name).catch(() => undefined);
        expired++;
      }
    }
    if (removed || expired) log.info({ compacted: removed, expiredEvents: expired }, 'housekeeping');
  } catch (err) {
    log.error({ err }, 'housekeeping failed');
  }
}
