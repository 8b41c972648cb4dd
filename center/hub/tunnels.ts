import type { CenterMessage } from '../../core/index.ts';

/** Tunnels one node may have open at once, as either end; more are refused. */
export const TUNNELS_PER_NODE = 64;
/** Bytes the center may have queued for a node's connection before a tunnel's data to it ends the tunnel (a peer too slow). */
const BUFFERED_MAX = 8 * 1024 * 1024;

/** One agent connection, as the tunnels see it. */
export interface TunnelConn {
  node: string;
  via: object;
  send: (m: CenterMessage) => void;
  /** Bytes queued for the agent and not yet written. */
  buffered: () => number;
}

interface End {
  conn: TunnelConn;
  /** The id this end knows the tunnel by. */
  id: number;
}

interface Tunnel {
  /** The node that opened it (its ids), and the node it reaches (ids the center gives). */
  out: End;
  in: End;
}

/**
 * Byte streams between two agents through the center, for continuity's
 * hand-over conversations when the nodes cannot reach each other's gateways
 * (docs/link.md, "Continuity"). The center checks that both ends are
 * connected nodes and that data comes only from a tunnel's own ends; it
 * keeps nothing: data passes through. The opener's identity is the one its
 * connection authenticated, so the other end trusts it as a gateway trusts
 * a node certificate.
 */
export class Tunnels {
  private nextId = 1;
  private readonly byOut = new Map<string, Tunnel>();
  private readonly byIn = new Map<number, Tunnel>();
  private readonly perNode = new Map<string, number>();

  constructor(
    private readonly sessions: (node: string) => TunnelConn | undefined,
    private readonly limit = TUNNELS_PER_NODE,
  ) {}

  open(from: TunnelConn, m: { id: number; node: string; request: string }): void {
    const refuse = (error: string) => from.send({ t: 'tunnel.close', id: m.id, dir: 'out', error });
    const key = `${from.node}/${m.id}`;
    if (this.byOut.has(key)) return refuse(`tunnel ${m.id} is open already`);
    if (m.node === from.node) return refuse('a node does not tunnel to itself');
    const to = this.sessions(m.node);
    if (to === undefined) return refuse(`node "${m.node}" is not connected`);
    if (this.count(from.node) >= this.limit || this.count(m.node) >= this.limit) return refuse(`at most ${this.limit} tunnels of one node are open at once`);
    const t: Tunnel = { out: { conn: from, id: m.id }, in: { conn: to, id: this.nextId++ } };
    this.byOut.set(key, t);
    this.byIn.set(t.in.id, t);
    this.add(from.node, 1);
    this.add(m.node, 1);
    to.send({ t: 'tunnel.open', id: t.in.id, from: from.node, request: m.request });
  }

  /** Data from one end for the other; false when the node has no such tunnel. */
  data(from: TunnelConn, m: { id: number; dir: 'out' | 'in'; data: string }): boolean {
    const t = this.find(from, m.id, m.dir);
    if (t === undefined) return false;
    const other = m.dir === 'out' ? t.in : t.out;
    if (other.conn.buffered() > BUFFERED_MAX) {
      this.end(t, `node "${other.conn.node}" does not take the tunnel's data fast enough`);
      return true;
    }
    other.conn.send({ t: 'tunnel.data', id: other.id, dir: m.dir === 'out' ? 'in' : 'out', data: m.data });
    return true;
  }

  /** One end closed the tunnel; false when the node has no such tunnel. */
  close(from: TunnelConn, m: { id: number; dir: 'out' | 'in'; error?: string }): boolean {
    const t = this.find(from, m.id, m.dir);
    if (t === undefined) return false;
    this.drop(t);
    const other = m.dir === 'out' ? t.in : t.out;
    other.conn.send({ t: 'tunnel.close', id: other.id, dir: m.dir === 'out' ? 'in' : 'out', ...(m.error !== undefined ? { error: m.error } : {}) });
    return true;
  }

  /** A node's connection closed: its tunnels end, and their other ends are told. */
  ended(node: string, via: object): void {
    for (const t of this.byIn.values()) {
      if ((t.out.conn.node === node && t.out.conn.via === via) || (t.in.conn.node === node && t.in.conn.via === via)) this.end(t, `node "${node}" went away`);
    }
  }

  /** Tunnels open now (tests, metrics). */
  get size(): number {
    return this.byIn.size;
  }

  private find(from: TunnelConn, id: number, dir: 'out' | 'in'): Tunnel | undefined {
    const t = dir === 'out' ? this.byOut.get(`${from.node}/${id}`) : this.byIn.get(id);
    const end = t && (dir === 'out' ? t.out : t.in);
    return end && end.conn.node === from.node && end.conn.via === from.via ? t : undefined;
  }

  /** Ends a tunnel from the center's side: both ends are told why. */
  private end(t: Tunnel, error: string): void {
    this.drop(t);
    t.out.conn.send({ t: 'tunnel.close', id: t.out.id, dir: 'out', error });
    t.in.conn.send({ t: 'tunnel.close', id: t.in.id, dir: 'in', error });
  }

  private drop(t: Tunnel): void {
    if (!this.byIn.delete(t.in.id)) return;
    this.byOut.delete(`${t.out.conn.node}/${t.out.id}`);
    this.add(t.out.conn.node, -1);
    this.add(t.in.conn.node, -1);
  }

  private count(node: string): number {
    return this.perNode.get(node) ?? 0;
  }

  private add(node: string, n: number): void {
    const left = this.count(node) + n;
    if (left > 0) this.perNode.set(node, left);
    else this.perNode.delete(node);
  }
}
