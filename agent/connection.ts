import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { AGENT_CONNECT_PATH, Backoff, CLOSE_UNAUTHORIZED, centerMessageSchema, type AgentMessage, type CenterMessage } from '../core/index.ts';
import { refusedOutright, refusedRetryMs } from './dial-refused.ts';

/** Connectivity as typed events (nats.js-style status), not log lines to grep. */
export type ConnectionEvent =
  | { type: 'connecting'; attempt: number }
  | { type: 'connected' }
  | { type: 'disconnected'; code: number; reason: string }
  /** `refused`: the dial was refused outright (nothing listened at the center's address, a reset, no route): retried within a second (dial-refused.ts). */
  | { type: 'reconnecting'; inMs: number; attempt: number; refused: boolean }
  /** The center refused the upgrade; 495: the certificate expired (the agent renews it and dials again). */
  | { type: 'rejected'; status: number }
  /** The center refused this node for good (credential revoked or expired, node deleted): no more dialling; the node must join again. */
  | { type: 'revoked'; why: string };

/** Upgrade refusals that retrying cannot fix: unknown or revoked credential, not a node credential, node deleted. */
const FINAL_STATUS: Record<number, string> = { 401: 'the center does not accept this node credential (revoked or expired)', 403: 'this credential is not a node credential', 410: 'this node was deleted at the center' };

export interface ConnectionOptions {
  center: string;
  credential: string;
  /** The node's TLS material, read at each dial (a renewed certificate is used from the next one on). */
  tls: () => { ca: string; cert: string; key: string };
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** Ping period; two missed pongs mean the link is dead even if TCP says nothing (a blackholed WAN). */
  pingMs: number;
}

/**
 * The agent's single outbound WebSocket to the center, re-dialled with
 * jittered exponential backoff. Messages are JSON text frames; received ones
 * are validated before they reach the agent. Each answered ping also gives a
 * round trip to the center ('rtt' event, ms).
 */
export class Connection extends EventEmitter {
  private ws: WebSocket | null = null;
  private readonly backoff: Backoff;
  private timer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private awaitingPong = 0;
  /** When the center was last heard from (any frame), for the reason a silent connection is closed with. */
  private heardAt = 0;
  /** Why a connection was closed for silence (its close event says so). */
  private readonly silentReason = new WeakMap<WebSocket, string>();
  /** The last dial got an HTTP answer refusing it (throttled, certificate expired...): its backoff stands (dialNow waits it out). */
  private answered = false;
  /** When dialNow last dialled ahead of the backoff. */
  private kickedAt = 0;

  constructor(private opts: ConnectionOptions) {
    super();
    this.backoff = new Backoff({ initialMs: opts.reconnectMinMs, maxMs: opts.reconnectMaxMs, jitter: 0.5 });
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  start(): void {
    this.dial();
  }

  /** Sends if connected; returns false when offline (the caller keeps the data for later). */
  send(msg: AgentMessage): boolean {
    if (!this.connected) return false;
    const text = JSON.stringify(msg);
    this.ws!.send(text);
    return true;
  }

  /**
   * The center is reachable (the uplink just got an answer through): a dial
   * waiting out its backoff goes now. Not after the center refused the last
   * dial over HTTP: that backoff is the center's to ask for.
   */
  dialNow(): void {
    // At most once a second: every uplink answer asks, and a center that refuses dials without an HTTP answer must not get one per answer.
    if (this.stopped || this.ws || !this.timer || this.answered || Date.now() - this.kickedAt < 1000) return;
    this.kickedAt = Date.now();
    clearTimeout(this.timer);
    this.timer = null;
    this.dial();
  }

  /** Closes the connection to dial again at once (its hello tells what changed). */
  redial(reason: string): void {
    this.ws?.close(1000, reason);
  }

  setPingInterval(ms: number): void {
    this.opts = { ...this.opts, pingMs: ms };
    if (this.pingTimer) this.startPing();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.stopPing();
    const ws = this.ws;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.close(1000, 'agent stopping');
        setTimeout(() => (ws.terminate(), resolve()), 1000).unref();
      });
    }
  }

  private emitStatus(e: ConnectionEvent): void {
    this.emit('status', e);
  }

  private dial(): void {
    if (this.stopped) return;
    this.emitStatus({ type: 'connecting', attempt: this.backoff.attempts + 1 });
    const url = new URL(AGENT_CONNECT_PATH, this.opts.center.replace(/^http/, 'ws'));
    const { ca, cert, key } = this.opts.tls();
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${this.opts.credential}` }, handshakeTimeout: 10_000, maxPayload: 64 * 1024 * 1024, ca, cert, key });
    this.ws = ws;
    let opened = false;
    let refused = false;
    let final: string | undefined;
    ws.on('upgrade', (res) => res.socket.setNoDelay(true));
    ws.on('open', () => {
      opened = true;
      this.backoff.reset();
      this.startPing();
      this.emitStatus({ type: 'connected' });
      this.emit('open');
    });
    ws.on('message', (data) => {
      this.heard();
      const parsed = centerMessageSchema.safeParse(safeJson(data.toString()));
      if (parsed.success) this.emit('message', parsed.data as CenterMessage);
      else this.emit('protocolError', parsed.error.message);
    });
    // The center pings a connection it has not heard from for a heartbeat (center/hub/silence-watch.ts); ws answers by itself.
    ws.on('ping', () => this.heard());
    ws.on('pong', (data) => {
      this.heard();
      // The ping carried its send time, and a WebSocket pong echoes the ping's payload [RFC 6455 5.5.3].
      if (data.length === 8) this.emit('rtt', Number(process.hrtime.bigint() - data.readBigUInt64BE()) / 1e6);
    });
    this.answered = false;
    ws.on('unexpected-response', (_req, res) => {
      this.answered = true;
      this.emitStatus({ type: 'rejected', status: res.statusCode ?? 0 });
      final = FINAL_STATUS[res.statusCode ?? 0];
      ws.terminate();
    });
    // 'close' follows and drives the reconnect.
    ws.on('error', (err: NodeJS.ErrnoException) => void (refused = !opened && refusedOutright(err)));
    ws.on('close', (code, reason) => {
      this.stopPing();
      if (this.ws === ws) this.ws = null;
      if (opened) this.emitStatus({ type: 'disconnected', code, reason: this.silentReason.get(ws) ?? reason.toString() });
      if (code === CLOSE_UNAUTHORIZED) final = `the center revoked this node's credential (${reason.toString() || 'no reason given'})`;
      if (final && !this.stopped) {
        this.stopped = true;
        this.emitStatus({ type: 'revoked', why: final });
      }
      if (this.stopped) return;
      const backoffMs = this.backoff.next();
      const inMs = refused ? refusedRetryMs(backoffMs) : backoffMs;
      this.emitStatus({ type: 'reconnecting', inMs, attempt: this.backoff.attempts, refused });
      this.timer = setTimeout(() => {
        this.timer = null;
        this.dial();
      }, inMs);
    });
  }

  private heard(): void {
    this.awaitingPong = 0;
    this.heardAt = Date.now();
  }

  private startPing(): void {
    this.stopPing();
    this.heard();
    this.pingTimer = setInterval(() => {
      const ws = this.ws;
      if (!ws) return;
      // Counted in ticks of this timer, not wall time: a stall of this process costs the center at most one missed pong.
      if (++this.awaitingPong > 2) return void this.terminateSilent(ws, `nothing from the center for ${Date.now() - this.heardAt} ms (${this.awaitingPong - 1} pings unanswered)`);
      const stamp = Buffer.alloc(8);
      stamp.writeBigUInt64BE(process.hrtime.bigint());
      ws.ping(stamp);
    }, this.opts.pingMs);
  }

  /** A dead link says nothing (a blackholed WAN): close without a closing handshake, which would wait for an answer too. */
  private terminateSilent(ws: WebSocket, why: string): void {
    this.silentReason.set(ws, why);
    ws.terminate();
  }

  private stopPing(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
