import net from 'node:net';
import { Backoff, type Peer } from '../../core/index.ts';
import { FrameReader, nonceOf, signedFrame } from './probe-frame.ts';
import { RttWindow } from './rtt-window.ts';

export interface PeerRtt {
  node: string;
  /** The period's median round trip; null when every probe of the period failed. */
  rttMs: number | null;
}

export interface ProberOptions {
  /** Called once per interval with the figures of the period that just ended (peers with no attempt are left out). */
  onReport: (peers: PeerRtt[]) => void;
  /** A probe unanswered this long failed; default max(1000, 2 * interval). */
  timeoutMs?: number;
}

const now = (): bigint => process.hrtime.bigint();
const ms = (ns: bigint): number => Number(ns) / 1e6;

/**
 * Measures round trips to the peers the center names: one persistent TCP
 * connection per peer (no handshake in the measurement), one probe per
 * interval on each, and once per interval a report of the period.
 */
export class Prober {
  private readonly links = new Map<string, PeerLink>();
  private key: Buffer | null = null;
  private intervalMs = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: ProberOptions) {}

  get timeoutMs(): number {
    return this.opts.timeoutMs ?? Math.max(1000, 2 * this.intervalMs);
  }

  /** Replaces the peer list; links to unchanged peers (same node and address) keep their connection. */
  update(key: Buffer, intervalMs: number, peers: Peer[]): void {
    this.key = key;
    const wanted = new Map(peers.map((p) => [p.node, p]));
    for (const [node, link] of this.links) {
      const p = wanted.get(node);
      if (!p || p.host !== link.peer.host || p.port !== link.peer.port) {
        link.close();
        this.links.delete(node);
      }
    }
    for (const p of peers) if (!this.links.has(p.node)) this.links.set(p.node, new PeerLink(p, () => this.key, () => this.timeoutMs));
    if (intervalMs !== this.intervalMs || !this.timer) {
      this.intervalMs = intervalMs;
      if (this.timer) clearInterval(this.timer);
      this.timer = setInterval(() => this.tick(), intervalMs);
    }
  }

  get peers(): string[] {
    return [...this.links.keys()];
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const link of this.links.values()) link.close();
    this.links.clear();
  }

  /** Closes the period (timeouts first, so they count in it), reports it, then probes again. */
  private tick(): void {
    const at = now();
    const report: PeerRtt[] = [];
    for (const [node, link] of this.links) {
      link.expire(at);
      const rttMs = link.window.take();
      if (rttMs !== undefined) report.push({ node, rttMs });
      link.probe(at);
    }
    this.opts.onReport(report);
  }
}

/** One peer: a connection re-dialled with backoff, and the probes in flight on it. */
class PeerLink {
  readonly window = new RttWindow();
  private socket: net.Socket | null = null;
  private connected = false;
  /** Since when there has been no connection; probes count as failed once that exceeds the timeout. */
  private downSince = now();
  private readonly pending = new Map<string, bigint>();
  private readonly backoff = new Backoff({ initialMs: 200, maxMs: 10_000, jitter: 0.5 });
  private retry: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    readonly peer: Peer,
    private readonly key: () => Buffer | null,
    private readonly timeoutMs: () => number,
  ) {
    this.dial();
  }

  probe(at: bigint): void {
    const key = this.key();
    if (!this.connected || !key) {
      if (ms(at - this.downSince) > this.timeoutMs()) this.window.fail();
      return;
    }
    const frame = signedFrame(key);
    this.pending.set(nonceOf(frame), at);
    this.socket!.write(frame);
  }

  /** Probes older than the timeout failed; the stream is then in an unknown state (blackholed?), so start over. */
  expire(at: bigint): void {
    let expired = 0;
    for (const [nonce, sentAt] of this.pending) {
      if (ms(at - sentAt) <= this.timeoutMs()) continue;
      this.pending.delete(nonce);
      expired++;
    }
    for (let i = 0; i < expired; i++) this.window.fail();
    if (expired) this.socket?.destroy();
  }

  close(): void {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.socket?.destroy();
  }

  private dial(): void {
    if (this.closed) return;
    const s = net.connect({ host: this.peer.host, port: this.peer.port, noDelay: true });
    this.socket = s;
    const reader = new FrameReader();
    // A blackholed SYN would otherwise wait for the OS's minutes-long connect timeout.
    s.setTimeout(this.timeoutMs(), () => s.destroy());
    s.on('connect', () => {
      s.setTimeout(0);
      this.connected = true;
      this.backoff.reset();
    });
    s.on('data', (chunk: Buffer) => {
      const at = now();
      for (const frame of reader.push(chunk)) {
        const sentAt = this.pending.get(nonceOf(frame));
        if (sentAt === undefined) continue; // late echo of a probe already counted as failed
        this.pending.delete(nonceOf(frame));
        this.window.sample(ms(at - sentAt));
      }
    });
    s.on('error', () => undefined); // 'close' follows
    s.on('close', () => {
      if (this.socket !== s) return;
      if (this.connected) this.downSince = now();
      this.connected = false;
      this.socket = null;
      // Probes in flight on a dropped connection were not answered: failed (e.g. a responder without our key).
      for (let i = 0; i < this.pending.size; i++) this.window.fail();
      this.pending.clear();
      if (!this.closed) this.retry = setTimeout(() => this.dial(), this.backoff.next());
    });
  }
}
