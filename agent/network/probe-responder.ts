import net from 'node:net';
import type { Logger } from 'pino';
import { FrameReader, verifyFrame } from './probe-frame.ts';
import { ProbeListenError } from './errors.ts';
import type { HostPort } from '../../core/host-port.ts';

export interface ResponderOptions extends HostPort {
  logger?: Logger;
  /** A connection silent this long is dropped; probers send every interval and reconnect when needed. */
  idleMs?: number;
}

/** Echoes unanswered beyond this are the peer not reading: drop it rather than buffer without bound. */
const MAX_QUEUED_BYTES = 64 * 1024;

/**
 * Answers peers' round-trip probes: echoes every frame whose HMAC verifies
 * with the current platform key, and drops the connection at the first one
 * that does not, and every connection while no key is known (the key comes
 * from the center, so a responder never answers strangers).
 */
export class ProbeResponder {
  private key: Buffer | null = null;
  private readonly sockets = new Set<net.Socket>();
  readonly stats = { answered: 0, rejected: 0 };

  static async start(o: ResponderOptions): Promise<ProbeResponder> {
    const server = net.createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new ProbeListenError(`cannot listen for probes on ${o.host}:${o.port}: ${err.message}`, { cause: err })));
      server.listen(o.port, o.host, () => resolve());
    });
    return new ProbeResponder(server, o);
  }

  private constructor(
    private readonly server: net.Server,
    private readonly opts: ResponderOptions,
  ) {
    server.on('error', (err) => opts.logger?.warn({ err: err.message }, 'probe responder error'));
    server.on('connection', (s) => this.accept(s));
  }

  /** The bound address (the actual port when listening on port 0). */
  get address(): HostPort {
    const a = this.server.address() as net.AddressInfo;
    return { host: this.opts.host, port: a.port };
  }

  /** A new key applies to the next frame; null (no key) drops every connection. */
  setKey(key: Buffer | null): void {
    this.key = key;
    if (!key) for (const s of this.sockets) s.destroy();
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(s: net.Socket): void {
    s.on('error', () => undefined); // a reset peer just goes away
    s.setNoDelay(true);
    if (!this.key) {
      this.stats.rejected++;
      return void s.destroy();
    }
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.setTimeout(this.opts.idleMs ?? 120_000, () => s.destroy());
    const reader = new FrameReader();
    s.on('data', (chunk: Buffer) => {
      for (const frame of reader.push(chunk)) {
        if (!this.key || !verifyFrame(this.key, frame) || s.writableLength > MAX_QUEUED_BYTES) {
          this.stats.rejected++;
          return void s.destroy();
        }
        this.stats.answered++;
        s.write(frame);
      }
    });
  }
}
