import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import { agentMessageSchema, CLOSE_PROTOCOL, CLOSE_REPLACED, CLOSE_UNAUTHORIZED, type AgentMessage, type CenterMessage, type EdgeUplinkStatus, type Node, type NodeStatus, probeAddressProblem, type ProbeAddress, DEFAULT_PROJECT } from '../../core/index.ts';
import type { Change, Store } from '../store/store.ts';
import { holdChanges } from '../store/change-feed.ts';
import type { Metrics } from '../metrics.ts';
import { NodeFeed, type HeldObject } from './node-feed.ts';
import type { LogStreams } from './log-streams.ts';
import type { ExecStreams } from './exec-streams.ts';
import type { MetricsScrapes } from './metrics-scrapes.ts';
import type { Offloads } from './offloads.ts';
import type { RoamingRelay } from './roaming.ts';
import type { Tunnels } from './tunnels.ts';
import { recordEvent } from '../events.ts';
import { NodeReports } from '../reports/node-reports.ts';
import type { Telemetry } from '../telemetry/telemetry.ts';
import type { AgentNetwork } from '../network/index.ts';

const BOOKMARK_MS = 60_000;
/** A change of what a node overflows is written at most this often (a node cannot make the center write its status at its heartbeat rate). */
const OVERFLOW_WRITE_MS = 1000;

/** Why the center ended a session, by its close code (`gedge_agent_disconnects_total{reason}`); 'closed' when the agent or the network did. */
export type SessionEnd = 'silent' | 'protocol' | 'replaced' | 'revoked' | 'shutdown' | 'center' | 'closed';
const ENDED_BY: Record<number, SessionEnd> = { [CLOSE_PROTOCOL]: 'protocol', [CLOSE_REPLACED]: 'replaced', [CLOSE_UNAUTHORIZED]: 'revoked', 1001: 'shutdown' };

export interface SessionDeps {
  store: Store;
  logger: Logger;
  metrics: Metrics;
  logs: LogStreams;
  execs: ExecStreams;
  scrapes: MetricsScrapes;
  offloads: Offloads;
  roaming: RoamingRelay;
  tunnels: Tunnels;
  heartbeatMs: number;
  /** Node status (usage, heartbeat time, synced revision) is written at most this often. */
  statusWriteMs: number;
  onSeen: (node: string) => void;
  /** Peer lists out, round trips in; absent: the center does not measure the network. */
  network?: AgentNetwork;
  /** The endpoint directory out (GS-Link endpoints); absent: none is kept. */
  endpoints?: { join(node: string, send: (m: CenterMessage) => void): () => void };
  /** Usage history for the dashboard's charts, fed by heartbeats. */
  telemetry?: Telemetry;
  /** Where the agent's connection comes from (its advertised probe address is checked against it). */
  remoteAddress?: string;
}

/**
 * One agent connection: the catch-up, then live changes for its node, and
 * its reports (heartbeats, acks, instance status, events, log data). One
 * handler per message type.
 */
export class AgentSession {
  private unsubscribe: (() => void) | null = null;
  private lastSent = 0;
  private lastSeen = 0;
  private lastBookmark = 0;
  private acked = 0;
  private lastStatusWrite = 0;
  private usage: { cpu: number; memoryMiB: number; diskMiB: number } | undefined;
  private uplink: EdgeUplinkStatus | undefined;
  /** The Services the node's endpoints overflow to upper tiers now, as its last heartbeat said. */
  private overflowing: { project: string; service: string }[] = [];
  /** ...and what it said, unchecked (a repeat is not checked again). */
  private said: { project: string; service: string }[] = [];
  private overflowChanged = false;
  private agentInfo: NodeStatus['agent'];
  private mqtt: NodeStatus['mqtt'];
  private gateway: NodeStatus['gateway'];
  private runtimes: string[] | undefined;
  private closed = false;
  private leaveNetwork: (() => void) | undefined;
  private leaveEndpoints: (() => void) | undefined;
  private feed: NodeFeed | undefined;
  private readonly refusedTypes = new Set<string>();
  private helloSeen = false;
  private readonly reports: NodeReports;
  /** When anything last came from the agent: a message, a ping or a pong (the hub's silence watch reads it). */
  heardAt = Date.now();
  /** Set when the center ends the session: why. */
  endedBy: SessionEnd | undefined;

  constructor(
    readonly node: string,
    private readonly ws: WebSocket,
    private readonly deps: SessionDeps,
  ) {
    this.reports = new NodeReports(deps.store);
    ws.on('message', (data, isBinary) => {
      this.heardAt = Date.now();
      void this.onFrame(data.toString(), isBinary);
    });
    ws.on('ping', () => void (this.heardAt = Date.now()));
    ws.on('pong', () => void (this.heardAt = Date.now()));
  }

  send(msg: CenterMessage): void {
    if (this.closed) return;
    const text = JSON.stringify(msg);
    this.deps.metrics.agentBytes.inc({ direction: 'out', type: msg.t }, Buffer.byteLength(text));
    this.deps.metrics.syncMessages.inc({ type: msg.t });
    this.ws.send(text);
  }

  /** Bytes queued for the agent and not yet written to its socket. */
  get buffered(): number {
    return this.ws.bufferedAmount;
  }

  close(code: number, reason: string): void {
    this.endedBy ??= ENDED_BY[code] ?? 'center';
    this.dispose();
    this.ws.close(code, reason);
  }

  /** Asks the agent's WebSocket for a pong (it answers by itself): proof the connection lives, when the agent has said nothing for a while. */
  ping(): void {
    if (!this.closed) this.ws.ping();
  }

  /** Ends the session at once, without a closing handshake: over a dead link that would wait for an answer that never comes. */
  terminate(why: SessionEnd): void {
    this.endedBy ??= why;
    this.dispose();
    this.ws.terminate();
  }

  dispose(): void {
    this.closed = true;
    this.leaveNetwork?.();
    this.leaveEndpoints?.();
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  private async onFrame(text: string, isBinary: boolean): Promise<void> {
    const parsed = isBinary ? null : agentMessageSchema.safeParse(safeJson(text));
    if (!parsed?.success) {
      this.deps.logger.warn({ node: this.node }, 'protocol error from agent; closing');
      this.close(CLOSE_PROTOCOL, 'malformed message');
      return;
    }
    const msg = parsed.data;
    this.deps.metrics.agentBytes.inc({ direction: 'in', type: msg.t }, Buffer.byteLength(text));
    this.deps.onSeen(this.node);
    try {
      await this.handlers[msg.t](msg as never);
    } catch (err) {
      this.deps.logger.error({ err, node: this.node, t: msg.t }, 'agent message failed');
    }
  }

  private readonly handlers: { [T in AgentMessage['t']]: (m: Extract<AgentMessage, { t: T }>) => Promise<void> } = {
    hello: async (m) => {
      // One catch-up per connection; a repeated hello is a protocol error (marked before the first await: frames are handled concurrently).
      if (this.helloSeen) return this.close(CLOSE_PROTOCOL, 'duplicate hello');
      this.helloSeen = true;
      this.agentInfo = m.agent;
      this.mqtt = m.mqtt;
      // Handed to other nodes like a probe address: only one they can dial.
      this.gateway = m.gateway && this.advertisable(m.gateway, 'endpoint gateway');
      this.runtimes = m.runtimes ?? ['process'];
      await this.sync(m.lastRevision, false, m.holds);
      // After the catch-up, so probing never delays sync; the session may have ended meanwhile.
      if (!this.closed) this.leaveNetwork = this.deps.network?.join(this.node, m.probe && this.advertisable(m.probe, 'probe'), (msg) => this.send(msg));
      if (!this.closed) this.leaveEndpoints = this.deps.endpoints?.join(this.node, (msg) => this.send(msg));
      await this.writeNodeStatus(m.capacity);
    },
    hb: async (m) => {
      this.usage = m.usage;
      this.uplink = m.uplink;
      this.deps.telemetry?.recordNode(this.node, m.usage);
      // Only instances bound to this node: the history is kept per bound instance, so it is bounded by what runs here.
      for (const i of m.instances ?? []) {
        if (this.feed?.hasInstance(i.project, i.name)) this.deps.telemetry?.recordInstance(i.project, i.name, i);
        // Deleted lately, the agent still stopping it: its last usage trails the deletion, with nothing left to record it for.
        else if (!this.feed?.hasInstance(i.project, i.name, true)) this.refuse('hb', `usage of instance ${i.project}/${i.name}`);
      }
      // A bookmark lets the agent resume from a recent revision, shortening its
      // catch-up scan; once a minute is plenty, and only when something moved.
      // It uses revisions seen through the subscription, never a fresh read that
      // could run ahead of a change not yet delivered.
      if (this.lastSeen > this.lastSent && Date.now() - this.lastBookmark >= BOOKMARK_MS) {
        this.lastBookmark = Date.now();
        this.lastSent = this.lastSeen;
        this.send({ t: 'synced', revision: this.lastSeen });
      }
      // A change of what overflows is written soon (at most once a second): the burst controller adds capacity upward on it.
      // What it says is checked when it changes: Services that exist and overflow; any other name is refused.
      if (JSON.stringify(m.overflowing ?? []) !== JSON.stringify(this.said)) {
        this.said = m.overflowing ?? [];
        this.overflowing = [];
        for (const o of this.said) {
          const s = await this.deps.store.get('Service', o.project, o.service);
          if (s?.spec.overflow && s.spec.endpoint) this.overflowing.push(o);
          else this.refuse('hb', `overflow of Service ${o.project}/${o.service}`);
        }
        this.overflowChanged = true;
      }
      const since = Date.now() - this.lastStatusWrite;
      if (since >= this.deps.statusWriteMs || (this.overflowChanged && since >= OVERFLOW_WRITE_MS)) await this.writeNodeStatus(undefined);
    },
    ack: async (m) => {
      this.acked = Math.max(this.acked, m.revision);
    },
    status: (m) => this.reports.instance(this.node, m.project, m.instance, m.status),
    events: async (m) => {
      for (const e of m.events) {
        if (this.speaksFor(e.involved)) await recordEvent(this.deps.store, { ...e, source: `agent/${this.node}` });
        else this.refuse('events', `an event about ${e.involved.kind} ${e.involved.project ?? ''}/${e.involved.name}`);
      }
    },
    devices: async (m) => {
      for (const u of m.updates) {
        if (this.feed?.hasDevice(u.project, u.device)) await this.reports.device(this.node, this.feed?.site, u.project, u.device, u.status);
        else this.refuse('devices', `device ${u.project}/${u.device}`);
      }
    },
    rules: async (m) => {
      // A node reports the rules it was sent; that it no longer runs one is news about itself (the rule may be gone from its feed already).
      for (const r of m.reports) {
        if (r.status === null || this.feed?.runsRule(r.project, r.rule)) await this.reports.rule(this.node, r.project, r.rule, r.status);
        else this.refuse('rules', `rule ${r.project}/${r.rule}`);
      }
    },
    commands: async (m) => {
      for (const u of m.updates) {
        const outcome = await this.reports.command(this.node, u.project, u.command, u.status, (device) => this.feed?.hasDevice(u.project, device) === true);
        if (outcome === 'refused') this.refuse('commands', `command ${u.project}/${u.command}`);
      }
    },
    metrics: async (m) => {
      if (!this.deps.scrapes.answer(this.node, m.id, m.text, m.error)) this.refuse('metrics', `scrape ${m.id}`);
    },
    'logs.data': async (m) => {
      if (!this.deps.logs.data(this.node, m.stream, m.data)) this.refuse('logs.data', `log stream ${m.stream}`);
    },
    'logs.end': async (m) => {
      if (!this.deps.logs.end(this.node, m.stream, m.error)) this.refuse('logs.end', `log stream ${m.stream}`);
    },
    'exec.started': async (m) => this.deps.execs.started(this, m.stream),
    'exec.output': async (m) => this.deps.execs.output(this, m.stream, m.fd, m.data),
    'exec.exit': async (m) => this.deps.execs.exit(this, m.stream, m.code, m.signal),
    'exec.error': async (m) => this.deps.execs.error(this, m.stream, m.message),
    rtt: async (m) => this.deps.network?.rtt(this.node, m),
    offload: async (m) => {
      if (this.feed?.hasInstance(m.project, m.instance)) return this.deps.offloads.start({ node: this.node, via: this, send: (x) => this.send(x) }, m);
      this.refuse('offload', `instance ${m.project}/${m.instance}`);
      this.send({ t: 'offload.result', id: m.id, code: 403, error: `instance ${m.project}/${m.instance} does not run on node "${this.node}"` });
    },
    'offload.answer': async (m) => {
      if (!this.deps.offloads.answer(this.node, m.id, m.outputs, m.error)) this.refuse('offload.answer', `offload ${m.id}`);
    },
    'roam.pull': async (m) => {
      if (this.feed?.hasDevice(m.project, m.device)) return this.deps.roaming.pull(this.roamConn(), m);
      this.refuse('roam.pull', `device ${m.project}/${m.device}`);
      this.send({ t: 'roam.pulled', id: m.id, project: m.project, device: m.device, session: null, error: `device ${m.project}/${m.device} does not roam to the site of node "${this.node}"` });
    },
    'roam.imported': async (m) => {
      if (!this.deps.roaming.imported(this.node, m.ack)) this.refuse('roam.imported', `hand-over ${m.ack}`);
    },
    'roam.session': async (m) => {
      if (!this.deps.roaming.answer(this.node, m.id, m.session)) this.refuse('roam.session', `hand-over ${m.id}`);
    },
    'tunnel.open': async (m) => this.deps.tunnels.open(this.tunnelConn(), m),
    'tunnel.data': async (m) => {
      if (!this.deps.tunnels.data(this.tunnelConn(), m)) this.refuse('tunnel.data', `tunnel ${m.dir} ${m.id}`);
    },
    'tunnel.close': async (m) => {
      // A close may cross the other end's: not a refusal.
      this.deps.tunnels.close(this.tunnelConn(), m);
    },
    'roam.forward': async (m) => {
      if (this.feed?.hasDevice(m.project, m.device)) return this.deps.roaming.forward(this.roamConn(), m);
      this.refuse('roam.forward', `device ${m.project}/${m.device}`);
    },
  };

  /**
   * The catch-up (delta from `since`, or a snapshot), then live changes. A
   * resync (`force`) starts holding changes before it stops the current
   * subscription, so nothing falls between; what both see is sent once.
   */
  private async sync(since: number, force: boolean, holds?: readonly HeldObject[]): Promise<void> {
    const held = holdChanges(this.deps.store);
    this.unsubscribe?.();
    this.unsubscribe = held.stop;
    this.feed = this.feed ?? (await NodeFeed.open(this.deps.store, this.node));
    const { mode, messages, upTo } = await this.feed.catchUp(this.deps.store, since, force, holds);
    if (this.closed) return held.stop();
    if (!force) this.send({ t: 'welcome', node: this.node, site: this.feed.site, mode, heartbeatMs: this.deps.heartbeatMs });
    for (const msg of messages) this.send(msg);
    this.lastSent = upTo;
    this.lastSeen = Math.max(this.lastSeen, upTo);
    held.live((c) => this.onChange(c));
    this.deps.logger.info({ node: this.node, mode, from: since, sent: messages.length - 1, upTo }, force ? 'agent resynced (its rule targets moved)' : 'agent synced');
  }

  private onChange(c: Change): void {
    this.lastSeen = Math.max(this.lastSeen, c.revision);
    if (c.revision <= this.lastSent) return;
    const s = this.feed!.step(c);
    if (!s) return;
    if ('resync' in s) return void this.sync(this.lastSent, true).catch((err: unknown) => this.deps.logger.error({ err, node: this.node }, 'resync failed'));
    this.lastSent = c.revision;
    this.send(s.message);
  }

  private tunnelConn(): { node: string; via: object; send: (m: CenterMessage) => void; buffered: () => number } {
    return { node: this.node, via: this, send: (x) => this.send(x), buffered: () => this.buffered };
  }

  private roamConn(): { node: string; via: object; send: (m: CenterMessage) => void } {
    return { node: this.node, via: this, send: (x) => this.send(x) };
  }

  /** An advertised address (probe responder, endpoint gateway) if other nodes may be handed it; else none (not probed, not reached) and a warning. */
  private advertisable(address: ProbeAddress, what: string): ProbeAddress | undefined {
    const problem = probeAddressProblem(address, this.deps.remoteAddress);
    if (!problem) return address;
    this.deps.logger.warn({ node: this.node, address, problem }, `${what} address refused: other nodes will not be sent it`);
    return undefined;
  }

  /** What an agent may report about: itself, its instances, its site's devices, the rules it runs. */
  private speaksFor(o: { kind: string; name: string; project?: string }): boolean {
    const project = o.project ?? DEFAULT_PROJECT;
    switch (o.kind) {
      case 'Node':
        return o.name === this.node;
      case 'Instance':
        return !!this.feed?.hasInstance(project, o.name, true);
      case 'Device':
        return !!this.feed?.hasDevice(project, o.name);
      case 'Rule':
        return !!this.feed?.runsRule(project, o.name);
      default:
        return false;
    }
  }

  /**
   * A report about something this node does not speak for is dropped, counted,
   * and logged once per message type and session (a flood cannot fill the log).
   */
  private refuse(type: AgentMessage['t'], what: string): void {
    this.deps.metrics.agentRefused.inc({ type });
    if (this.refusedTypes.has(type)) return;
    this.refusedTypes.add(type);
    this.deps.logger.warn({ node: this.node, type, what }, 'agent report refused: the node does not speak for it');
  }

  /** Usage, heartbeat time, agent info and synced revision (reports/node-reports.ts). */
  private async writeNodeStatus(capacity: Node['spec']['capacity'] | undefined): Promise<void> {
    this.lastStatusWrite = Date.now();
    this.overflowChanged = false;
    const written = await this.reports.nodeStatus(this.node, { capacity, usage: this.usage, agent: this.agentInfo, mqtt: this.mqtt, gateway: this.gateway, runtimes: this.runtimes, uplink: this.uplink, overflowing: this.overflowing, syncedRevision: this.acked });
    if (written === 'conflict') this.lastStatusWrite = 0;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
