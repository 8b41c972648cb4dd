import { EventEmitter } from 'node:events';
import { arch, platform } from 'node:os';
import pino, { type Logger } from 'pino';
import { nowIso, parseOrThrow, type AgentEvent, type CenterMessage, type Instance, type InstanceStatus } from '../core/index.ts';
import { agentConfigSchema, type AgentConfig } from './config.ts';
import { loadOrJoin } from './identity.ts';
import { LocalState } from './local-state.ts';
import { Connection, type ConnectionEvent } from './connection.ts';
import { Workloads } from './workloads.ts';
import { ProcessRuntime } from './runtime/process-runtime.ts';
import { step } from './sync.ts';
import { UsageSampler, detectCapacity } from './usage.ts';
import { LogRelay } from './log-relay.ts';
import { NetworkProbing } from './network/index.ts';

export const AGENT_VERSION = '0.1.0';

/** Everything observable about the agent, as typed events. */
export type AgentStatusEvent =
  | ConnectionEvent
  | { type: 'joined'; node: string }
  | { type: 'restored'; instances: number }
  | { type: 'resynced'; mode: 'delta' | 'snapshot'; changes: number; revision: number };

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
  private readonly log: Logger;
  private queue: Promise<void> = Promise.resolve();
  private hbTimer: NodeJS.Timeout | null = null;
  /** Changes received since the welcome, until the catch-up's `synced`; undefined outside a catch-up. */
  private catchUp: { mode: 'delta' | 'snapshot'; changes: number } | undefined;
  private sampler: UsageSampler | undefined;
  private network: NetworkProbing | undefined;
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
    const capacity = { ...(await detectCapacity(this.cfg.dataDir).catch(() => ({ cpu: 0, memoryMiB: 0, diskMiB: 0, accelerators: {} }))), ...this.cfg.capacity };
    this.state = await LocalState.open(this.cfg.dataDir);
    this.revision = await this.state.appliedRevision();
    const runtime = new ProcessRuntime();
    const relay = new LogRelay(runtime, (id) => this.workloads.logDir(id), (m) => this.conn.send(m));
    this.workloads = new Workloads({
      runtime,
      state: this.state,
      dataDir: this.cfg.dataDir,
      logger: this.log,
      onStatus: (i, s) => this.reportStatus(i, s),
      onEvent: (e) => void this.recordEvent(e),
    });

    // Autonomy first: workloads come back from local state before, and
    // regardless of, any contact with the center.
    const identity = await this.identityOrLocal(capacity);
    this.node = identity.node;
    const restored = await this.workloads.restore();
    this.status({ type: 'restored', instances: restored });

    if (this.cfg.probeListen !== 'off') {
      // Measuring the network is a nicety; a taken probe port must not keep workloads from being managed.
      this.network = await NetworkProbing.start({ listen: this.cfg.probeListen, advertise: this.cfg.probeAdvertise, logger: this.log, send: (m) => this.conn.send(m) })
        .catch((err: unknown) => void this.log.error({ err }, 'probing disabled: the probe responder cannot listen'));
    }
    // The --center given now wins over the URL saved at join: the center may have moved.
    this.conn = new Connection({ center: this.cfg.center, credential: identity.credential, reconnectMinMs: this.cfg.reconnectMinMs, reconnectMaxMs: this.cfg.reconnectMaxMs, pingMs: 2000 });
    this.conn.on('open', () => {
      this.conn.send({ t: 'hello', lastRevision: this.revision, agent: { version: AGENT_VERSION, os: platform(), arch: arch(), pid: process.pid }, capacity, probe: this.network?.probe });
    });
    this.conn.on('rtt', (ms: number) => this.network?.centerRtt(ms));
    this.conn.on('message', (m: CenterMessage) => {
      if (m.t === 'logs.open' || m.t === 'logs.close') return relay.handle(m);
      if (m.t === 'peers') return this.network?.onPeers(m);
      this.queue = this.queue.then(() => this.onMessage(m)).catch((err: unknown) => this.log.error({ err }, 'applying a center message failed'));
    });
    this.conn.on('status', (e: ConnectionEvent) => {
      this.status(e);
      if (e.type === 'disconnected') {
        relay.closeAll();
        void this.recordEvent({ reason: 'Disconnected', message: `lost the center (${e.code}${e.reason ? `: ${e.reason}` : ''}); running autonomously`, type: 'Warning', at: nowIso(), involved: { kind: 'Node', name: this.node } });
      }
    });
    this.sampler = new UsageSampler(this.cfg.dataDir);
    this.conn.start();
  }

  /** The center sets the heartbeat period in its welcome; pings follow the same period. */
  private startHeartbeat(ms: number): void {
    if (this.hbTimer) clearInterval(this.hbTimer);
    this.hbTimer = setInterval(() => void this.sampler!.sample().then((usage) => this.conn.send({ t: 'hb', usage })), ms);
    this.conn.setPingInterval(ms);
  }

  async stop(): Promise<void> {
    if (this.hbTimer) clearInterval(this.hbTimer);
    if (this.ackTimer) clearTimeout(this.ackTimer);
    await this.conn?.stop();
    await this.network?.stop();
    await this.queue;
    await this.workloads?.stopAll();
    await this.state?.close();
  }

  private async identityOrLocal(capacity: Awaited<ReturnType<typeof detectCapacity>>) {
    const { identity, joined } = await loadOrJoin({ ...this.cfg, capacity });
    if (joined) this.status({ type: 'joined', node: identity.node });
    return identity;
  }

  private async onMessage(m: CenterMessage): Promise<void> {
    if (m.t === 'welcome') {
      this.catchUp = { mode: m.mode, changes: 0 };
      this.startHeartbeat(m.heartbeatMs);
      return;
    }
    if (m.t === 'change' && this.catchUp) this.catchUp.changes++;
    const s = step({ revision: this.revision, instances: this.workloads.instances }, m);
    if (s) {
      await this.workloads.apply(s);
      this.revision = s.revision;
      this.scheduleAck();
    }
    if (m.t === 'synced' && this.catchUp) {
      this.status({ type: 'resynced', ...this.catchUp, revision: this.revision });
      this.catchUp = undefined;
      this.conn.send({ t: 'ack', revision: this.revision });
      // Tell the center how every instance is doing now, including what happened offline.
      for (const { instance, status } of this.workloads.statuses()) this.reportStatus(instance, status);
      await this.flushEvents();
    }
  }

  private scheduleAck(): void {
    if (this.ackTimer) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      this.conn.send({ t: 'ack', revision: this.revision });
    }, 50);
  }

  private reportStatus(i: Instance, s: InstanceStatus): void {
    this.conn?.send({ t: 'status', project: i.metadata.project ?? 'default', instance: i.metadata.name, status: s });
  }

  /** Events go through the durable outbox so that what happened offline reaches the center. */
  private async recordEvent(e: AgentEvent): Promise<void> {
    this.log.info({ event: 'workload', reason: e.reason, involved: e.involved.name }, e.message);
    await this.state.enqueueEvent(e);
    if (this.conn?.connected && !this.catchUp) await this.flushEvents();
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
    this.log.info({ event: e.type, ...e }, `agent ${e.type}`);
    this.emit('status', e);
  }
}
