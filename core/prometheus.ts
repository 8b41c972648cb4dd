import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ModuleHealth } from './module.ts';

/**
 * prom-client's gauges that end in _total (counted handles, requests and
 * resources, kept for old dashboards): promtool refuses a gauge so named, and
 * the same counts are there without the suffix.
 */
const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/**
 * A registry of its own (several parts may share a process in tests) with
 * Node's and the process's metrics under their standard names (process_*,
 * nodejs_*), so stock dashboards work. gedge's own go under gedge_, in base
 * units, counters ending in _total: `promtool check metrics` passes on the
 * center's and every agent's. Imported by path, not through core/index.ts:
 * the CLI does not load prom-client.
 */
export function processRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name);
  return registry;
}

/** A process's supervised modules (core/module.ts): whether each runs, and how often it was restarted after a failure. */
export function registerModuleMetrics(registry: Registry, read: () => ModuleHealth[]): void {
  new Gauge({
    name: 'gedge_module_up',
    help: '1 while the module runs; 0 while it starts, backs off after a failure, or is stopped',
    labelNames: ['module'],
    registers: [registry],
    collect() {
      this.reset();
      for (const m of read()) this.set({ module: m.name }, m.state === 'running' ? 1 : 0);
    },
  });
  new Counter({
    name: 'gedge_module_restarts_total',
    help: 'Restarts of the module after it failed',
    labelNames: ['module'],
    registers: [registry],
    collect() {
      this.reset();
      for (const m of read()) this.inc({ module: m.name }, m.restarts);
    },
  });
}
