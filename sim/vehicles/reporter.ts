import { NotFoundError, type ApiClient, type DeviceCredential } from '../../core/index.ts';
import { connectAll, SimDevice } from '../traffic/devices.ts';
import { resolveBrokers, revokeCredentials } from '../traffic/provision.ts';
import { TrafficCounters } from '../traffic/stats.ts';
import type { Handover } from './vehicle.ts';

/** Marks the reporters' credentials, so a run replaces those of the run before. */
export const VEHICLES_CREDENTIAL_DESCRIPTION = 'gedge sim vehicles';

/** A vehicle as its site's reporter publishes it. */
export interface VehicleReport {
  vehicle: string;
  lat: number;
  lon: number;
  count: number | null;
  node: string | null;
}

/** The assistant's response times at a site over a window, as the vehicles (and the rush hour's drivers) saw them. */
export interface AssistWindow {
  site: string;
  windowEnd: number;
  requests: number;
  errors: number;
  p50: number | null;
  p99: number | null;
  surge: { requests: number; errors: number; atEdge: number; p99: number | null } | null;
}

/**
 * A roadside reporter per site: an MQTT Device (`roadside-<site>`) on the
 * site's edge broker that publishes what the vehicles there see, for the
 * route city-vehicles / city-handovers (examples/smart-city/vehicles.yaml)
 * to carry to the center:
 *
 * - `vehicles/<site>/positions` {site, at, vehicles: VehicleReport[]}, QoS 0;
 * - `vehicles/<site>/assist` AssistWindow, QoS 1;
 * - `handovers/<to>/<vehicle>` Handover, QoS 1.
 */
export class Reporters {
  private constructor(
    private readonly api: ApiClient,
    private readonly project: string,
    private readonly devices: Map<string, SimDevice>,
    private readonly credentials: string[],
  ) {}

  static async start(api: ApiClient, project: string, sites: string[], log: (line: string) => void): Promise<Reporters> {
    const brokers = await resolveBrokers(api, sites);
    const docs = sites.map((site) => ({
      apiVersion: 'gedge.io/v1',
      kind: 'Device',
      metadata: { name: `roadside-${site}`, project, labels: { 'gedge.io/sim': 'vehicles' } },
      spec: { site, description: `roadside reporter of the vehicles at ${site}`, grants: { publish: [`vehicles/${site}/#`, `handovers/${site}/#`], subscribe: [] } },
    }));
    await api.apply(docs.map((d) => JSON.stringify(d)).join('\n---\n'));
    const stale = (await api.list<DeviceCredential>('DeviceCredential', { project })).items.filter((c) => c.spec.description === VEHICLES_CREDENTIAL_DESCRIPTION);
    await revokeCredentials(api, project, stale.map((c) => c.metadata.name));
    const ca = [...brokers.values()].flat().some((b) => b.tls) ? await api.centerCa() : undefined;
    const devices = new Map<string, SimDevice>();
    const credentials: string[] = [];
    const counters = new TrafficCounters();
    for (const site of sites) {
      const name = `roadside-${site}`;
      const cred = await api.issueDeviceCredential(project, name, { description: VEHICLES_CREDENTIAL_DESCRIPTION });
      credentials.push(cred.credential.metadata.name);
      // The role only names the kind of device: a roadside unit publishes what it sees and hears nothing, as a camera does.
      devices.set(site, new SimDevice({ name, role: 'camera', clientId: cred.clientId, password: cred.password, credential: cred.credential.metadata.name, broker: brokers.get(site)![0]! }, counters, ca));
    }
    const r = new Reporters(api, project, devices, credentials);
    log(`connecting ${devices.size} roadside reporters...`);
    try {
      await connectAll([...devices.values()], { concurrency: 8, timeoutMs: 60_000 });
    } catch (e) {
      await r.close();
      throw e;
    }
    return r;
  }

  positions(site: string, vehicles: VehicleReport[]): void {
    this.devices.get(site)?.publish(`vehicles/${site}/positions`, JSON.stringify({ site, at: Date.now(), vehicles }));
  }

  assist(w: AssistWindow): void {
    this.devices.get(w.site)?.publish(`vehicles/${w.site}/assist`, JSON.stringify(w), 1);
  }

  handover(h: Handover): void {
    this.devices.get(h.to)?.publish(`handovers/${h.to}/${h.vehicle}`, JSON.stringify(h), 1);
  }

  /** Disconnects the reporters and revokes this run's credentials. */
  async close(): Promise<void> {
    await Promise.all([...this.devices.values()].map((d) => d.close()));
    await revokeCredentials(this.api, this.project, this.credentials).catch((e: unknown) => (e instanceof NotFoundError ? 0 : Promise.reject(e)));
  }
}
