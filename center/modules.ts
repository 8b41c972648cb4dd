import http from 'node:http';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { DEFAULT_PROJECT, EgressPolicy, ensurePrivateDir, projectOf, type Module, type ModuleContext, type ModuleHealth } from '../core/index.ts';
import { registerModuleMetrics } from '../core/prometheus.ts';
import { parseLoopbackListen, type CenterConfig } from './config.ts';
import { openSqliteStore } from './store/sqlite-store.ts';
import { openPostgresStore } from './store/postgres-store.ts';
import type { Store } from './store/store.ts';
import { createServer } from './api/server.ts';
import { registerResourceRoutes } from './api/resource-routes.ts';
import { registerAuthRoutes } from './api/auth-routes.ts';
import { registerDeviceRoutes } from './api/device-routes.ts';
import { registerSessionRoutes } from './api/session-routes.ts';
import { registerOpsRoutes } from './api/ops-routes.ts';
import { execUpgradeRoute, registerExecRoute } from './api/exec-route.ts';
import { registerRolloutRoutes } from './api/rollout-routes.ts';
import { registerArtifactRoutes } from './api/artifact-routes.ts';
import { registerUplinkRoutes, uplinkModule, type UplinkService } from './uplink/index.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { registerRuleMetrics } from './rule-metrics.ts';
import { AgentHub } from './hub/agent-hub.ts';
import { Telemetry } from './telemetry/telemetry.ts';
import { registerDashboardRoutes } from './dashboard/routes.ts';
import { ControllerManager } from './controllers/manager.ts';
import { TokenHolds, revokeNodeCredentials, sweepOrphanCredentials } from './auth/token-holds.ts';
import { AuthThrottle } from './auth/auth-throttle.ts';
import { Authenticator } from './auth/authenticator.ts';
import { centerServices } from './services/index.ts';
import { ArtifactStore } from './artifacts/artifact-store.ts';
import { NetworkAwareness } from './network/index.ts';
import { CertificateAuthority } from './pki/authority.ts';
import { serverNames } from './server-names.ts';

/**
 * What the center's modules share: each sets its parts when it starts, and
 * reaches the others' through here when it uses them. Every center module
 * is essential (a center without its store, API or controllers serves
 * nobody; the process exits and its service manager starts it again) but
 * housekeeping, whose failure the center outlives.
 */
export interface CenterParts {
  readonly cfg: CenterConfig;
  readonly log: Logger;
  readonly version: string;
  readonly metrics: Metrics;
  readonly holds: TokenHolds;
  readonly throttle: AuthThrottle;
  readonly telemetry: Telemetry;
  readonly startedAt: number;
  /** The supervisor's view of these modules (readyz, /metrics). */
  readonly modules: () => { ready: boolean; health: ModuleHealth[] };
  store: Store;
  ca: CertificateAuthority;
  network: NetworkAwareness;
  hub: AgentHub;
  uplink: UplinkService;
  manager: ControllerManager;
  app: FastifyInstance;
  url: string;
  port: number;
  local: { server: http.Server; url: string } | undefined;
}

export function newCenterParts(cfg: CenterConfig, log: Logger, version: string, modules: CenterParts['modules']): CenterParts {
  const metrics = createMetrics();
  registerModuleMetrics(metrics.registry, () => modules().health);
  return { cfg, log, version, metrics, holds: new TokenHolds(), throttle: new AuthThrottle(), telemetry: new Telemetry(), startedAt: Date.now(), modules } as Partial<CenterParts> as CenterParts;
}

/** The center's modules in the order they start; they stop in reverse. */
export function centerModules(p: CenterParts): Module[] {
  // MQTTS sinks trust the system's roots and this CA: a gedge edge broker serves a certificate it issued.
  const uplink = uplinkModule({
    store: () => p.store,
    options: () => ({ tableSweepMs: p.cfg.tableSweepMs, egress: new EgressPolicy(p.cfg.egressAllow), trust: [p.ca.certPem], reader: () => p.manager?.reader() ?? p.store }),
    started: (service) => void (p.uplink = service),
  });
  return [storeModule(p), authorityModule(p), networkModule(p), telemetryModule(p), uplink, apiModule(p), controllersModule(p), housekeepingModule(p)];
}

/** The store (SQLite or PostgreSQL, migrated) and the default project. */
function storeModule(p: CenterParts): Module {
  let store: Store | undefined;
  return {
    name: 'store',
    essential: true,
    async start(ctx) {
      const { cfg } = p;
      // The store and the admin token file: the owner's alone.
      if (!cfg.database?.startsWith('postgres')) ensurePrivateDir(cfg.dataDir);
      store = p.store = cfg.database?.startsWith('postgres') ? await openPostgresStore(cfg.database) : await openSqliteStore(cfg.database ?? join(cfg.dataDir, 'center.db'), cfg.storeSync);
      if (!(await store.get('Project', undefined, DEFAULT_PROJECT))) {
        await store.apply([{ apiVersion: 'gedge.io/v1', kind: 'Project', metadata: { name: DEFAULT_PROJECT, labels: {} }, spec: { description: 'The default project' } }]);
      }
      const swept = await sweepOrphanCredentials(store);
      if (swept) ctx.log.info({ credentials: swept }, 'deleted the credentials of nodes deleted while the center was down');
      registerRuleMetrics(p.metrics.registry, store);
    },
    async stop() {
      await store?.close();
    },
  };
}

/** The CA that issues node certificates and the server's own. */
function authorityModule(p: CenterParts): Module {
  return {
    name: 'authority',
    essential: true,
    async start() {
      p.ca = await CertificateAuthority.open(join(p.cfg.dataDir, 'pki'), { cert: p.cfg.caCert, key: p.cfg.caKey });
    },
    async stop() {},
  };
}

/** The measured latency map: peers to probe, links recorded. */
function networkModule(p: CenterParts): Module {
  let network: NetworkAwareness | undefined;
  return {
    name: 'network',
    essential: true,
    async start(ctx) {
      network = p.network = new NetworkAwareness(p.store, ctx.log, p.cfg);
      await network.start();
    },
    async stop() {
      network?.stop();
    },
  };
}

/** Forgets the telemetry of deleted nodes and instances; a deleted node's credential dies with it. */
function telemetryModule(p: CenterParts): Module {
  let unsubscribe: (() => void) | undefined;
  return {
    name: 'telemetry',
    essential: true,
    async start(ctx) {
      unsubscribe = p.store.subscribe((c) => {
        if (c.type !== 'DELETED') return;
        if (c.object.kind === 'Node') {
          const node = c.object.metadata.name;
          p.telemetry.forgetNode(node);
          // The agent is cut off at once.
          void revokeNodeCredentials(p.store, p.holds, node, `node "${node}" was deleted`).catch((err: unknown) => ctx.log.error({ err, node }, "revoking a deleted node's credentials failed"));
        } else if (c.object.kind === 'Instance') p.telemetry.forgetInstance(projectOf(c.object), c.object.metadata.name);
      });
    },
    async stop() {
      unsubscribe?.();
    },
  };
}

/** The API, the agents' channel and the dashboard, on HTTPS (and the loopback plain-HTTP listener, if asked). */
function apiModule(p: CenterParts): Module {
  let started: { app: FastifyInstance; hub: AgentHub; local?: http.Server } | undefined;
  let stopping = false;
  return {
    name: 'api',
    essential: true,
    async start(ctx) {
      const { cfg, store, log, metrics, holds, throttle, ca } = p;
      const auth = new Authenticator(store, ca, throttle);
      const app = (p.app = createServer(log, metrics, { holds, auth, caPem: ca.certPem }, await ca.serverCertificate(serverNames(cfg.host, cfg.tlsSans))));
      const hub = (p.hub = new AgentHub(store, log.child({ module: 'hub' }), metrics, { holds, auth }, {
        heartbeatMs: cfg.heartbeatMs,
        telemetry: p.telemetry,
        statusWriteMs: cfg.statusWriteMs,
        // Agents connect only after listen(), by which time the controllers' module is next to start; until it has, nothing is noted.
        onAlive: (n) => p.manager?.nodeSeen(n),
        network: p.network,
      }));
      started = { app, hub };
      const artifacts = new ArtifactStore(join(cfg.dataDir, 'artifacts'), { maxBytes: cfg.maxArtifactBytes });
      const swept = await artifacts.sweepIncoming();
      if (swept) log.info({ files: swept }, 'removed the temporary files of model uploads a previous run left unfinished');
      const s = centerServices(store, {
        egress: new EgressPolicy(cfg.egressAllow),
        artifacts,
        holds,
        pki: { ca, certs: { lifetimeMs: cfg.nodeCertTtlMs, graceMs: cfg.nodeCertGraceMs }, renewed: (node, cert) => hub.renewed(node, cert) },
        telemetry: p.telemetry,
        // The controllers' cache once they run (they start right after the API listens), the store until then.
        reader: () => p.manager?.reader() ?? store,
      });
      registerResourceRoutes(app, s);
      registerRolloutRoutes(app, s.rollouts);
      registerAuthRoutes(app, s.tokens, ca);
      registerDeviceRoutes(app, s.deviceCredentials);
      registerSessionRoutes(app, auth);
      registerOpsRoutes(app, s, hub, metrics, { version: p.version, modules: p.modules });
      registerExecRoute(app, s.instances, hub);
      registerUplinkRoutes(app, () => p.uplink);
      registerDashboardRoutes(app, s.fleet, cfg.dashboardDir);
      registerArtifactRoutes(app, s.artifacts);
      const upgrades = [execUpgradeRoute(s.instances, hub, { holds, auth }, log.child({ module: 'exec' }))];
      hub.attach(app.server, upgrades);

      await app.listen({ host: cfg.host, port: cfg.port });
      watchListener(app.server, ctx, () => stopping);
      p.port = (app.server.address() as { port: number }).port;
      p.url = `https://${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${p.port}`;
      p.local = cfg.localListen ? await listenLocal(app, cfg.localListen) : undefined;
      if (p.local) {
        started.local = p.local.server;
        watchListener(p.local.server, ctx, () => stopping);
        hub.attach(p.local.server, upgrades);
      }
    },
    async stop() {
      stopping = true;
      if (!started) return;
      const { app, hub, local } = started;
      await hub.close();
      p.holds.close();
      local?.closeAllConnections();
      await Promise.all([app.close(), local && new Promise((r) => local.close(r))]);
    },
  };
}

/**
 * Past listen(), a server's 'error' is a connection it could not accept (out
 * of file descriptors, say): it listens on, and the error is logged. A
 * server that closes without the module stopping no longer serves: that is
 * the module's failure (the supervisor stops the center; its service
 * manager starts it again).
 */
function watchListener(server: http.Server | FastifyInstance['server'], ctx: ModuleContext, stopping: () => boolean): void {
  server.on('error', (err: Error) => ctx.log.warn({ err: err.message }, 'a connection could not be accepted'));
  server.on('close', () => stopping() || ctx.fail(new Error('the API listener stopped listening')));
}

/** The controllers (services, placement, nodes, rollouts...): they start once the API listens. */
function controllersModule(p: CenterParts): Module {
  let manager: ControllerManager | undefined;
  return {
    name: 'controllers',
    essential: true,
    async start() {
      const { cfg } = p;
      manager = p.manager = new ControllerManager(p.store, p.log, p.metrics, {
        notReadyAfterMs: cfg.notReadyAfterMs,
        evictAfterMs: cfg.evictAfterMs,
        seenAt: (n) => p.hub.seenAt(n),
        startedAt: p.startedAt,
        tickMs: Math.min(1000, cfg.heartbeatMs),
        resyncMs: 30_000,
        scheduler: { tierCost: cfg.tierCost },
        rebalance: { periodMs: cfg.rebalanceMs, minGain: cfg.rebalanceMinGain, maxMoves: 20 },
        commandRetentionMs: cfg.commandRetentionMs,
      });
      await manager.start();
    },
    async stop() {
      manager?.stop();
    },
  };
}

/** Compacts the change log and drops expired events; a failed round is logged and the next one tries again. */
function housekeepingModule(p: CenterParts): Module {
  let timer: NodeJS.Timeout | undefined;
  return {
    name: 'housekeeping',
    async start(ctx) {
      timer = setInterval(() => void housekeep(p.store, p.cfg, ctx.log), p.cfg.housekeepingMs);
    },
    async stop() {
      clearInterval(timer);
    },
  };
}

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
