import { Registry, collectDefaultMetrics } from 'prom-client';

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
