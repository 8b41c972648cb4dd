import { NotFoundError, type ApiClient, type DeviceCredential } from '../../core/index.ts';
import { IMAGE_PIXELS, loadFashionMnist, type Dataset } from '../../training/fashion-mnist.ts';
import { SimConfigError } from '../errors.ts';
import { connectAll, SimDevice } from '../traffic/devices.ts';
import { resolveBrokers, revokeCredentials } from '../traffic/provision.ts';
import { TrafficCounters } from '../traffic/stats.ts';

/** Marks the cameras' credentials, so a run replaces those of the run before. */
export const CCTV_CREDENTIAL_DESCRIPTION = 'gedge sim cctv';

export interface CctvSimOptions {
  /** An admin client: the simulator provisions its cameras and their credentials. */
  api: ApiClient;
  project: string;
  /** Edge sites, each with its cameras on its broker. */
  sites: string[];
  /** Cameras per site. */
  cameras: number;
  /** Frames a second, each camera. */
  fps: number;
  /** Fashion-MNIST's directory (default: Debian's). */
  datasetDir?: string;
  log?: (line: string) => void;
}

export interface CctvStats {
  framesSent: number;
  framesDropped: number;
}

export interface CctvSim {
  readonly cameras: readonly string[];
  stats(): CctvStats;
  /** Stops the cameras, disconnects them and revokes this run's credentials. Idempotent. */
  stop(): Promise<CctvStats>;
}

/**
 * The airport's CCTV cameras: MQTT devices on their terminal's edge broker,
 * each publishing the frames of Fashion-MNIST's test split in turn (its own
 * offset), as a camera would its crops: `cams/<site>/<camera>/frame` with
 * `{device, label, pixels}` (pixels 0-255, 784 of them; the label is the
 * truth the scenario measures accuracy against, at the edge). QoS 0: a
 * frame lost is lost, as a camera's would be.
 */
export async function startCctvSim(o: CctvSimOptions): Promise<CctvSim> {
  const log = o.log ?? (() => undefined);
  if (!Number.isInteger(o.cameras) || o.cameras < 1 || o.cameras > 1000) throw new SimConfigError(`--cameras: ${o.cameras} is not a whole number from 1 to 1000`, { details: [{ path: 'cameras', message: String(o.cameras) }] });
  if (!(o.fps > 0 && o.fps <= 100)) throw new SimConfigError(`--fps: ${o.fps} is not a number above 0 and at most 100`, { details: [{ path: 'fps', message: String(o.fps) }] });
  const frames = await loadFashionMnist('test', { dir: o.datasetDir });
  const brokers = await resolveBrokers(o.api, o.sites);
  const cameras = o.sites.flatMap((site) => Array.from({ length: o.cameras }, (_, k) => ({ name: `cam-${site}-${k + 1}`, site })));
  const docs = cameras.map((c) => ({
    apiVersion: 'gedge.io/v1',
    kind: 'Device',
    metadata: { name: c.name, project: o.project, labels: { 'gedge.io/sim': 'cctv' } },
    spec: { site: c.site, description: `CCTV camera at ${c.site}`, grants: { publish: [`cams/${c.site}/${c.name}/#`], subscribe: [] } },
  }));
  await o.api.apply(docs.map((d) => JSON.stringify(d)).join('\n---\n'));
  const stale = (await o.api.list<DeviceCredential>('DeviceCredential', { project: o.project })).items.filter((c) => c.spec.description === CCTV_CREDENTIAL_DESCRIPTION);
  await revokeCredentials(o.api, o.project, stale.map((c) => c.metadata.name));
  const ca = [...brokers.values()].flat().some((b) => b.tls) ? await o.api.centerCa() : undefined;
  const counters = new TrafficCounters();
  const devices: SimDevice[] = [];
  const credentials: string[] = [];
  for (const c of cameras) {
    const cred = await o.api.issueDeviceCredential(o.project, c.name, { description: CCTV_CREDENTIAL_DESCRIPTION });
    credentials.push(cred.credential.metadata.name);
    devices.push(new SimDevice({ name: c.name, role: 'camera', clientId: cred.clientId, password: cred.password, credential: cred.credential.metadata.name, broker: brokers.get(c.site)![0]! }, counters, ca));
  }
  const revoke = () => revokeCredentials(o.api, o.project, credentials).catch((e: unknown) => (e instanceof NotFoundError ? 0 : Promise.reject(e)));
  log(`connecting ${devices.length} cameras on ${o.sites.join(', ')}...`);
  try {
    await connectAll(devices, { concurrency: 16, timeoutMs: 60_000 });
  } catch (e) {
    await revoke().catch(() => undefined);
    throw e;
  }
  const stats: CctvStats = { framesSent: 0, framesDropped: 0 };
  const periodMs = 1000 / o.fps;
  const timers = devices.map((d, k) => {
    let next = Math.floor((k * frames.count) / devices.length);
    const site = cameras[k]!.site;
    const send = () => {
      const i = next++ % frames.count;
      const sent = d.publish(`cams/${site}/${d.name}/frame`, framePayload(d.name, frames, i));
      if (sent) stats.framesSent++;
      else stats.framesDropped++;
    };
    // Spread over the period, so the frames of many cameras do not arrive at once.
    const start = setTimeout(() => {
      send();
      timer.interval = setInterval(send, periodMs);
    }, (k / devices.length) * periodMs);
    const timer: { start: NodeJS.Timeout; interval?: NodeJS.Timeout } = { start };
    return timer;
  });
  log(`running: ${devices.length} cameras, ${o.fps} frames/s each`);
  let stopped: Promise<CctvStats> | undefined;
  return {
    cameras: cameras.map((c) => c.name),
    stats: () => ({ ...stats }),
    stop: () =>
      (stopped ??= (async () => {
        for (const t of timers) {
          clearTimeout(t.start);
          clearInterval(t.interval);
        }
        await Promise.all(devices.map((d) => d.close(0)));
        await revoke();
        return { ...stats };
      })()),
  };
}

function framePayload(device: string, d: Dataset, i: number): string {
  return JSON.stringify({ device, label: d.labels[i], pixels: Array.from(d.pixels.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS)) });
}
