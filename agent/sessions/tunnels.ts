import { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { TUNNEL_CHUNK, type AgentMessage, type CenterMessage } from '../../core/index.ts';
import { sessionRequestSchema, type SessionRequest } from './session-request.ts';

type Dir = 'out' | 'in';

/**
 * One end of a tunnel through the center (center/hub/tunnels.ts): a duplex
 * byte stream, as a gateway connection is to the session conversations
 * (line-link.ts). Writes go out in chunks of at most TUNNEL_CHUNK; the
 * other end's data comes in as it arrives.
 */
export class TunnelStream extends Duplex {
  private closedByPeer = false;

  constructor(
    readonly id: number,
    private readonly dir: Dir,
    private readonly send: (m: AgentMessage) => boolean,
    private readonly forget: () => void,
  ) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    for (let at = 0; at < chunk.length; at += TUNNEL_CHUNK) {
      if (!this.send({ t: 'tunnel.data', id: this.id, dir: this.dir, data: chunk.subarray(at, at + TUNNEL_CHUNK).toString('base64') })) return done(new Error('the center is out of reach'));
    }
    done();
  }

  override _read(): void {}

  override _final(done: (err?: Error | null) => void): void {
    this.destroy();
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.forget();
    if (!this.closedByPeer) this.send({ t: 'tunnel.close', id: this.id, dir: this.dir });
    done(err);
  }

  /** As a socket's: ends once what was written is sent (here, at once: writes are sent as they are made). */
  destroySoon(): void {
    this.end();
  }

  /** The other end's data. */
  received(data: string): void {
    this.push(Buffer.from(data, 'base64'));
  }

  /** The other end closed, or the center ended the tunnel. */
  peerClosed(error: string | undefined): void {
    this.closedByPeer = true;
    this.push(null);
    this.destroy(error !== undefined ? new Error(error) : undefined);
  }
}

/**
 * Continuity's hand-over conversations through the center, when two nodes
 * cannot reach each other's gateways: `dial` opens a tunnel to another
 * node's session handler; a tunnel another node opens here is handed to
 * this node's (`serve`), with the caller the center authenticated.
 */
export class Tunnels {
  private nextId = 1;
  private readonly streams = new Map<string, TunnelStream>();

  constructor(
    private readonly d: {
      /** To the center; false when it is out of reach. */
      send: (m: AgentMessage) => boolean;
      serve: (req: SessionRequest, stream: TunnelStream, caller: string) => void;
      log: Logger;
    },
  ) {}

  /** A stream to `node`'s session handler with `request` sent; throws when the center is out of reach. */
  dial(node: string, request: SessionRequest): TunnelStream {
    const id = this.nextId++;
    if (!this.d.send({ t: 'tunnel.open', id, node, request: JSON.stringify(request) })) throw new Error('the center is out of reach');
    return this.track(id, 'out');
  }

  /** The center's tunnel messages. */
  handle(m: Extract<CenterMessage, { t: 'tunnel.open' | 'tunnel.data' | 'tunnel.close' }>): void {
    if (m.t === 'tunnel.open') return this.opened(m);
    const s = this.streams.get(`${m.dir}/${m.id}`);
    if (s === undefined) return;
    if (m.t === 'tunnel.data') s.received(m.data);
    else s.peerClosed(m.error);
  }

  /** The connection to the center went: every tunnel with it. */
  disconnected(): void {
    for (const s of [...this.streams.values()]) s.peerClosed('the center went away');
  }

  private opened(m: Extract<CenterMessage, { t: 'tunnel.open' }>): void {
    let req: SessionRequest;
    try {
      req = sessionRequestSchema.parse(JSON.parse(m.request));
    } catch {
      this.d.log.warn({ event: 'session', from: m.from }, 'a tunnel was opened with a request that is no session request');
      this.d.send({ t: 'tunnel.close', id: m.id, dir: 'in', error: 'not a session request' });
      return;
    }
    this.d.serve(req, this.track(m.id, 'in'), m.from);
  }

  private track(id: number, dir: Dir): TunnelStream {
    const key = `${dir}/${id}`;
    const s = new TunnelStream(id, dir, this.d.send, () => this.streams.delete(key));
    s.on('error', () => undefined);
    this.streams.set(key, s);
    return s;
  }
}
