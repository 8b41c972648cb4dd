import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import { AGENT_CONNECT_PATH, CLOSE_REPLACED, CLOSE_UNAUTHORIZED, EXEC_CHUNK, GedgeError, type CenterMessage } from '../../core/index.ts';
import type { Store, TokenRecord } from '../store/store.ts';
import type { TokenHolds } from '../auth/token-holds.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import { certificateHold, supersedeOlder, type Presented } from '../auth/node-certs.ts';
import type { Metrics } from '../metrics.ts';
import { AgentOfflineError } from '../errors.ts';
import { AgentSession } from './agent-session.ts';
import { LogStreams } from './log-streams.ts';
import { MetricsScrapes } from './metrics-scrapes.ts';
import { Offloads } from './offloads.ts';
import { RoamingRelay } from './roaming.ts';
import { Tunnels } from './tunnels.ts';
import { ExecStreams, type ExecSink } from './exec-streams.ts';
import { SilenceWatch } from './silence-watch.ts';
import type { Telemetry } from '../telemetry/telemetry.ts';
import type { AgentNetwork } from '../network/index.ts';

export interface HubOptions {
  heartbeatMs: number;
  statusWriteMs: number;
  /** Called when a node connects, or speaks again after more than two heartbeats of silence. */
  onAlive: (node: string) => void;
  network?: AgentNetwork;
  telemetry?: Telemetry;
}

/** Another WebSocket endpoint on the same server; true when it took the request. */
export type UpgradeRoute = (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean;

/** A client's handle on an exec stream (hub.openExec). */
export interface ExecHandle {
  stdin(data: Buffer): void;
  eof(): void;
  resize(cols: number, rows: number): void;
  /** Output bytes the client has received. */
  ack(bytes: number): void;
  /** The client went away: the agent kills the command. */
  close(): void;
  /** Bytes queued on the agent's connection (the client's stdin waits while it is large). */
  backlog(): number;
}

/**
 * Accepts agent connections (agents dial out; the center never dials in),
 * one live session per node, and tracks when each node was last heard from.
 */
export class AgentHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1024 * 1024 });
  private readonly sessions = new Map<string, AgentSession>();
  private readonly lastSeen = new Map<string, number>();
  readonly logs = new LogStreams();
  readonly execs = new ExecStreams();
  readonly scrapes = new MetricsScrapes();
  /** Split inference's offloads, relayed from an edge's head to a tail's node. */
  readonly offloads: Offloads;
  /** Roaming devices' MQTT sessions and forwards, relayed between the brokers of their sites. */
  readonly roaming: RoamingRelay;
  /** Byte streams between two agents, for continuity's hand-overs between nodes that cannot reach each other. */
  readonly tunnels: Tunnels;
  private upgradeRoutes: UpgradeRoute[] = [];
  /** Per node: ends the hold of the certificate its live connection was made with (replaced when the node renews). */
  private readonly certHolds = new Map<string, { session: AgentSession; release: () => void }>();
  /** Closes connections nothing has come over for too long (a link that drops packets says nothing). */
  private readonly silence: SilenceWatch<AgentSession>;
  private readonly silenceTimer: NodeJS.Timeout;

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly access: { holds: TokenHolds; auth: Authenticator },
    private readonly opts: HubOptions,
  ) {
    this.offloads = new Offloads(store, (node) => {
      const s = this.sessions.get(node);
      return s && { via: s, send: (m) => s.send(m) };
    });
    this.roaming = new RoamingRelay(
      store,
      (node) => {
        const s = this.sessions.get(node);
        return s && { node, via: s, send: (m) => s.send(m) };
      },
      { pulls: (outcome) => metrics.roamPulls.inc({ outcome }), forwards: (outcome, n) => metrics.roamForwards.inc({ outcome }, n) },
    );
    this.tunnels = new Tunnels((node) => {
      const s = this.sessions.get(node);
      return s && { node, via: s, send: (m) => s.send(m), buffered: () => s.buffered };
    });
    this.silence = new SilenceWatch({ heartbeatMs: opts.heartbeatMs });
    this.silenceTimer = setInterval(() => this.watchSilence(), opts.heartbeatMs).unref();
  }

  /** One upgrade listener for the server: the agent endpoint here, the others in `routes`. */
  attach(server: Server | HttpsServer, routes: UpgradeRoute[] = []): void {
    this.upgradeRoutes = routes;
    server.on('upgrade', (req, socket, head) => void this.onUpgrade(req, socket, head));
  }

  /** When the node's agent was last heard from (ms epoch), or undefined if never since start. */
  seenAt(node: string): number | undefined {
    return this.lastSeen.get(node);
  }

  isConnected(node: string): boolean {
    return this.sessions.has(node);
  }

  openLogs(node: string, project: string, instance: string, opts: { follow: boolean; tailBytes: number; since?: number }) {
    const session = this.sessions.get(node);
    if (!session) throw new AgentOfflineError(`the agent of node "${node}" is not connected`, { details: [{ path: 'node', message: 'offline' }] });
    const { id, out } = this.logs.create(node);
    session.send({ t: 'logs.open', stream: id, project, instance, ...opts });
    out.on('close', () => session.send({ t: 'logs.close', stream: id }));
    return out;
  }

  /** The node's agent's metrics in Prometheus' text format (GET /api/v1/nodes/{name}/metrics). */
  scrapeMetrics(node: string): Promise<string> {
    const session = this.sessions.get(node);
    if (!session) return Promise.reject(new AgentOfflineError(`the agent of node "${node}" is not connected`, { details: [{ path: 'node', message: 'offline' }] }));
    return this.scrapes.scrape(node, session, (id) => session.send({ t: 'metrics.scrape', id }));
  }

  /** Starts a command in an instance on `node` (gedge exec); what the agent says goes to `sink`. */
  openExec(node: string, req: Omit<Extract<CenterMessage, { t: 'exec.open' }>, 't' | 'stream'>, sink: ExecSink): ExecHandle {
    const session = this.sessions.get(node);
    if (!session) throw new AgentOfflineError(`the agent of node "${node}" is not connected`, { details: [{ path: 'node', message: 'offline' }] });
    const stream = this.execs.create(session, sink);
    session.send({ t: 'exec.open', stream, ...req });
    return {
      stdin: (data) => {
        for (let i = 0; i < data.length; i += EXEC_CHUNK) session.send({ t: 'exec.stdin', stream, data: data.subarray(i, i + EXEC_CHUNK).toString('base64') });
      },
      eof: () => session.send({ t: 'exec.eof', stream }),
      resize: (cols, rows) => session.send({ t: 'exec.resize', stream, cols, rows }),
      ack: (bytes) => session.send({ t: 'exec.ack', stream, bytes }),
      close: () => {
        if (this.execs.drop(stream)) session.send({ t: 'exec.close', stream });
      },
      backlog: () => session.buffered,
    };
  }

  /**
   * The node renewed its certificate: its live connection now ends when the
   * new one does (or is revoked), not the old one. The socket stays up.
   */
  renewed(node: string, cert: Presented): void {
    const held = this.certHolds.get(node);
    if (!held) return;
    held.release();
    held.release = this.access.holds.hold(certificateHold(cert), (why) => held.session.close(CLOSE_UNAUTHORIZED, why));
  }

  /** Drops a node's connection (e.g. the node was deleted). */
  disconnect(node: string, code: number, reason: string): void {
    this.sessions.get(node)?.close(code, reason);
  }

  async close(): Promise<void> {
    clearInterval(this.silenceTimer);
    for (const s of this.sessions.values()) s.close(1001, 'center shutting down');
    this.sessions.clear();
    await new Promise<void>((r) => this.wss.close(() => r()));
  }

  private async onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== AGENT_CONNECT_PATH) {
      if (this.upgradeRoutes.some((route) => route(req, socket, head))) return;
      return void refuse(socket, 404, 'Not Found');
    }
    let token: TokenRecord;
    let node: string;
    let cert: Presented;
    try {
      token = await this.access.auth.token(req.socket.remoteAddress, req.headers.authorization, ['node']);
      node = token.subject!;
      if (!(await this.store.get('Node', undefined, node))) return void refuse(socket, 410, 'Gone');
      // The node is its certificate too: issued by our CA to this node, on record, current.
      cert = await this.access.auth.certificate(req.socket, node, 'current');
      await supersedeOlder(this.store, cert.record);
    } catch (err) {
      const status = err instanceof GedgeError ? err.status : 500;
      if (err instanceof GedgeError && status !== 500) this.logger.info({ status, why: err.message, address: req.socket.remoteAddress }, 'agent connection refused');
      return void refuse(socket, status, STATUS_TEXT[status] ?? 'Forbidden');
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(node, token, cert, ws, req.socket.remoteAddress));
  }

  private onConnection(node: string, token: TokenRecord, cert: Presented, ws: WebSocket, remoteAddress: string | undefined): void {
    (ws as unknown as { _socket?: { setNoDelay?: (v: boolean) => void } })._socket?.setNoDelay?.(true);
    this.sessions.get(node)?.close(CLOSE_REPLACED, 'replaced by a newer connection');
    const session = new AgentSession(node, ws, {
      store: this.store,
      logger: this.logger,
      metrics: this.metrics,
      logs: this.logs,
      execs: this.execs,
      scrapes: this.scrapes,
      offloads: this.offloads,
      roaming: this.roaming,
      tunnels: this.tunnels,
      heartbeatMs: this.opts.heartbeatMs,
      statusWriteMs: this.opts.statusWriteMs,
      network: this.opts.network,
      endpoints: this.opts.network?.endpoints,
      telemetry: this.opts.telemetry,
      remoteAddress,
      onSeen: (n) => {
        const now = Date.now();
        const prev = this.lastSeen.get(n) ?? 0;
        this.lastSeen.set(n, now);
        if (now - prev > 2 * this.opts.heartbeatMs) this.opts.onAlive(n);
      },
    });
    this.sessions.set(node, session);
    // Revoking the credential (or deleting the node) closes the connection with a code the agent takes as final.
    const release = this.access.holds.hold(token, (why) => session.close(CLOSE_UNAUTHORIZED, why));
    this.certHolds.get(node)?.release();
    const held = { session, release: this.access.holds.hold(certificateHold(cert), (why) => session.close(CLOSE_UNAUTHORIZED, why)) };
    this.certHolds.set(node, held);
    this.lastSeen.set(node, Date.now());
    this.opts.onAlive(node);
    this.metrics.agentsConnected.set(this.sessions.size);
    this.logger.info({ node }, 'agent connected');
    ws.on('close', (code) => {
      release();
      if (this.certHolds.get(node) === held) {
        held.release();
        this.certHolds.delete(node);
      }
      session.dispose();
      if (this.sessions.get(node) === session) this.sessions.delete(node);
      this.logs.endNode(node, 'agent disconnected');
      this.scrapes.ended(node, session, 'agent disconnected');
      this.offloads.ended(node, session);
      this.roaming.ended(node, session);
      this.tunnels.ended(node, session);
      this.execs.endConnection(session, `the agent of node "${node}" disconnected`);
      this.metrics.agentsConnected.set(this.sessions.size);
      this.metrics.agentDisconnects.inc({ reason: session.endedBy ?? 'closed' });
      this.logger.info({ node, code, by: session.endedBy ?? 'closed' }, 'agent disconnected');
    });
    ws.on('error', (err) => this.logger.warn({ node, err: err.message }, 'agent socket error'));
  }

  /** Pings connections quiet for a heartbeat; closes those silent past the bound, so the node shows disconnected while its link is down. */
  private watchSilence(): void {
    const { ping, close } = this.silence.look(Date.now(), [...this.sessions.values()].map((s) => ({ key: s, heardAt: s.heardAt })));
    for (const s of ping) s.ping();
    for (const { key: s, silentMs } of close) {
      if (this.sessions.get(s.node) !== s) continue;
      this.logger.warn({ node: s.node, silentMs, boundMs: this.silence.boundMs }, 'agent silent; closing its connection');
      s.terminate('silent');
    }
  }
}

const STATUS_TEXT: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden', 410: 'Gone', 429: 'Too Many Requests', 495: 'Certificate Expired', 500: 'Internal Server Error' };

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
