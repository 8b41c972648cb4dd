import { join } from 'node:path';
import { EgressPolicy, nowIso, tlsFetch, type Module } from '../core/index.ts';
import type { AgentParts } from './parts.ts';
import { syncRules } from './parts.ts';
import { LocalState } from './local-state.ts';
import { prepareDataDir } from './data-dir.ts';
import { loadOrJoin } from './identity.ts';
import { NodeCertificate } from './node-certificate.ts';
import { certificateAddresses } from '../core/host-port.ts';
import { detectCapacity } from './usage.ts';
import { WorkloadUsers } from './workload-users.ts';
import { Workloads } from './workloads.ts';
import { ProcessRuntime } from './runtime/process-runtime.ts';
import { ModelRuntime } from './runtime/model-runtime.ts';
import { ModelCache } from './models/model-cache.ts';
import { ContainerRuntime } from './runtime/container-runtime.ts';
import { RuleHost } from './rules/rule-host.ts';
import { startEdge } from './edge.ts';
import { NetworkProbing } from './network/index.ts';
import { Endpoints, loadDirectory, PORTS_KEY, savedPorts } from './endpoints/index.ts';
import { Sessions } from './sessions/index.ts';

/**
 * The agent's modules but the channel (channel.ts), in the order they start
 * (agent.ts). Autonomy first: local state, identity and workloads come back
 * from disk before, and regardless of, any contact with the center; then
 * the site's devices and rules, probing, and last the channel to the center.
 */

/** Local state: the applied revision, the synced objects, the site. Essential. */
export function stateModule(p: AgentParts): Module {
  let state: LocalState | undefined;
  return {
    name: 'state',
    essential: true,
    async start() {
      // Credentials, local state, logs: the agent's alone (files 0600, directories 0700); workloads may only
      // pass through the data dir (0711) to the homes and volumes their project owns.
      process.umask(0o077);
      prepareDataDir(p.cfg.dataDir);
      state = p.state = await LocalState.open(p.cfg.dataDir);
      p.revision = await state.appliedRevision();
      p.objects.apply(await state.objects(), [], true);
      p.site = (await state.meta('site')) ?? p.cfg.site;
      await loadDirectory(p);
    },
    async stop() {
      await state?.close();
    },
  };
}

/** The node's identity (joining once) and its certificate (renewed before it ends: the channel starts the timer with its first dial). Essential. */
export function identityModule(p: AgentParts, hooks: { onRefused: (why: string) => void }): Module {
  let cert: NodeCertificate | undefined;
  return {
    name: 'identity',
    essential: true,
    async start(ctx) {
      p.capacity = { ...(await detectCapacity(p.cfg.dataDir).catch(() => ({ cpu: 0, memoryMiB: 0, diskMiB: 0, accelerators: {} }))), ...p.cfg.capacity };
      const { identity, tls, joined } = await loadOrJoin({ ...p.cfg, capacity: p.capacity, ips: certificateIps(p) });
      p.identity = identity;
      if (joined) p.status({ type: 'joined', node: identity.node });
      cert = p.cert = new NodeCertificate(tls, {
        dataDir: p.cfg.dataDir,
        center: p.cfg.center,
        credential: identity.credential,
        node: identity.node,
        log: ctx.log,
        ips: () => certificateIps(p),
        // The next handshakes (center, uplink) use it already; the broker's listeners take it now.
        onRenewed: (next) => {
          p.edge?.broker.setTls(next);
          p.endpoints?.setTls(next);
        },
        // Past the grace, or revoked: dialling again cannot help.
        onRefused: hooks.onRefused,
      });
      // Its renewal timer starts with the channel (channel.ts), as the first dial does: an expired certificate is found out by the center's 495.
    },
    async stop() {
      cert?.stop();
    },
  };
}

/** The addresses devices reach the edge broker at: its certificate (the node's) names them. */
function certificateIps(p: AgentParts): string[] {
  const c = p.cfg;
  return certificateAddresses([c.mqttTlsListen, c.mqttWssListen, c.mqttListen, c.mqttWsListen]);
}

/** The workloads, back from local state and kept running offline. Essential. */
export function workloadsModule(p: AgentParts, containers: () => Promise<{ container?: ContainerRuntime }>): Module {
  let started = false;
  return {
    name: 'workloads',
    essential: true,
    async start() {
      const runtime = (p.processRuntime = new ProcessRuntime());
      const users = new WorkloadUsers(p.state, p.cfg.dataDir);
      if (!users.isolating) p.log.warn({ event: 'isolation' }, 'the agent is not root: process workloads run as its own user and can read its data (run it as root for a user per project)');
      p.workloads = new Workloads({
        runtimes: { process: runtime, model: new ModelRuntime(runtime, modelCache(p)), ...(await containers()) },
        state: p.state,
        dataDir: p.cfg.dataDir,
        users,
        logger: p.log,
        onStatus: (i, s) => p.reportStatus(i, s),
        onEvent: (e) => void p.recordEvent(e),
        splitCounters: (project, instance) => p.split.counters(project, instance),
        sessionEnv: (project, instance) => p.sessions?.env(project, instance) ?? {},
      });
      started = true;
      p.status({ type: 'restored', instances: await p.workloads.restore() });
    },
    async stop() {
      if (started) await p.workloads.stopAll();
    },
  };
}

/** Model files from the center, over the node's credential and certificate (the certificate current at each fetch). */
function modelCache(p: AgentParts): ModelCache {
  return new ModelCache(join(p.cfg.dataDir, 'models'), (project, digest, start) =>
    tlsFetch(p.cert.current)(new URL(`/api/v1/node/artifacts/${encodeURIComponent(digest)}?project=${encodeURIComponent(project)}`, p.cfg.center), {
      headers: { authorization: `Bearer ${p.identity.credential}`, ...(start > 0 ? { range: `bytes=${start}-` } : {}) },
    }), p.log.child({ module: 'models' }));
}

/** The container runtime, when configured and podman with runc works on this node (docs/containers.md). */
export async function containerRuntime(p: Pick<AgentParts, 'cfg' | 'log'>): Promise<{ container?: ContainerRuntime }> {
  if (p.cfg.containerRuntime === 'off') return {};
  const opts = { dir: join(p.cfg.dataDir, 'containers') };
  const check = await ContainerRuntime.available(opts);
  if (check.ok) return { container: new ContainerRuntime(opts) };
  if (p.cfg.containerRuntime === 'podman') throw new Error(`containerRuntime podman: ${check.reason}`);
  p.log.info({ reason: check.reason }, 'no container runtime on this node');
  return {};
}

/**
 * The site's devices and rules: the edge broker, device service and uplink
 * (when MQTT is configured), and the rules next to them, from local state
 * too: the edge keeps acting offline. Restarted after a failure (a taken
 * MQTT port, a listener that dies): the workloads keep running meanwhile.
 * `started`: it may listen elsewhere than the center was told.
 */
export function edgeModule(p: AgentParts, started: () => void): Module {
  const c = p.cfg;
  const mqtt = c.mqttListen !== 'off' || c.mqttWsListen || c.mqttTlsListen || c.mqttWssListen;
  return {
    name: 'edge',
    async start(ctx) {
      if (mqtt) {
        p.edge = await startEdge({ cfg: c, identity: p.identity, cert: p.cert, edge: p.objects, site: p.site, state: p.state, log: p.log, rules: () => p.rules, models: p.models, roaming: p.roaming, send: (m) => p.sendLive(m), onFailure: ctx.fail });
        p.status({ type: 'broker', ...p.edge.broker.ports });
      }
      p.rules = new RuleHost({ node: p.identity.node, state: p.state, broker: p.edge?.broker, uplink: p.edge?.uplink.queue, twin: (project, d) => p.edge?.devices.twin(project, d), models: p.models, logger: p.log, egress: new EgressPolicy(c.egressAllow) });
      syncRules(p);
      started();
    },
    async stop() {
      const { edge, rules } = p;
      p.edge = undefined;
      p.rules = undefined;
      edge?.devices.stop();
      // The broker before the rules: every message it acknowledged is in the windows the rules save.
      await edge?.broker.close();
      rules?.stop();
      await edge?.uplink.sender.stop();
      edge?.uplink.queue.close();
    },
  };
}

/** Measuring the network (a probe responder, and probes of the peers the center names). Restarted after a failure: a taken probe port must not keep workloads from being managed. */
export function probingModule(p: AgentParts, started: () => void): Module {
  return {
    name: 'probing',
    async start(ctx) {
      p.network = await NetworkProbing.start({ listen: p.cfg.probeListen, advertise: p.cfg.probeAdvertise, logger: ctx.log, send: (m) => p.send(m) });
      started();
    },
    async stop() {
      const network = p.network;
      p.network = undefined;
      await network?.stop();
    },
  };
}

/**
 * GS-Link endpoints (docs/link.md): this site's endpoints, the node's
 * gateway and the resolver, from the directory in local state, so they
 * resolve with the center out of reach. Restarted after a failure (a taken
 * port) while the rest runs on. `started`: the gateway may listen elsewhere
 * than the center was told.
 */
export function endpointsModule(p: AgentParts, started: () => void): Module {
  return {
    name: 'endpoints',
    async start(ctx) {
      p.endpoints = await Endpoints.start({
        listen: p.cfg.endpointListen,
        gatewayListen: p.cfg.gatewayListen,
        gatewayAdvertise: p.cfg.gatewayAdvertise,
        table: p.endpointTable,
        vantage: () => ({ node: p.identity.node, site: p.site, local: (project, instance) => p.workloads.served(project, instance), rttMs: (site) => p.network?.siteRtt(site) }),
        tls: () => p.cert.current,
        ports: {
          load: async () => savedPorts(await p.state.meta(PORTS_KEY)),
          save: (ports) => p.state.setMeta(PORTS_KEY, JSON.stringify(ports)),
        },
        session: (r, socket, caller, rest) => (p.sessions ? p.sessions.serve(r, socket, caller, rest) : socket.end('ERR this node keeps no sessions\n')),
        // The node's own event: what it decided for its site's clients of that Service.
        onOverflow: (e) =>
          void p.recordEvent({
            reason: e.to === 'overflowing' ? 'Overflowing' : 'OverflowEnded',
            message: `Service ${e.project}/${e.service} (${e.port}) at ${p.site ?? p.identity.node}: ${e.to === 'overflowing' ? `${e.why}; requests beyond it go to ${e.upper.join(', ') || 'no upper instance'}` : e.why}`.slice(0, 4096),
            type: e.to === 'overflowing' ? 'Warning' : 'Normal',
            at: nowIso(),
            involved: { kind: 'Node', name: p.identity.node },
          }),
        log: ctx.log,
      });
      started();
    },
    async stop() {
      const endpoints = p.endpoints;
      p.endpoints = undefined;
      await endpoints?.stop();
    },
  };
}

/**
 * Continuity for moving clients (docs/link.md "Continuity"): the session
 * store and the session-state API, before the workloads (their
 * instances find the API in their environment); hand-overs go through the
 * endpoints' gateway. Restarted after a failure while the rest runs on.
 */
export function sessionsModule(p: AgentParts): Module {
  return {
    name: 'sessions',
    async start(ctx) {
      p.sessions = await Sessions.start({
        state: p.state,
        node: p.identity.node,
        table: p.endpointTable,
        tls: () => p.cert.current,
        continuity: (project, instance) => p.workloads?.continuity(project, instance),
        services: () => p.workloads?.continuityServices() ?? [],
        tunnel: (node, req) => p.tunnels.dial(node, req),
        log: ctx.log,
      });
    },
    async stop() {
      const sessions = p.sessions;
      p.sessions = undefined;
      await sessions?.stop();
    },
  };
}
