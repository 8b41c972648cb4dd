// Userspace TCP proxy on 127.0.0.1 that emulates a WAN link (tests, the smart-city scenario):
// one-way delay with jitter, and partitions (reset or blackhole).
import net from 'node:net';
import { EventEmitter } from 'node:events';

export interface LinkOptions {
  upstreamHost?: string;
  upstreamPort: number;
  listenPort?: number;
  delayMs?: number;
  jitterMs?: number;
}

export type LinkEvent =
  | { type: 'connection'; id: number }
  | { type: 'closed'; id: number }
  | { type: 'cut' }
  | { type: 'restored' };

type CutMode = 'reset' | 'blackhole';
// 'close' = the source closed cleanly (flush, then close); 'abort' = it died with an error.
type Item = Buffer | 'end' | 'close' | 'abort';

interface Conn {
  id: number;
  client: net.Socket;
  upstream?: net.Socket;
  open: number; // sockets not yet closed; the conn is released when this hits 0
  dead: boolean;
  stops: Array<() => void>; // cancel the per-direction delay timers
}

const ignore = (): void => {};

export class LinkEmulator extends EventEmitter {
  readonly port: number;
  bytes = { up: 0, down: 0 };
  private mode: CutMode | null = null;
  private delayMs: number;
  private jitterMs: number;
  private nextId = 0;
  private readonly conns = new Map<number, Conn>();
  private closing?: Promise<void>;

  static async start(opts: LinkOptions): Promise<LinkEmulator> {
    const server = net.createServer({ allowHalfOpen: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.listenPort ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new LinkEmulator(server, opts);
  }

  private constructor(private readonly server: net.Server, private readonly opts: LinkOptions) {
    super();
    this.port = (server.address() as net.AddressInfo).port;
    this.delayMs = opts.delayMs ?? 0;
    this.jitterMs = opts.jitterMs ?? 0;
    server.on('error', ignore);
    server.on('connection', (s) => this.accept(s));
  }

  get url(): string { return `http://127.0.0.1:${this.port}`; }
  get isCut(): boolean { return this.mode !== null; }
  get activeConnections(): number { return this.conns.size; }

  override on(event: 'event', fn: (e: LinkEvent) => void): this { return super.on(event, fn); }
  private fire(e: LinkEvent): void { this.emit('event', e); }

  setDelay(delayMs: number, jitterMs = 0): void {
    this.delayMs = delayMs;
    this.jitterMs = jitterMs;
  }

  cut(mode: CutMode = 'reset'): void {
    const was = this.mode;
    this.mode = mode;
    if (mode === 'reset') for (const c of this.conns.values()) this.kill(c, true);
    if (was === null) this.fire({ type: 'cut' });
  }

  restore(): void {
    if (this.mode === null) return;
    // Bytes dropped by a blackhole are gone for good (unlike real TCP, nothing retransmits
    // them), so every connection that lived through it has a corrupt stream: kill it.
    if (this.mode === 'blackhole') for (const c of this.conns.values()) this.kill(c, false);
    this.mode = null;
    this.fire({ type: 'restored' });
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const c of this.conns.values()) this.kill(c, false);
    });
    return this.closing;
  }

  private accept(client: net.Socket): void {
    client.on('error', ignore);
    client.setNoDelay(true);
    if (this.closing || this.mode === 'reset') return void client.resetAndDestroy();
    const conn: Conn = { id: ++this.nextId, client, open: 1, dead: false, stops: [] };
    this.conns.set(conn.id, conn);
    client.on('close', () => this.release(conn));
    this.fire({ type: 'connection', id: conn.id });
    if (this.mode === 'blackhole') {
      client.on('data', ignore); // keep reading so the client never sees backpressure
      return;
    }
    const upstream = net.connect({
      host: this.opts.upstreamHost ?? '127.0.0.1',
      port: this.opts.upstreamPort,
      allowHalfOpen: true,
    });
    upstream.on('error', ignore); // e.g. ECONNREFUSED: 'close' follows and aborts the client
    upstream.setNoDelay(true);
    conn.upstream = upstream;
    conn.open++;
    upstream.on('close', () => this.release(conn));
    this.pipe(conn, client, upstream, 'up');
    this.pipe(conn, upstream, client, 'down');
  }

  private pipe(conn: Conn, src: net.Socket, dst: net.Socket, dir: 'up' | 'down'): void {
    // Release times are monotonic per direction, so jitter stretches gaps but never reorders.
    const queue: Array<{ at: number; item: Item }> = [];
    let last = 0;
    let timer: NodeJS.Timeout | undefined;
    let waitingDrain = false;

    const deliver = (item: Item): void => {
      // A blackhole also eats FIN/RST: a dead link carries nothing, the peer must time out.
      if (conn.dead || dst.destroyed || this.mode === 'blackhole') return;
      if (item === 'end') dst.end();
      else if (item === 'close') dst.destroySoon(); // don't discard bytes still buffered
      else if (item === 'abort') dst.destroy();
      else {
        this.bytes[dir] += item.length;
        if (!dst.write(item) && !waitingDrain) {
          waitingDrain = true;
          src.pause();
          dst.once('drain', () => { waitingDrain = false; src.resume(); });
        }
      }
    };
    const flush = (): void => {
      timer = undefined;
      const now = performance.now();
      while (queue.length > 0 && queue[0]!.at <= now) deliver(queue.shift()!.item);
      // Timers can fire a bit early relative to performance.now(); re-arm rather than cheat.
      if (queue.length > 0) timer = setTimeout(flush, Math.max(1, Math.ceil(queue[0]!.at - now)));
    };
    const push = (item: Item): void => {
      if (conn.dead) return;
      if (queue.length === 0 && this.delayMs === 0 && this.jitterMs === 0) return deliver(item);
      const now = performance.now();
      const d = Math.max(0, this.delayMs + (Math.random() * 2 - 1) * this.jitterMs);
      last = Math.max(now + d, last);
      queue.push({ at: last, item });
      timer ??= setTimeout(flush, Math.ceil(last - now));
    };

    conn.stops.push(() => { clearTimeout(timer); timer = undefined; queue.length = 0; });
    src.on('data', (b: Buffer) => push(b));
    src.on('end', () => push('end'));
    src.on('close', (hadError: boolean) => push(hadError ? 'abort' : 'close'));
  }

  // Tear a connection down now; `rst` makes peers see ECONNRESET like a real reset would.
  private kill(conn: Conn, rst: boolean): void {
    this.stop(conn);
    for (const s of [conn.client, conn.upstream]) {
      if (!s || s.destroyed) continue;
      if (rst && !s.connecting) s.resetAndDestroy();
      else s.destroy();
    }
  }

  private stop(conn: Conn): void {
    conn.dead = true;
    for (const f of conn.stops) f();
    this.conns.delete(conn.id);
  }

  private release(conn: Conn): void {
    if (--conn.open > 0) return;
    this.stop(conn);
    this.fire({ type: 'closed', id: conn.id });
  }
}
