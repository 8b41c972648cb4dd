import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Option, type Command } from 'commander';
import { CliError } from '../errors.ts';
import { durationFlag, renamedDurationFlag } from '../durations.ts';
import { logFormatOption, processLogger } from '../logging.ts';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new CliError(`expected an integer, got "${v}"`);
  return n;
};

const positive = (v: string) => {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new CliError(`expected a positive number, got "${v}"`);
  return n;
};

interface AgentFlags {
  center: string;
  joinToken?: string;
  caPin?: string;
  dataDir: string;
  name?: string;
  site?: string;
  label: Record<string, string>;
  probeListen: string;
  probeAdvertise?: string;
  endpointListen?: string;
  gatewayListen?: string;
  gatewayAdvertise?: string;
  mqttListen: string;
  mqttWsListen?: string;
  mqttTlsListen?: string;
  mqttWssListen?: string;
  egressAllow?: string[];
  mqttMaxPacketBytes?: number;
  mqttConnectTimeout?: number;
  mqttMaxConnections?: number;
  mqttMaxConnectionsPerAddress?: number;
  uplinkFsync: string;
  uplinkOverflow: string;
  uplinkMaxMib: number;
  uplinkMaxMessages: number;
  uplinkTtl: number;
  containerRuntime: string;
  cpu?: number;
  memoryMib?: number;
  logLevel: string;
  logFormat: string;
}

/** center, agent, up: the long-running processes. Each stops cleanly on SIGINT/SIGTERM. */
export function registerProcessCommands(program: Command): void {
  program
    .command('center')
    .description('run the control plane (API, store, controllers, agent hub)')
    .option('--data-dir <dir>', 'where the SQLite store lives', './.gedge/center')
    .option('--host <host>', 'listen address', '127.0.0.1')
    .option('--port <port>', 'HTTPS listen port (0 = any free port)', int, 7380)
    .option('--local-listen <host:port>', 'also serve plain HTTP on this loopback address, for a browser on this machine (no certificate warning) and local tools; never node traffic')
    .option('--tls-san <names>', "extra names and addresses for the center's certificate (it always covers localhost, 127.0.0.1, ::1 and --host), comma-separated", commaList)
    .option('--ca-cert <file>', 'first start only: use this CA certificate (PEM) instead of making one')
    .option('--ca-key <file>', 'first start only: the key of --ca-cert (EC P-256, PKCS #8 PEM)')
    .option('--node-cert-ttl <duration>', 'lifetime of node certificates, e.g. 24h (agents renew at two thirds)', durationFlag('--node-cert-ttl'))
    .option('--node-cert-grace <duration>', 'how long after expiry an offline node may still renew, e.g. 7d', durationFlag('--node-cert-grace'))
    .option('--database <url>', 'a postgres:// URL instead of the embedded SQLite')
    .option('--egress-allow <cidrs>', 'networks route sinks may reach besides the default (which refuses link-local, unspecified and multicast), comma-separated', commaList)
    .option('--max-artifact-bytes <bytes>', 'the largest model file an upload may be (default 268435456, 256 MiB)', int)
    .addOption(new Option('--store-sync <mode>', "SQLite: 'full' fsyncs each commit before it is acknowledged; 'normal' may lose the last ones on power loss").choices(['full', 'normal']).default('full'))
    .option('--heartbeat-interval <duration>', 'how often agents send a heartbeat (default 2s)', durationFlag('--heartbeat-interval'))
    .option('--not-ready-after <duration>', 'silence after which a node is NotReady (default 8s)', durationFlag('--not-ready-after'))
    .option('--evict-after <duration>', 'NotReady time after which its instances are rescheduled (default 1m)', durationFlag('--evict-after'))
    .option('--site <site>', "the center's own site: agents' round trips to the center then measure the link to it")
    .option('--probe-interval <duration>', 'how often agents probe their peers and report round trips (default 5s)', durationFlag('--probe-interval'))
    .option('--link-stale-after <duration>', 'a link with no report for this long is Stale (default 30s)', durationFlag('--link-stale-after'))
    .option('--rebalance-interval <duration>', 'how often running instances are checked for SLA violations and a better place (default 30s)', durationFlag('--rebalance-interval'))
    .option('--link-expire-after <duration>', 'a measured link with no report for this long is deleted (default 10m)', durationFlag('--link-expire-after'))
    .option('--admin-token-file <file>', 'on first start, also write the admin token here (mode 0600)')
    .addOption(renamedDurationFlag('--heartbeat-ms', '--heartbeat-interval'))
    .addOption(renamedDurationFlag('--not-ready-after-ms', '--not-ready-after'))
    .addOption(renamedDurationFlag('--evict-after-ms', '--evict-after'))
    .addOption(renamedDurationFlag('--probe-interval-ms', '--probe-interval'))
    .addOption(renamedDurationFlag('--link-stale-ms', '--link-stale-after'))
    .addOption(renamedDurationFlag('--rebalance-ms', '--rebalance-interval'))
    .addOption(renamedDurationFlag('--link-expire-ms', '--link-expire-after'))
    .option('--log-level <level>', 'trace|debug|info|warn|error', 'info')
    .addOption(logFormatOption())
    .action(async (o: Record<string, string | number | undefined>) => {
      // Loaded on demand: an agent process never pays for the center's code, nor the reverse.
      const { startCenter } = await import('../../center/index.ts');
      const center = await startCenter({
        dataDir: o.dataDir as string,
        host: o.host as string,
        port: o.port as number,
        localListen: o.localListen as string | undefined,
        tlsSans: o.tlsSan as unknown as string[] | undefined,
        caCert: o.caCert as string | undefined,
        caKey: o.caKey as string | undefined,
        nodeCertTtlMs: o.nodeCertTtl as number | undefined,
        nodeCertGraceMs: o.nodeCertGrace as number | undefined,
        database: o.database as string | undefined,
        storeSync: o.storeSync as 'full' | 'normal',
        egressAllow: o.egressAllow as unknown as string[] | undefined,
        maxArtifactBytes: o.maxArtifactBytes as number | undefined,
        heartbeatMs: o.heartbeatInterval as number | undefined,
        notReadyAfterMs: o.notReadyAfter as number | undefined,
        evictAfterMs: o.evictAfter as number | undefined,
        site: o.site as string | undefined,
        probeIntervalMs: o.probeInterval as number | undefined,
        linkStaleMs: o.linkStaleAfter as number | undefined,
        rebalanceMs: o.rebalanceInterval as number | undefined,
        linkExpireMs: o.linkExpireAfter as number | undefined,
        logLevel: o.logLevel as 'info',
      }, await processLogger('center', o.logLevel as string, o.logFormat as string));
      if (center.adminToken) {
        // A secret goes to a file when there is one, never to a log a supervisor keeps.
        if (o.adminTokenFile) {
          writeSecret(o.adminTokenFile as string, center.adminToken);
          process.stderr.write(`\nAdmin token written to ${o.adminTokenFile as string} (mode 0600; stored hashed, shown nowhere else)\n\n`);
        } else process.stderr.write(`\nAdmin token (shown once, stored hashed):\n  ${center.adminToken}\n\n`);
      }
      onShutdown(() => center.close());
      // An essential module failed after the start (logged): everything has stopped; the service manager starts the process again.
      center.onFatal(() => process.exit(1));
    });

  program
    .command('agent')
    .description('run the edge agent on this node')
    .requiredOption('--center <url>', 'the center https:// URL (the agent dials out; the center never dials in)')
    .addOption(new Option('--join-token <token>', 'single-use join token (first start only); prefer the environment: other users see a process\'s arguments').env('GEDGE_JOIN_TOKEN'))
    .addOption(new Option('--ca-pin <sha256:hex>', "the center CA's pin, given with the join token (first start only)").env('GEDGE_CA_PIN'))
    .requiredOption('--data-dir <dir>', 'identity, local state and logs')
    .option('--name <name>', 'node name (default: hostname)')
    .option('--site <site>', 'site (if the join token does not name one)')
    .option('--label <k=v...>', 'node labels', collectLabels, {})
    .option('--probe-listen <host:port>', "where peers' round-trip probes are answered ('off': no probing)", '127.0.0.1:0')
    .option('--probe-advertise <host:port>', 'the address peers dial for probes (default: the listen address)')
    .option('--endpoint-listen <host:port|off>', "the endpoint resolver (GET /v1/endpoints) for this site's clients; Services' endpoints listen on the same host (off: none)", '127.0.0.1:0')
    .option('--gateway-listen <host:port>', "the endpoint gateway, through which other nodes' endpoints reach this node's instances (mutual TLS)", '127.0.0.1:0')
    .option('--gateway-advertise <host:port>', 'the address other nodes dial for the gateway (default: the listen address)')
    .option('--mqtt-tls-listen <host:port>', "the edge broker's MQTTS listener for devices (the node's certificate, from the center's CA)")
    .option('--mqtt-wss-listen <host:port>', 'MQTT over secure WebSocket (path /mqtt) for devices')
    .option('--mqtt-listen <host:port>', "plain MQTT in clear for devices ('off': none; on, the node's status warns)", 'off')
    .option('--mqtt-ws-listen <host:port>', 'plain MQTT over WebSocket (path /mqtt) in clear')
    .option('--egress-allow <cidrs>', "networks rules' webhooks may reach besides the default (which refuses link-local, unspecified and multicast), comma-separated", commaList)
    .option('--mqtt-max-packet-bytes <n>', 'largest MQTT packet a device may send (default 262144)', int)
    .option('--mqtt-connect-timeout <duration>', 'a connection that sends no CONNECT in this time is closed (default 10s)', durationFlag('--mqtt-connect-timeout'))
    .option('--mqtt-max-connections <n>', 'device connections the broker holds at once (default 10000)', int)
    .option('--mqtt-max-connections-per-address <n>', 'device connections from one remote address at once (default 1000)', int)
    .addOption(new Option('--uplink-fsync <mode>', 'when queued device data reaches the disk (docs/uplink.md)').choices(['always', 'batch', 'off']).default('batch'))
    .addOption(new Option('--uplink-overflow <policy>', 'what a full uplink queue does with a new message').choices(['drop-oldest', 'drop-newest', 'block']).default('drop-oldest'))
    .option('--uplink-max-mib <MiB>', 'bound on the uplink queue: payload and topic bytes held', positive, 256)
    .option('--uplink-max-messages <n>', 'bound on the uplink queue: messages held', int, 1_000_000)
    .option('--uplink-ttl <duration>', 'queued device data older than this is dropped', durationFlag('--uplink-ttl'), 7 * 24 * 3600_000)
    .addOption(new Option('--container-runtime <mode>', "container workloads through podman (docs/containers.md): 'auto' when podman with runc works here").choices(['auto', 'podman', 'off']).default('auto'))
    .addOption(renamedDurationFlag('--mqtt-connect-timeout-ms', '--mqtt-connect-timeout'))
    .addOption(renamedDurationFlag('--uplink-ttl-ms', '--uplink-ttl'))
    .option('--cpu <cores>', 'cpu offered to workloads (default: every core detected)', positive)
    .option('--memory-mib <MiB>', 'memory offered to workloads (default: all detected)', positive)
    .option('--log-level <level>', 'trace|debug|info|warn|error', 'info')
    .addOption(logFormatOption())
    .action(async (o: AgentFlags) => {
      const { Agent } = await import('../../agent/index.ts');
      const capacity = { ...(o.cpu !== undefined ? { cpu: o.cpu } : {}), ...(o.memoryMib !== undefined ? { memoryMiB: o.memoryMib } : {}) };
      const uplink = { fsync: o.uplinkFsync, overflow: o.uplinkOverflow, maxBytes: Math.round(o.uplinkMaxMib * 1024 * 1024), maxMessages: o.uplinkMaxMessages, ttlMs: o.uplinkTtl };
      const agent = Agent.fromInput({ center: o.center, joinToken: o.joinToken, caPin: o.caPin, dataDir: o.dataDir, name: o.name, site: o.site, labels: o.label, probeListen: o.probeListen, probeAdvertise: o.probeAdvertise, endpointListen: o.endpointListen, gatewayListen: o.gatewayListen, gatewayAdvertise: o.gatewayAdvertise, mqttListen: o.mqttListen, mqttWsListen: o.mqttWsListen, mqttTlsListen: o.mqttTlsListen, mqttWssListen: o.mqttWssListen, egressAllow: o.egressAllow, mqttLimits: definedOnly({ maxPacketBytes: o.mqttMaxPacketBytes, connectTimeoutMs: o.mqttConnectTimeout, maxConnections: o.mqttMaxConnections, maxConnectionsPerAddress: o.mqttMaxConnectionsPerAddress }), uplink, capacity, containerRuntime: o.containerRuntime, logLevel: o.logLevel }, await processLogger('agent', o.logLevel, o.logFormat));
      onShutdown(() => agent.stop());
      // An essential module failed after the start (logged): everything has stopped; the service manager starts the process again.
      agent.on('fatal', () => process.exit(1));
      await agent.start();
    });

  program
    .command('up')
    .description('all in one, a scenario: the smart city (default: a center, agents for a cloud, a region and four edge sites with WAN delay between them, examples/smart-city, the traffic simulator, vehicles with their assistant and a rush hour now and then, and the hello example) or the smart airport (--scenario airport: CCTV cameras, a split network at two terminals and the cloud, a gated model rollout)')
    .addOption(new Option('--scenario <name>', 'which scenario').choices(['city', 'airport']).default('city'))
    .option('--data-dir <dir>', 'state of every part (default ./.gedge, ./.gedge-airport for the airport)')
    .option('--port <port>', 'center port (falls back to a free one if taken)', int, 7380)
    .option('--edge-region-delay <duration>', 'one-way WAN delay between an edge site and its region', '5ms')
    .option('--region-cloud-delay <duration>', 'one-way WAN delay between the region and the cloud', '20ms')
    .option('--outage <site:duration[@after]>', 'cut an edge site off from the cloud for a while, e.g. edge-b:30s (30 s after the start) or edge-b:30s@2m')
    .option('--devices <n>', 'city: simulated traffic devices (0: no simulator)', int, 200)
    .option('--rate <n>', 'city: messages per second of each simulated sensor', Number, 10)
    .option('--vehicles <n>', 'city: vehicles with the assistant, their sessions following them between the edges (0: none)', int, 8)
    .option('--surge-site <site>', "city: the edge a rush hour hits now and then, offloaded to the region ('none': no rush hour)", 'edge-a')
    .option('--surge-every <duration>', 'city: a rush hour this often', '120s')
    .option('--surge-for <duration>', 'city: each lasting this long', '30s')
    .option('--cameras <n>', 'airport: cameras a terminal (0: no simulator)', int, 4)
    .option('--fps <n>', 'airport: frames per second of each camera', Number, 2)
    .option('--rollout-after <duration>', 'airport: start the gated model rollout this long after the start (0: never)', '60s')
    .action(async (o: { scenario: 'city' | 'airport'; dataDir?: string; port: number; edgeRegionDelay: string; regionCloudDelay: string; outage?: string; devices: number; rate: number; vehicles: number; surgeSite: string; surgeEvery: string; surgeFor: string; cameras: number; fps: number; rolloutAfter: string }) => {
      const [{ runUp }, { parseDuration, parseOutage }] = await Promise.all([import('../up.ts'), import('../../sim/index.ts')]);
      const wan = { edgeRegionMs: parseDuration(o.edgeRegionDelay, '--edge-region-delay'), regionCloudMs: parseDuration(o.regionCloudDelay, '--region-cloud-delay') };
      if (!(o.fps > 0 && o.fps <= 100)) throw new CliError(`--fps: ${o.fps} is not a number above 0 and at most 100`);
      await runUp({
        scenario: o.scenario,
        dataDir: o.dataDir ?? (o.scenario === 'city' ? './.gedge' : `./.gedge-${o.scenario}`),
        port: o.port,
        wan,
        outage: o.outage ? parseOutage(o.outage) : undefined,
        devices: o.devices,
        rate: o.rate,
        vehicles: o.vehicles,
        surge: o.surgeSite === 'none' ? undefined : { site: o.surgeSite, everyMs: parseDuration(o.surgeEvery, '--surge-every'), forMs: parseDuration(o.surgeFor, '--surge-for') },
        cameras: o.cameras,
        fps: o.fps,
        rolloutAfterMs: parseDuration(o.rolloutAfter, '--rollout-after'),
      });
    });
}

function collectLabels(v: string, acc: Record<string, string>): Record<string, string> {
  const m = /^([^=]+)=(.*)$/.exec(v);
  if (!m) throw new CliError(`--label: expected key=value, got "${v}"`);
  return { ...acc, [m[1]!]: m[2]! };
}

export function writeSecret(file: string, secret: string): void {
  if (!existsSync(dirname(file))) mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, secret + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** Stops on the first SIGINT/SIGTERM; a second one exits at once. */
export function onShutdown(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = () => {
    if (stopping) process.exit(130);
    stopping = true;
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

/** The flags given, so that the config's defaults fill in the rest. */
function definedOnly<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}


function commaList(v: string): string[] {
  return v.split(',').map((x) => x.trim()).filter(Boolean);
}
