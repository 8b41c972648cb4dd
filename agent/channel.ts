import { arch, platform } from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import { OVERFLOWING_MAX, VERSION, nowIso, projectOf, type AgentEvent, type AgentMessage, type CenterMessage, type EdgeObject, type EdgeUplinkStatus, type Instance, type InstanceStatus, type Module, type ModuleContext, type ModuleHealth } from '../core/index.ts';
import { Connection, type ConnectionEvent } from './connection.ts';
import { SyncPhases, instancePart, objectKey, step, type SyncState, type SyncStep } from './sync.ts';
import type { EdgeChange } from './devices/edge-objects.ts';
import { syncRules, type AgentParts } from './parts.ts';
import { UsageSampler } from './usage.ts';
import { InstanceUsageSampler, type InstanceRoot } from './instance-usage.ts';
import { LogRelay } from './log-relay.ts';
import { ExecRelay } from './exec-relay.ts';
import { MetricsResponder } from './metrics-responder.ts';
import { applyDirectory } from './endpoints/index.ts';

export const AGENT_VERSION = VERSION;

/** What the center says of desired state: applied one at a time, in order. */
type SyncMessage = Extract<CenterMessage, { t: 'welcome' | 'change' | 'snapshot' | 'forget' | 'synced' }>;
type Hello = Extract<AgentMessage, { t: 'hello' }>;

/**
 * The channel to the center, the agent's last module: it dials out (and
 * again, with backoff), introduces the node, applies desired state from
 * revision sync into local state and the other modules, and reports
 * status, usage, events, rules and logs. Its phases (offline, catching up,
 * live) are one state machine (sync.ts). One handler per message type.
 */
export class CenterChannel implements Module {
  readonly name = 'channel';
  readonly essential = true;
  private conn: Connection | undefined;
  private readonly phases = new SyncPhases();
  private queue: Promise<void> = Promise.resolve();
  /** Endpoint directory messages, applied one at a time. */
  private directory: Promise<void> = Promise.resolve();
  private hbTimer: NodeJS.Timeout | undefined;
  private ackTimer: NodeJS.Timeout | undefined;
  private flushing = false;
  private disconnects = 0;
  /** Catch-ups with the center that ended (`synced`), by mode: the first after start, then one per reconnect. */
  private readonly catchUps = { delta: 0, snapshot: 0 };
  private relay: LogRelay | undefined;
  private execs: ExecRelay | undefined;
  private sampler: UsageSampler | undefined;
  private readonly instanceSampler = new InstanceUsageSampler();
  private readonly scrapes: MetricsResponder;
  /** What the last hello advertised (a restarted module may advertise another address). */
  private introduced: Hello | undefined;
  private redialing = false;
  /** While the center is lost: stops listening for the uplink's deliveries, which tell the center is back. */
  private unkick: (() => void) | undefined;

  constructor(
    private readonly p: AgentParts,
    modules: () => ModuleHealth[],
  ) {
    this.scrapes = new MetricsResponder(
      {
        connected: () => this.phases.live,
        disconnects: () => this.disconnects,
        catchUps: () => ({ ...this.catchUps }),
        revision: () => p.revision,
        uplink: () => this.uplinkStatus(),
        uplinkSender: () => p.edge?.uplink.sender.stats(),
        broker: () => p.edge?.broker.stats(),
        devices: () => (p.edge ? { known: p.objects.deviceCount, connected: p.edge.devices.connected } : undefined),
        rules: () => p.rules?.current() ?? [],
        instances: () => p.workloads.statuses().map(({ instance, status }) => ({ project: projectOf(instance), instance: instance.metadata.name, phase: status.phase, ready: status.ready, restarts: status.restarts })),
        // Only instances this node still runs: figures of one gone (a rollout replaced it) are not series any more.
        splits: () => {
          const here = new Set(p.workloads.statuses().map(({ instance }) => `${projectOf(instance)}/${instance.metadata.name}`));
          return p.split.all().filter((x) => here.has(`${x.project}/${x.instance}`));
        },
        sessions: () => p.sessions?.figures,
        endpoints: () => p.endpoints?.list() ?? [],
        roaming: () => (p.edge ? p.roaming.current() : undefined),
        modules,
      },
      (m) => this.send(m),
    );
  }

  async start(ctx: ModuleContext): Promise<void> {
    const p = this.p;
    const relay = (this.relay = new LogRelay(p.processRuntime, (id) => p.workloads.logDir(id), (m) => this.send(m)));
    const execs = (this.execs = new ExecRelay((id, opts) => p.workloads.exec(id, opts), (m) => this.send(m)));
    // The --center given now wins over the URL saved at join: the center may have moved.
    const conn = (this.conn = new Connection({ center: p.cfg.center, credential: p.identity.credential, tls: () => p.cert.current, reconnectMinMs: p.cfg.reconnectMinMs, reconnectMaxMs: p.cfg.reconnectMaxMs, pingMs: 2000 }));
    conn.on('open', () => {
      this.unkick?.();
      this.unkick = undefined;
      p.edge?.uplink.sender.linkRestored();
      this.introduced = this.hello();
      conn.send(this.introduced);
    });
    conn.on('rtt', (ms: number) => p.network?.centerRtt(ms));
    const handlers = this.handlers(relay, execs);
    conn.on('message', (m: CenterMessage) => (handlers[m.t] as (m: CenterMessage) => void)(m));
    conn.on('status', (e: ConnectionEvent) => {
      p.status(e);
      // Back after the certificate expired: renew it (within the center's grace), then the next dial uses it.
      if (e.type === 'rejected' && e.status === 495) void p.cert.renew();
      if (e.type === 'disconnected') {
        this.phases.disconnected();
        p.offloads.disconnected();
        p.roaming.disconnected();
        p.tunnels.disconnected();
        relay.closeAll();
        execs.closeAll();
        if (this.redialing) return void (this.redialing = false);
        this.disconnects++;
        // Each path tells the other the center is back: the uplink's first answer has the control connection dial now (linkRestored is the other way).
        const sender = p.edge?.uplink.sender;
        sender?.linkLost();
        this.unkick?.();
        this.unkick = sender?.onEvent((u) => void (u.type === 'delivered' && conn.dialNow()));
        void p.recordEvent({ reason: 'Disconnected', message: `lost the center (${e.code}${e.reason ? `: ${e.reason}` : ''}); running autonomously`, type: 'Warning', at: nowIso(), involved: { kind: 'Node', name: p.identity.node } });
      }
    });
    this.sampler = new UsageSampler(p.cfg.dataDir);
    ctx.log.debug({ center: p.cfg.center }, 'dialling the center');
    conn.start();
    p.cert.start();
  }

  async stop(): Promise<void> {
    this.unkick?.();
    clearInterval(this.hbTimer);
    clearTimeout(this.ackTimer);
    await this.conn?.stop();
    await this.queue;
    this.relay?.closeAll();
    this.execs?.closeAll();
  }

  /** The center refused this node for good: no more dialling (the rest keeps running). */
  async hangUp(): Promise<void> {
    await this.conn?.stop();
  }

  /** To the center, when connected (false: not sent, the caller keeps what must not be lost). */
  send(m: AgentMessage): boolean {
    return this.conn?.send(m) ?? false;
  }

  /** Caught up with the center: live messages go. */
  get live(): boolean {
    return this.phases.live;
  }

  /** Only while caught up: reports are about the revision the center is at. */
  sendLive(m: AgentMessage): boolean {
    return this.phases.live && this.send(m);
  }

  /** The center is told once its catch-up is done, with what happened meanwhile (recordEvent put it in the outbox). */
  flushIfLive(): Promise<void> {
    return this.conn?.connected && !this.phases.catchingUp ? this.flushEvents() : Promise.resolve();
  }

  /**
   * A module came back with addresses other than the hello told (a probe or
   * MQTT port picked anew): introduce the node again, on a new connection.
   */
  readvertise(): void {
    if (!this.conn?.connected || !this.introduced) return;
    const { probe, mqtt, gateway } = this.hello();
    if (isDeepStrictEqual({ probe, mqtt, gateway }, { probe: this.introduced.probe, mqtt: this.introduced.mqtt, gateway: this.introduced.gateway })) return;
    this.redialing = true;
    this.conn.redial('the node advertises new addresses');
  }

  reportStatus(i: Instance, s: InstanceStatus): void {
    this.send({ t: 'status', project: projectOf(i), instance: i.metadata.name, status: s });
  }

  private hello(): Hello {
    const p = this.p;
    const mqtt = p.edge ? { host: p.edge.host, ...p.edge.broker.ports } : undefined;
    return { t: 'hello', lastRevision: p.revision, agent: { version: AGENT_VERSION, os: platform(), arch: arch(), pid: process.pid }, capacity: p.capacity, probe: p.network?.probe, mqtt, gateway: p.endpoints?.gateway, runtimes: p.workloads.runtimeKinds, holds: p.objects.heldRulesAndRoutes() };
  }

  private uplinkStatus(): EdgeUplinkStatus | undefined {
    const queue = this.p.edge?.uplink.queue;
    if (!queue) return undefined;
    const { fsync, overflow, maxBytes, maxMessages, ttlMs } = queue.options;
    return { fsync, overflow, maxBytes, maxMessages, ttlMs, ...queue.stats() };
  }

  /** The host pid at the root of each running instance: the process and container runtimes both report one. */
  private runningRoots(): InstanceRoot[] {
    return this.p.workloads.statuses().flatMap(({ instance, status }) =>
      status.phase === 'Running' && status.pid !== undefined ? [{ project: projectOf(instance), name: instance.metadata.name, pid: status.pid }] : [],
    );
  }

  /** The center sets the heartbeat period in its welcome; pings follow the same period. */
  private startHeartbeat(ms: number): void {
    clearInterval(this.hbTimer);
    this.hbTimer = setInterval(() => {
      void Promise.all([this.sampler!.sample(), this.instanceSampler.sample(this.runningRoots())]).then(([usage, instances]) => {
        // The Services this site overflows to upper tiers now (at most what the message takes): the center may add capacity there (overflow.burst).
        const overflowing = (this.p.endpoints?.overflowing() ?? []).slice(0, OVERFLOWING_MAX);
        this.send({ t: 'hb', usage, uplink: this.uplinkStatus(), instances, ...(overflowing.length ? { overflowing } : {}) });
      });
      this.reportRules(false);
    }, ms);
    this.conn!.setPingInterval(ms);
  }

  /**
   * One handler per message type from the center (its AgentSession has the
   * same for the other direction): a new message type does not compile
   * without one. The sync messages apply one at a time, in order.
   */
  private handlers(relay: LogRelay, execs: ExecRelay): { [T in CenterMessage['t']]: (m: Extract<CenterMessage, { t: T }>) => void } {
    const inOrder = (m: SyncMessage) => {
      this.queue = this.queue.then(() => this.onSync(m)).catch((err: unknown) => this.p.log.error({ err }, 'applying a center message failed'));
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
      peers: (m) => this.p.network?.onPeers(m),
      endpoints: (m) => {
        this.directory = this.directory.then(() => applyDirectory(this.p, m)).catch((err: unknown) => this.p.log.error({ err }, 'applying the endpoint directory failed'));
      },
      'metrics.scrape': (m) => void this.scrapes.answer(m.id),
      'offload.run': (m) => void this.p.offloads.run(m),
      'offload.result': (m) => this.p.offloads.result(m),
      'roam.export': (m) => this.p.roaming.export(m),
      'roam.pulled': (m) => this.p.roaming.pulled(m),
      'roam.forward': (m) => this.p.roaming.forwarded(m),
      'roam.confirmed': (m) => this.p.roaming.confirmed(m),
      'tunnel.open': (m) => this.p.tunnels.handle(m),
      'tunnel.data': (m) => this.p.tunnels.handle(m),
      'tunnel.close': (m) => this.p.tunnels.handle(m),
    };
  }

  private async onSync(m: SyncMessage): Promise<void> {
    const p = this.p;
    if (m.t === 'welcome') {
      this.phases.on(m);
      if (m.site && m.site !== p.site) {
        p.site = m.site;
        await p.state.setMeta('site', m.site);
        p.edge?.uplink.router.setRoutes(p.objects.routes(p.site));
        syncRules(p);
      }
      this.startHeartbeat(m.heartbeatMs);
      return;
    }
    if (m.t === 'change') this.phases.on(m);
    const s = step(this.syncState(), m);
    if (s) {
      const change = await this.applyStep(s);
      p.edge?.devices.onChange(change);
      if (change.routesChanged) p.edge?.uplink.router.setRoutes(p.objects.routes(p.site));
      if (change.rulesChanged) syncRules(p);
      if (s.replaceAll) p.edge?.devices.publishAllDesired();
      p.revision = s.revision;
      this.scheduleAck();
    }
    // After the step: the catch-up's revision is applied before anything is reported.
    const caughtUp = m.t === 'synced' ? this.phases.on(m) : undefined;
    if (caughtUp) {
      this.catchUps[caughtUp.mode]++;
      p.status({ type: 'resynced', ...caughtUp, revision: p.revision });
      this.send({ t: 'ack', revision: p.revision });
      // Tell the center how every instance is doing now, including what happened offline.
      for (const { instance, status } of p.workloads.statuses()) this.reportStatus(instance, status);
      p.edge?.devices.resynced();
      p.offloads.connected();
      p.roaming.connected();
      this.reportRules(true);
      await this.flushEvents();
    }
  }

  private syncState(): SyncState {
    const edge = this.p.objects;
    const instances = this.p.workloads.instances;
    return {
      revision: this.p.revision,
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
    await this.p.workloads.apply({ ...instancePart(s), replaceAll: s.replaceAll }, (put, remove) =>
      this.p.state.commit(s.revision, { instances: { put, remove }, objects: { put: objects, remove: removeObjects }, replaceAll: s.replaceAll }),
    );
    return this.p.objects.apply(objects, removeObjects, s.replaceAll);
  }

  /** The rules' state and counters, when they changed (all of them after a reconnect). */
  private reportRules(all: boolean): void {
    if (!this.phases.live) return;
    const reports = this.p.rules?.reports(all);
    if (reports?.length) this.send({ t: 'rules', reports });
  }

  private scheduleAck(): void {
    if (this.ackTimer) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      this.send({ t: 'ack', revision: this.p.revision });
    }, 50);
  }

  private async flushEvents(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (;;) {
        const batch = await this.p.state.pendingEvents();
        if (!batch.length) return;
        if (!this.send({ t: 'events', events: batch.map((b) => b.event) })) return;
        await this.p.state.dropEvents(batch.at(-1)!.seq);
      }
    } finally {
      this.flushing = false;
    }
  }
}

/** Events go through the durable outbox so that what happened offline reaches the center. */
export async function recordEvent(p: Pick<AgentParts, 'log' | 'state'>, channel: CenterChannel, e: AgentEvent): Promise<void> {
  p.log.info({ event: 'workload', reason: e.reason, involved: e.involved.name }, e.message);
  await p.state.enqueueEvent(e);
  await channel.flushIfLive();
}
