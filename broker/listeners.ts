import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { parseHostPort } from '../core/host-port.ts';
import { BrokerListenError } from './errors.ts';
import type { ConnectionLimiter } from './limits.ts';

export type ConnectionHandler = (conn: Duplex, req?: IncomingMessage) => void;

/** The broker's listen addresses ("host:port"), each off when unset. */
export interface ListenAddresses {
  /** MQTT over TCP, in clear: only when the operator asks for it. */
  tcp?: string;
  /** MQTT over WebSocket at /mqtt, in clear. */
  ws?: string;
  /** MQTT over TLS (MQTTS). */
  tls?: string;
  /** MQTT over secure WebSocket at /mqtt. */
  wss?: string;
}

/** The certificate the TLS listeners serve (the node's, issued by the center's CA) and the CA that device certificates must chain to. */
export interface ServerTls {
  ca: string;
  cert: string;
  key: string;
}

export type ListenerKind = keyof ListenAddresses;

const WHAT: Record<ListenerKind, string> = { tcp: 'MQTT', ws: 'MQTT over WebSocket', tls: 'MQTTS', wss: 'MQTT over secure WebSocket' };

/**
 * The broker's sockets: MQTT over TCP and TLS, and over WebSocket (plain or
 * secure) at /mqtt. Each connection goes to aedes as a duplex stream. TLS
 * listeners ask devices for a client certificate but do not require one
 * (devices may use passwords); a renewed server certificate is taken without
 * dropping anyone (setTls).
 */
export class Listeners {
  private readonly sockets = new Set<net.Socket>();
  /** close() was asked for: the servers' 'close' events are expected. */
  closing = false;

  static async start(handle: ConnectionHandler, at: ListenAddresses, limiter: ConnectionLimiter, material?: ServerTls, events: { error?: (err: Error) => void; failure?: (err: Error) => void } = {}): Promise<Listeners> {
    const servers = new Map<ListenerKind, net.Server>();
    const secure = material ? { ca: material.ca, cert: material.cert, key: material.key, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' as const, handshakeTimeout: 10_000 } : undefined;
    try {
      for (const kind of ['tcp', 'ws', 'tls', 'wss'] as const) {
        const address = at[kind];
        if (address === undefined) continue;
        if ((kind === 'tls' || kind === 'wss') && !secure) throw new BrokerListenError(`${WHAT[kind]}: no certificate to serve`);
        const server = kind === 'tcp' ? net.createServer({ noDelay: true }) : kind === 'ws' ? http.createServer({ noDelay: true }) : kind === 'tls' ? tls.createServer({ ...secure, noDelay: true }) : https.createServer({ ...secure, noDelay: true });
        servers.set(kind, server);
        await listen(server, address, WHAT[kind]);
      }
    } catch (err) {
      for (const s of servers.values()) s.close();
      throw err;
    }
    const listeners = new Listeners(handle, servers, limiter);
    for (const [kind, server] of servers) {
      // Past listen(), an error is a connection that could not be accepted (out of file descriptors, say): the server listens on, and it is only reported.
      server.on('error', (err) => events.error?.(new BrokerListenError(`${WHAT[kind]}: ${err.message}`, { cause: err })));
      // A listener that stops without close() being asked for no longer serves: that is the broker's failure.
      server.on('close', () => listeners.closing || events.failure?.(new BrokerListenError(`${WHAT[kind]} stopped listening`)));
    }
    return listeners;
  }

  private constructor(
    handle: ConnectionHandler,
    private readonly servers: Map<ListenerKind, net.Server>,
    limiter: ConnectionLimiter,
  ) {
    for (const [kind, server] of servers) {
      if (kind === 'tcp' || kind === 'tls') {
        // Admission counts the raw socket, before any TLS handshake work.
        server.on('connection', (socket: net.Socket) => {
          if (!limiter.admit(socket, socket.remoteAddress)) return void socket.destroy();
          // A connection that never sends CONNECT is not aedes' client yet; close() must still end it.
          this.sockets.add(socket);
          socket.on('close', () => this.sockets.delete(socket));
          if (kind === 'tcp') handle(socket);
        });
        if (kind === 'tls') {
          server.on('secureConnection', (socket: tls.TLSSocket) => handle(socket));
          server.on('tlsClientError', (_err, socket: net.Socket) => socket.destroy());
        }
        continue;
      }
      const wss = new WebSocketServer({ server: server as http.Server, path: '/mqtt' });
      wss.on('error', () => undefined); // the server's own error, re-emitted: handled on the server
      wss.on('connection', (socket, req) => {
        req.socket.setNoDelay(true);
        const stream = createWebSocketStream(socket);
        if (!limiter.admit(stream, req.socket.remoteAddress)) return void socket.terminate();
        handle(stream, req);
      });
    }
  }

  get ports(): { tcp?: number; ws?: number; tls?: number; wss?: number } {
    const ports: { tcp?: number; ws?: number; tls?: number; wss?: number } = {};
    for (const [kind, server] of this.servers) ports[kind] = (server.address() as net.AddressInfo).port;
    return ports;
  }

  /** A renewed certificate: new handshakes use it; connections already made stay. */
  setTls(material: ServerTls): void {
    for (const kind of ['tls', 'wss'] as const) (this.servers.get(kind) as tls.Server | undefined)?.setSecureContext({ ca: material.ca, cert: material.cert, key: material.key });
  }

  /** Stops accepting; resolves once every connection is gone (aedes closes its clients, this the rest). */
  close(): Promise<void> {
    this.closing = true;
    const closing = [...this.servers.values()].map(closed);
    for (const s of this.sockets) s.destroy();
    for (const kind of ['ws', 'wss'] as const) (this.servers.get(kind) as http.Server | undefined)?.closeAllConnections();
    return Promise.all(closing).then(() => undefined);
  }
}

function listen(server: net.Server, address: string, what: string): Promise<void> {
  const hp = parseHostPort(address);
  if (!hp) return Promise.reject(new BrokerListenError(`${what}: expected host:port, got "${address}"`));
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new BrokerListenError(`${what}: cannot listen on ${address}: ${err.message}`, { cause: err })));
    server.listen(hp.port, hp.host, () => resolve());
  });
}

function closed(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
