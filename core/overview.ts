import type { InstancePhase } from './workload-schema.ts';
import type { GedgeEvent, Site } from './resources.ts';

/**
 * GET /api/v1/overview: counts and health of the fleet for the dashboard's
 * first page (center/services/overview.ts computes it; the dashboard reads
 * it). One shape for both sides.
 */
export interface Overview {
  revision: number;
  counts: {
    sites: { total: number; cloud: number; region: number; edge: number };
    nodes: { total: number; Ready: number; NotReady: number; Pending: number; cordoned: number };
    services: { total: number; available: number; rollingOut: number };
    instances: { total: number; restarts: number } & Record<InstancePhase, number>;
    devices: { total: number; connected: number };
    rules: { total: number; paused: number; failing: number };
  };
  /** Per site: where it sits and how its nodes and instances fare. */
  sites: {
    name: string;
    tier: Site['spec']['tier'];
    parent: string | null;
    location: Site['spec']['location'] | null;
    nodes: { total: number; ready: number };
    instances: { total: number; running: number };
  }[];
  /** The newest Warning events, newest first. */
  warnings: { name: string; at: string; reason: string; message: string; involved: GedgeEvent['spec']['involved'] }[];
}
