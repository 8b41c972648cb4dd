import { EventEmitter } from 'node:events';
import pino, { type Logger } from 'pino';
import { ModuleFailedError, Supervisor, parseOrThrow, type AgentMessage, type ModuleHealth } from '../core/index.ts';
import { agentConfigSchema, type AgentConfig } from './config.ts';
import { EdgeObjects } from './devices/edge-objects.ts';
import { CenterChannel, recordEvent } from './channel.ts';
import { OffloadClient } from './models/offload-client.ts';
import { Roaming } from './devices/roaming.ts';
import { Tunnels } from './sessions/tunnels.ts';
import { nodeModels, SplitInference } from './models/split-inference.ts';
import { containerRuntime, edgeModule, endpointsModule, identityModule, probingModule, sessionsModule, stateModule, workloadsModule } from './modules.ts';
import { EndpointTable } from './endpoints/index.ts';
import type { AgentParts, AgentStatusEvent } from './parts.ts';

export { AGENT_VERSION } from './channel.ts';
export type { AgentStatusEvent } from './parts.ts';

/**
 * The edge agent: joins once, dials out to the center, applies desired
 * instances from revision sync, runs them through the runtime and keeps
 * them running offline from local state, and reports status, usage, events
 * and logs over the same connection.
 *
 * It is an ordered list of supervised modules (core/module.ts): state,
 * identity, sessions (continuity's session state, before the workloads
 * that use it) and workloads (all essential but sessions), the site's edge
 * (broker, devices, uplink, rules), probing and endpoints (restarted with
 * backoff when they fail, the rest running on), and the channel to the
 * center. Events: `status`
 * (AgentStatusEvent), `module` (a module's health), `fatal` (an essential
 * module failed after the start: everything has stopped).
 */
export class Agent extends EventEmitter {
  /** The site's devices, credentials, commands, and the routes: synced like instances, kept across restarts. */
  readonly edge = new EdgeObjects();
  private readonly log: Logger;
  private readonly parts: AgentParts;
  private readonly channel: CenterChannel;
  private readonly supervisor: Supervisor;

  constructor(cfg: AgentConfig, logger?: Logger) {
    super();
    const log = (this.log = logger ?? pino({ level: cfg.logLevel, base: { part: 'agent' } }));
    const status = (e: AgentStatusEvent) => this.status(e);
    // Set by the modules as they start (parts.ts): nothing reads a part before its module has started.
    const parts = (this.parts = {
      cfg,
      log,
      objects: this.edge,
      revision: 0,
      site: cfg.site,
      edge: undefined,
      rules: undefined,
      network: undefined,
      endpointTable: new EndpointTable(),
      endpoints: undefined,
      sessions: undefined,
      send: (m: AgentMessage) => this.channel.send(m),
      sendLive: (m: AgentMessage) => this.channel.sendLive(m),
      status,
      recordEvent: (e) => recordEvent(parts, this.channel, e),
      reportStatus: (i, s) => this.channel.reportStatus(i, s),
    } as Partial<AgentParts> as AgentParts);
    const offloads = new OffloadClient({ send: (m) => this.channel.sendLive(m), live: () => this.channel.live, tail: (project, instance) => parts.workloads?.modelInstance(project, instance) });
    const split = new SplitInference(offloads);
    // Hand-over conversations through the center; a tunnel opened here goes to this node's sessions, or is refused.
    const tunnels = new Tunnels({
      send: (m) => this.channel.send(m),
      serve: (req, stream, caller) => (parts.sessions ? parts.sessions.serve(req, stream, caller, Buffer.alloc(0)) : void stream.destroy()),
      log: log.child({ module: 'tunnels' }),
    });
    const roaming = new Roaming({ broker: () => parts.edge?.broker, send: (m) => this.channel.sendLive(m), log: log.child({ module: 'roaming' }) });
    Object.assign(parts, { offloads, split, roaming, tunnels, models: nodeModels((project, service) => parts.workloads?.modelEndpoint(project, service), split, (project, at, body, answer) => parts.workloads?.shadow(project, at, body, answer)) });
    this.channel = new CenterChannel(parts, () => this.supervisor.health());
    const readvertise = () => this.channel.readvertise();
    this.supervisor = new Supervisor(
      [
        stateModule(parts),
        identityModule(parts, { onRefused: (why) => void this.channel.hangUp().then(() => this.status({ type: 'revoked', why })) }),
        ...(cfg.endpointListen !== 'off' ? [sessionsModule(parts)] : []),
        // podman is asked (~0.1 s) only once the data dir is the agent's alone: its check writes podman's config there.
        workloadsModule(parts, () => containerRuntime(parts)),
        edgeModule(parts, readvertise),
        ...(cfg.probeListen !== 'off' ? [probingModule(parts, readvertise)] : []),
        ...(cfg.endpointListen !== 'off' ? [endpointsModule(parts, readvertise)] : []),
        this.channel,
      ],
      { log },
    );
    this.supervisor.on('health', (h) => this.emit('module', h));
    this.supervisor.on('fatal', (err) => this.emit('fatal', err));
  }

  static fromInput(input: unknown, logger?: Logger): Agent {
    return new Agent(parseOrThrow(agentConfigSchema, input, 'agent config'), logger);
  }

  /** The node's name, once the identity module has started. */
  get node(): string {
    return this.parts.identity?.node ?? '';
  }

  /** Starts every module in order; an essential one that cannot start fails it with its own error. */
  async start(): Promise<void> {
    try {
      await this.supervisor.start();
    } catch (err) {
      throw err instanceof ModuleFailedError ? err.cause : err;
    }
  }

  stop(): Promise<void> {
    return this.supervisor.stop();
  }

  modules(): ModuleHealth[] {
    return this.supervisor.health();
  }

  private status(e: AgentStatusEvent): void {
    if (e.type === 'revoked') this.log.error({ event: e.type, ...e }, `agent revoked: ${e.why}; it keeps running its workloads but no longer dials the center. Join again with a new join token (gedge token create) and a fresh --data-dir.`);
    else this.log.info({ event: e.type, ...e }, `agent ${e.type}`);
    this.emit('status', e);
  }
}
