import { EgressPolicy, type Module } from '../../core/index.ts';
import type { Store } from '../store/store.ts';
import { RouteStatusWriter } from './route-status.ts';
import { SinkPool } from './sink-pool.ts';
import { TableSweeper } from './table-sweeper.ts';
import { UplinkService } from './uplink-service.ts';

export interface UplinkOptions {
  /** Route status is written at most this often per route. */
  statusWriteMs: number;
  /** Broker sinks unused this long are closed. */
  sinkIdleMs: number;
  /** Connect and acknowledgement timeout of broker sinks. */
  sinkTimeoutMs: number;
  /** How often table-sink rows past their Route's retention are deleted. */
  tableSweepMs: number;
  /** Where broker sinks may connect. */
  egress: EgressPolicy;
  /** CA certificates (PEM) that TLS sinks trust besides the system's roots: the center's own, which signs the edge brokers'. */
  trust: string[];
  /** Where batches' Nodes and Devices are read: the controllers' cache (ControllerManager.reader). */
  reader?: () => Pick<Store, 'get'>;
}
const DEFAULTS: UplinkOptions = { statusWriteMs: 1000, sinkIdleMs: 300_000, sinkTimeoutMs: 10_000, tableSweepMs: 60_000, egress: new EgressPolicy(), trust: [] };

/**
 * Uplink ingest as a module of the center, apart from HTTP: the sink pool,
 * the route status writer and the table sweeper with their timers, and the
 * service that lands nodes' batches (`POST /api/v1/uplink` is its adapter,
 * uplink-routes.ts). Stopped after the API: no batch is cut half-way.
 */
export function uplinkModule(deps: { store: () => Store; options: () => Partial<UplinkOptions>; started: (service: UplinkService) => void }): Module {
  let parts: { sinks: SinkPool; status: RouteStatusWriter; sweeper: TableSweeper } | undefined;
  return {
    name: 'uplink',
    essential: true,
    async start(ctx) {
      const o = { ...DEFAULTS, ...deps.options() };
      const store = deps.store();
      const sinks = new SinkPool(store.uplink, ctx.log, { idleMs: o.sinkIdleMs, timeoutMs: o.sinkTimeoutMs, egress: o.egress, trust: o.trust });
      const status = new RouteStatusWriter(store, ctx.log, o.statusWriteMs);
      const sweeper = new TableSweeper(store, ctx.log, { everyMs: o.tableSweepMs });
      parts = { sinks, status, sweeper };
      deps.started(new UplinkService(store, sinks, status, o.reader));
    },
    async stop() {
      if (!parts) return;
      await parts.sweeper.close();
      await parts.status.close();
      await parts.sinks.close();
    },
  };
}
