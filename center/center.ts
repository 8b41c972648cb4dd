import pino, { type Logger } from 'pino';
import { ModuleFailedError, Supervisor, VERSION, parseOrThrow, type ModuleHealth } from '../core/index.ts';
import { centerConfigSchema, type CenterConfig } from './config.ts';
import type { Store } from './store/store.ts';
import { servedRoutes } from './api/server.ts';
import { centerModules, newCenterParts } from './modules.ts';
import { bootstrapAdmin } from './auth/tokens.ts';

export { VERSION };

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
  /** Its supervised modules (center/modules.ts). */
  modules(): ModuleHealth[];
  /** An essential module failed after the start (logged): everything has stopped. */
  onFatal(listener: (err: Error) => void): void;
  close(): Promise<void>;
}

/**
 * Starts the control plane: an ordered list of supervised modules
 * (core/module.ts, center/modules.ts): store, authority, network,
 * telemetry, API with the agent hub, controllers and housekeeping.
 */
export async function startCenter(input: Partial<CenterConfig>, logger?: Logger): Promise<RunningCenter> {
  const cfg = parseOrThrow(centerConfigSchema, input, 'center config');
  const log = logger ?? pino({ level: cfg.logLevel, base: { part: 'center' } });
  const parts = newCenterParts(cfg, log, VERSION, () => ({ ready: supervisor.ready, health: supervisor.health() }));
  const supervisor = new Supervisor(centerModules(parts), { log });
  try {
    await supervisor.start();
  } catch (err) {
    // The module's own error (a taken port, a store that does not open): what the operator must fix.
    throw err instanceof ModuleFailedError ? err.cause : err;
  }
  const { url, port, local, ca, store, app } = parts;
  // Made once everything runs: a first start that fails (a taken port, say) must not make a token nobody is shown.
  const adminToken = await bootstrapAdmin(store);
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
    modules: () => supervisor.health(),
    onFatal: (listener) => void supervisor.on('fatal', listener),
    close: () => supervisor.stop(),
  };
}
