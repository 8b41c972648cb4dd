import type { Logger } from 'pino';
import type { AgentMessage } from '../core/index.ts';
import type { AgentConfig } from './config.ts';
import type { NodeCertificate } from './node-certificate.ts';
import type { LocalState } from './local-state.ts';
import type { EdgeObjects } from './devices/edge-objects.ts';
import type { RuleHost } from './rules/rule-host.ts';
import { EdgeBroker } from '../broker/index.ts';
import { DeviceService } from './devices/device-service.ts';
import { UplinkRouter } from './devices/uplink-router.ts';
import { UplinkQueue, UplinkSender } from './uplink/index.ts';
import { parseHostPort } from '../core/host-port.ts';
import { ModelBridge } from './models/model-bridge.ts';
import type { NodeModels } from './models/model-client.ts';
import type { Roaming } from './devices/roaming.ts';

/** What serves the site's devices: the edge broker, the device service, and the uplink queue, sender and router. */
export interface EdgeParts {
  broker: EdgeBroker;
  devices: DeviceService;
  uplink: { queue: UplinkQueue; sender: UplinkSender; router: UplinkRouter };
  /** The host devices reach the broker at (the first listener's). */
  host: string;
}

export interface EdgeDeps {
  cfg: AgentConfig;
  identity: { node: string; credential: string };
  cert: NodeCertificate;
  edge: EdgeObjects;
  site: string | undefined;
  state: LocalState;
  log: Logger;
  /** The rule host, made after the broker (it publishes through it). */
  rules: () => RuleHost | undefined;
  /** Where this node serves a model Service (its ready instances). */
  models: NodeModels;
  /** Roaming devices' sessions, through the center. */
  roaming: Roaming;
  /** Device reports for the center (dropped while it is not caught up). */
  send: (m: AgentMessage) => boolean;
  /** The broker broke after it started. */
  onFailure: (err: Error) => void;
}

/**
 * Starts the edge broker and what serves its devices, from local state,
 * before any contact with the center: devices authenticate and work offline.
 * A device's publish goes to the device service (twins), the model bridge
 * (inference requests), the rules, and the uplink router, whose queue
 * acknowledges it once it is safe.
 */
export async function startEdge(d: EdgeDeps): Promise<EdgeParts> {
  const { cfg, log } = d;
  const queue = UplinkQueue.open(cfg.dataDir, cfg.uplink, { log });
  const sender = new UplinkSender(queue, { center: cfg.center, node: d.identity.node, credential: d.identity.credential, tls: () => d.cert.current, log });
  const router = new UplinkRouter(queue, log);
  router.setRoutes(d.edge.routes(d.site));
  sender.start();
  // The device service needs the broker, and the broker's hooks need it: made once the broker is.
  const served: { devices?: DeviceService; models?: ModelBridge } = {};
  const broker = await EdgeBroker.start({
    onFailure: d.onFailure,
    tcp: cfg.mqttListen === 'off' ? undefined : cfg.mqttListen,
    ws: cfg.mqttWsListen,
    tls: cfg.mqttTlsListen,
    wss: cfg.mqttWssListen,
    certificate: d.cert.current,
    limits: cfg.mqttLimits,
    dataDir: cfg.dataDir,
    directory: d.edge,
    logger: log,
    hooks: {
      onConnect: (id) => served.devices?.onConnect(id),
      onDisconnect: (id) => served.devices?.onDisconnect(id),
      onPublish: (msg) => {
        served.devices?.onPublish(msg);
        served.models?.onPublish(msg);
        d.rules()?.ingest(msg);
        // The publisher's acknowledgement waits until the message is safe in the uplink queue (or has room there).
        return router.route(msg);
      },
      onRoam: d.roaming.onRoam,
      onForward: d.roaming.onForward,
    },
  }).catch(async (err: unknown) => {
    // A broker that cannot listen leaves nothing behind: the module is started again later.
    await sender.stop();
    queue.close();
    throw err;
  });
  const devices = new DeviceService({ broker, objects: d.edge, state: d.state, node: d.identity.node, logger: log, send: d.send });
  served.devices = devices;
  served.models = new ModelBridge({ broker, models: d.models, log: log.child({ module: 'models' }) });
  devices.publishAllDesired();
  const listen = [cfg.mqttTlsListen, cfg.mqttWssListen, cfg.mqttListen, cfg.mqttWsListen].find((l) => l && l !== 'off')!;
  if (cfg.mqttListen !== 'off' || cfg.mqttWsListen) log.warn({ event: 'plain-mqtt' }, 'the edge broker accepts MQTT in clear: device passwords and data cross the network unencrypted (prefer --mqtt-tls-listen)');
  return { broker, devices, uplink: { queue, sender, router }, host: parseHostPort(listen)!.host };
}
