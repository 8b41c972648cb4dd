import { EventEmitter } from 'node:events';
import { arch, platform } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { nowIso, parseOrThrow, type AgentEvent, type CenterMessage, type EdgeObject, type EdgeUplinkStatus, type Instance, type InstanceStatus, EgressPolicy, projectOf } from '../core/index.ts';
import { agentConfigSchema, type AgentConfig } from './config.ts';
import { loadOrJoin } from './identity.ts';
import { NodeCertificate, type NodeTls } from './node-certificate.ts';
import { certificateAddresses } from './network/host-port.ts';
import { LocalState } from './local-state.ts';
import { Connection, type ConnectionEvent } from './connection.ts';
import { prepareDataDir } from './data-dir.ts';
import { WorkloadUsers } from './workload-users.ts';
import { Workloads } from './workloads.ts';
import { ProcessRuntime } from './runtime/process-runtime.ts';
import { ContainerRuntime } from './runtime/container-runtime.ts';
import { SyncPhases, instancePart, objectKey, step, type SyncState, type SyncStep } from './sync.ts';
import { EdgeObjects, type EdgeChange } from './devices/edge-objects.ts';
import type { DeviceService } from './devices/device-service.ts';
import type { EdgeBroker } from './broker/index.ts';
import type { UplinkQueue, UplinkSender } from './uplink/index.ts';
import type { UplinkRouter } from './devices/uplink-router.ts';
import { RuleHost } from './rules/rule-host.ts';
import { UsageSampler, detectCapacity } from './usage.ts';
import { InstanceUsageSampler, type InstanceRoot } from './instance-usage.ts';
import { LogRelay } from './log-relay.ts';
import { ExecRelay } from './exec-relay.ts';
import { MetricsResponder } from './metrics-responder.ts';
import { startEdge } from './edge.ts';
import { NetworkProbing } from './network/index.ts';

export const AGENT_VERSION = '0.1.0';

/** Everything observable about the agent, as typed events. */
export type AgentStatusEvent =
  | ConnectionEvent
  | { type: 'joined'; node: string }
  | { type: 'restored'; instances: number }
  | { type: 'broker'; tcp?: number; ws?: number; tls?: number; wss?: number }
  | { type: 'resynced'; mode: 'delta' | 'snapshot'; changes: number; revision: number };

/** What the center says of desired state: applied one at a time, in order. */
type SyncMessage = Extract<CenterMessage, { t: 'welcome' | 'change' | 'snapshot' | 'forget' | 'synced' }>;
/**
 * The edge agent: joins once, dials out to the center, applies desired
 * instances from revision sync, runs them through the runtime and keeps
 * them running offline from local state, and reports status, usage, events
 * and logs over the same connection.
 */
export class Agent extends EventEmitter {
  private conn!: Connection;
  private state!: LocalState;
  private workloads!: Workloads;
  /** The site's devices, credentials, commands, and the routes: synced like instances, kept across restarts. */
  readonly edge = new EdgeObjects();
  private readonly log: Logger;
  private queue: Promise<void> = Promise.resolve();
  private hbTimer: NodeJS.Timeout | null = null;
  /** Offline, catching up (counting what the catch-up brings) or live (sync.ts). */
  private readonly phases = new SyncPhases();
  private sampler: UsageSampler | undefined;
  private readonly instanceSampler = new InstanceUsageSampler();
  private network: NetworkProbing | undefined;
  private broker: EdgeBroker | undefined;
  private devices: DeviceService | undefined;
  private uplink: { queue: UplinkQueue; sender: UplinkSender; router: UplinkRouter } | undefined;
  private rules: RuleHost | undefined;
  private cert: NodeCertificate | undefined;
  /** The node's site, from the center's welcome (kept in local state for offline restarts). */
  private site: string | undefined;
  private ackTimer: NodeJS.Timeout | null = null;
  private revision = 0;
  private flushing = false;
  node = '';

  constructor(
    private readonly cfg: AgentConfig,
    logger?: Logger,
  ) {
    super();
    this.log = logger ?? pino({ level: cfg.logLevel, base: { part: 'agent' } });
  }

  static fromInput(input: unknown, logger?: Logger): Agent {
    return new Agent(parseOrThrow(agentConfigSchema, input, 'agent config'), logger);
  }

  async start(): Promise<void> {
    // Credentials, local state, logs: the agent's alone (files 0600, directories 0700); workloads may only
    // pass through the data dir (0711) to the homes and volumes their project owns.
    process.umask(0o077);
    prepareDataDir(this.cfg.dataDir);
    const container = this.containerRuntime(); // podman info takes ~0.1 s: in parallel with the rest
    container.catch(() => undefined); // a failure is thrown where it is awaited below
    const capacity = { ...(await detectCapacity(this.cfg.dataDir).catch(() => ({ cpu: 0, memoryMiB: 0, diskMiB: 0, accelerators: {} }))), ...this.cfg.capacity };
    this.state = await LocalState.open(this.cfg.dataDir);
    this.revision = await this.state.appliedRevision();
    this.edge.apply(await this.state.objects(), [], true);
    const runtime = new ProcessRuntime();
    const relay = new LogRelay(runtime, (id) => this.workloads.logDir(id), (m) => this.conn.send(m));
    const execs = new ExecRelay((id, opts) => this.workloads.exec(id, opts), (m) => this.conn.send(m));
    const users = new WorkloadUsers(this.state, this.cfg.dataDir);
    if (!users.isolating) this.log.warn({ event: 'isolation' }, 'the agent is not root: process workloads run as its own user and can read its data (run it as root for a user per project)');
    this.workloads = new Workloads({
      runtimes: { process: runtime, ...(await container) },
      state: this.state,
      dataDir: this.cfg.dataDir,
      users,
      logger: this.log,
      onStatus: (i, s) => this.reportStatus(i, s),
      onEvent: (e) => void this.recordEvent(e),
    });

    // Autonomy first: workloads come back from local state before, and
    // regardless of, any contact with the center.
    const { identity, tls } = await this.identityOrLocal(capacity);
    this.node = identity.node;
    const cert = new NodeCertificate(tls, {
      dataDir: this.cfg.dataDir,
      center: this.cfg.center,
      credential: identity.credential,
      node: identity.node,
      log: this.log,
      ips: () => this.certificateIps(),
      onRenewed: (next) => this.renewed(next),
      // Past the grace, or revoked: dialling again cannot help.
      onRefused: (why) => void this.conn?.stop().then(() => this.status({ type: 'revoked', why })),
    });
    this.cert = cert;
    const restored = await this.workloads.restore();
    this.status({ type: 'restored', instances: restored });

    if (this.cfg.probeListen !== 'off') {
      // Measuring the network is a nicety; a taken probe port must not keep workloads from being managed.
      this.network = await NetworkProbing.start({ listen: this.cfg.probeListen, advertise: this.cfg.probeAdvertise, logger: this.log, send: (m) => this.conn.send(m) })
        .catch((err: unknown) => void this.log.error({ err }, 'probing disabled: the probe responder cannot listen'));
    }
    this.site = (await this.state.meta('site')) ?? this.cfg.site;
    if (this.cfg.mqttListen !== 'off' || this.cfg.mqttWsListen || this.cfg.mqttTlsListen || this.cfg.mqttWssListen) {
      const e = await startEdge({ cfg: this.cfg, identity, cert, edge: this.edge, site: this.site, state: this.state, log: this.log, rules: () => this.rules, send: (m) => this.phases.live && this.conn.send(m) });
      ({ broker: this.broker, devices: this.devices, uplink: this.uplink, host: this.brokerHost } = e);
      this.status({ type: 'broker', ...e.broker.ports });
    }
    // Rules run next to the broker, from local state too: the edge keeps acting offline.
    this.rules = new RuleHost({ node: identity.node, state: this.state, broker: this.broker, uplink: this.uplink?.queue, twin: (p, d) => this.devices?.twin(p, d), logger: this.log, egress: new EgressPolicy(this.cfg.egressAllow) });
    this.syncRules();
    // The --center given now wins over the URL saved at join: the center may have moved.
    this.conn = new Connection({ center: this.cfg.center, credential: identity.credential, tls: () => cert.current, reconnectMinMs: this.cfg.reconnectMinMs, reconnectMaxMs: this.cfg.reconnectMaxMs, pingMs: 2000 });
    this.conn.on('open', () => {
      this.uplink?.sender.linkRestored();
      this.conn.send({ t: 'hello', lastRevision: this.revision, agent: { version: AGENT_VERSION, os: platform(), arch: arch(), pid: process.pid }, capacity, probe: this.network?.probe, mqtt: this.mqttAddress(), runtimes: this.workloads.runtimeKinds, holds: this.edge.heldRulesAndRoutes() });
    });
    this.conn.on('rtt', (ms: number) => this.network?.centerRtt(ms));
    const handlers = this.handlers(relay, execs);
    this.conn.on('message', (m: CenterMessage) => (handlers[m.t] as (m: CenterMessage) => void)(m));
    this.conn.on('status', (e: ConnectionEvent) => {
      this.status(e);
      // Back after the certificate expired: renew it (within the center's grace), then the next dial uses it.
      if (e.type === 'rejected' && e.status === 495) void cert.renew();
      if (e.type === 'disconnected') {
        this.phases.disconnected();
        this.disconnects++;
        relay.closeAll();
        execs.closeAll();
        void this.recordEvent({ reason: 'Disconnected', message: `lost the center (${e.code}${e.reason ? `: ${e.reason}` : ''}); running autonomously`, type: 'Warning', at: nowIso(), involved: { kind: 'Node', name: this.node } });
      }
    });
    this.sampler = new UsageSampler(this.cfg.dataDir);
    this.conn.start();
    cert.start();
  }

  private brokerHost = '127.0.0.1';
  private disconnects = 0;
  private readonly scrapes = new MetricsResponder(
    {
      connected: () => this.phases.live,
      disconnects: () => this.disconnects,
      revision: () => this.revision,
      uplink: () => this.uplinkStatus(),
      broker: () => this.broker?.stats(),
      devices: () => (this.devices ? { known: this.edge.deviceCount, connected: this.devices.connected } : undefined),
      rules: () => this.rules?.current() ?? [],
      instances: () => this.workloads.statuses().map(({ instance, status }) => ({ project: projectOf(instance), instance: instance.metadata.name, phase: status.phase, ready: status.ready, restarts: status.restarts })),
    },
    (m) => this.conn.send(m),
  );

  private mqttAddress(): { host: string; tcp?: number; ws?: number; tls?: number; wss?: number } | undefined {
    return this.broker ? { host: this.brokerHost, ...this.broker.ports } : undefined;
  }

  private uplinkStatus(): EdgeUplinkStatus | undefined {
    if (!this.uplink) return undefined;
    const { fsync, overflow, maxBytes, maxMessages, ttlMs } = this.uplink.queue.options;
    return { fsync, overflow, maxBytes, maxMessages, ttlMs, ...this.uplink.queue.stats() };
  }

  /** The host pid at the root of each running instance: the process and container runtimes both report one. */
  private runningRoots(): InstanceRoot[] {
    return this.workloads.statuses().flatMap(({ instance, status }) =>
      status.phase === 'Running' && status.pid !== undefined ? [{ project: projectOf(instance), name: instance.metadata.name, pid: status.pid }] : [],
    );
  }

  /** The center sets the heartbeat period in its welcome; pings follow the same period. */
  private startHeartbeat(ms: number): void {
    if (this.hbTimer) clearInterval(this.hbTimer);
    this.hbTimer = setInterval(() => {
      void Promise.all([this.sampler!.sample(), this.instanceSampler.sample(this.runningRoots())]).then(([usage, instances]) => this.conn.send({ t: 'hb', usage, uplink: this.uplinkStatus(), instances }));
      this.reportRules(false);
    }, ms);
    this.conn.setPingInterval(ms);
  }

  async stop(): Promise<void> {
    if (this.hbTimer) clearInterval(this.hbTimer);
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.cert?.stop();
    await this.conn?.stop();
    await this.network?.stop();
    await this.queue;
    this.devices?.stop();
    // The broker first: every message it acknowledged is in the windows the rules save.
    await this.broker?.close();
    this.rules?.stop();
    await this.uplink?.sender.stop();
    this.uplink?.queue.close();
    await this.workloads?.stopAll();
    await this.state?.close();
  }

  /** The container runtime, when configured and podman with runc works on this node (docs/containers.md). */
  private async containerRuntime(): Promise<{ container?: ContainerRuntime }> {
    if (this.cfg.containerRuntime === 'off') return {};
    const opts = { dir: join(this.cfg.dataDir, 'containers') };
    const check = await ContainerRuntime.available(opts);
    if (check.ok) return { container: new ContainerRuntime(opts) };
    if (this.cfg.containerRuntime === 'podman') throw new Error(`containerRuntime podman: ${check.reason}`);
    this.log.info({ reason: check.reason }, 'no container runtime on this node');
    return {};
  }

  private async identityOrLocal(capacity: Awaited<ReturnType<typeof detectCapacity>>) {
    const { identity, tls, joined } = await loadOrJoin({ ...this.cfg, capacity, ips: this.certificateIps() });
    if (joined) this.status({ type: 'joined', node: identity.node });
    return { identity, tls };
  }

  /** The addresses devices reach the edge broker at: its certificate (the node's) names them. */
  private certificateIps(): string[] {
    return certificateAddresses([this.cfg.mqttTlsListen, this.cfg.mqttWssListen, this.cfg.mqttListen, this.cfg.mqttWsListen]);
  }

  /** A renewed certificate: the next handshakes (center, uplink) use it already; the broker's listeners take it now. */
  private renewed(tls: NodeTls): void {
    this.broker?.setTls(tls);
  }

  /**
   * One handler per message type from the center (its AgentSession has the
   * same for the other direction): a new message type does not compile
   * without one. The sync messages apply one at a time, in order.
   */
  private handlers(relay: LogRelay, execs: ExecRelay): { [T in CenterMessage['t']]: (m: Extract<CenterMessage, { t: T }>) => void } {
    const inOrder = (m: SyncMessage) => {
      this.queue = this.queue.then(() => this.onSync(m)).catch((err: unknown) => this.log.error({ err }, 'applying a center message failed'));
    };
    const exec = (m: Parameters<ExecRelay['handle']>[0]) => execs.handle(m);
    return {
      welcome: inOrder,
      change: inOrder,
      snapshot: inOrder,
      forget: inOrder,
      synced: inOrder,
      'logs.open': (m) => relay.handle(m),
      'logs.close': (m) => relay.handle(m),
      'exec.open': exec,
      'exec.stdin': exec,
      'exec.eof': exec,
      'exec.resize': exec,
      'exec.ack': exec,
      'exec.close': exec,
      peers: (m) => this.network?.onPeers(m),
      'metrics.scrape': (m) => void this.scrapes.answer(m.id),
    };
  }

  private async onSync(m: SyncMessage): Promise<void> {
    if (m.t === 'welcome') {
      this.phases.on(m);
      if (m.site && m.site !== this.site) {
        this.site = m.site;
        await this.state.setMeta('site', m.site);
        this.uplink?.router.setRoutes(this.edge.routes(this.site));
        this.syncRules();
      }
      this.startHeartbeat(m.heartbeatMs);
      return;
    }
    if (m.t === 'change') this.phases.on(m);
    const s = step(this.syncState(), m);
    if (s) {
      const change = await this.applyStep(s);
      this.devices?.onChange(change);
      if (change.routesChanged) this.uplink?.router.setRoutes(this.edge.routes(this.site));
      if (change.rulesChanged) this.syncRules();
      if (s.replaceAll) this.devices?.publishAllDesired();
      this.revision = s.revision;
      this.scheduleAck();
    }
    // After the step: the catch-up's revision is applied before anything is reported.
    const caughtUp = m.t === 'synced' ? this.phases.on(m) : undefined;
    if (caughtUp) {
      this.status({ type: 'resynced', ...caughtUp, revision: this.revision });
      this.conn.send({ t: 'ack', revision: this.revision });
      // Tell the center how every instance is doing now, including what happened offline.
      for (const { instance, status } of this.workloads.statuses()) this.reportStatus(instance, status);
      this.devices?.resynced();
      this.reportRules(true);
      await this.flushEvents();
    }
  }

  private syncState(): SyncState {
    const edge = this.edge;
    const instances = this.workloads.instances;
    return {
      revision: this.revision,
      objects: {
        has: (key) => (key.startsWith('Instance/') ? instances.has(key.slice('Instance/'.length).replace('/', '.')) : edge.has(key)),
        keys: () => [...[...instances.values()].map(objectKey), ...edge.keys()],
      },
    };
  }

  /** One sync step, committed to local state in one transaction, then made real: workloads started and stopped, devices served. */
  private async applyStep(s: SyncStep): Promise<EdgeChange> {
    const objects = new Map<string, EdgeObject>();
    for (const o of s.put) if (o.kind !== 'Instance') objects.set(objectKey(o), o);
    const removeObjects = s.remove.filter((k) => !k.startsWith('Instance/'));
    await this.workloads.apply({ ...instancePart(s), replaceAll: s.replaceAll }, (put, remove) =>
      this.state.commit(s.revision, { instances: { put, remove }, objects: { put: objects, remove: removeObjects }, replaceAll: s.replaceAll }),
    );
    return this.edge.apply(objects, removeObjects, s.replaceAll);
  }

  private syncRules(): void {
    const own = this.edge.own();
    this.rules?.sync(this.edge.rules(), { node: this.node, site: this.site, nodeObject: own.node, siteObject: own.site });
  }

  /** The rules' state and counters, when they changed (all of them after a reconnect). */
  private reportRules(all: boolean): void {
    if (!this.phases.live) return;
    const reports = this.rules?.reports(all);
    if (reports?.length) this.conn.send({ t: 'rules', reports });
  }

  private scheduleAck(): void {
    if (this.ackTimer) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      this.conn.send({ t: 'ack', revision: this.revision });
    }, 50);
  }

  private reportStatus(i: Instance, s: InstanceStatus): void {
    this.conn?.send({ t: 'status', project: projectOf(i), instance: i.metadata.name, status: s });
  }

  /** Events go through the durable outbox so that what happened offline reaches the center. */
  private async recordEvent(e: AgentEvent): Promise<void> {
    this.log.info({ event: 'workload', reason: e.reason, involved: e.involved.name }, e.message);
    await this.state.enqueueEvent(e);
    if (this.conn?.connected && !this.phases.catchingUp) await this.flushEvents();
  }

  private async flushEvents(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (;;) {
        const batch = await this.state.pendingEvents();
        if (!batch.length) return;
        if (!this.conn.send({ t: 'events', events: batch.map((b) => b.event) })) return;
        await this.state.dropEvents(batch.at(-1)!.seq);
      }
    } finally {
      this.flushing = false;
    }
  }

  private status(e: AgentStatusEvent): void {
    if (e.type === 'revoked') this.log.error({ event: e.type, ...e }, `agent revoked: ${e.why}; it keeps running its workloads but no longer dials the center. Join again with a new join token (gedge token create) and a fresh --data-dir.`);
    else this.log.info({ event: e.type, ...e }, `agent ${e.type}`);
    this.emit('status', e);
  }
}
