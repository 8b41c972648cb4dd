import http, { type IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { parseHostPort } from '../network/host-port.ts';
import { BrokerListenError } from './errors.ts';
import type { ConnectionLimiter } from './limits.ts';

export type ConnectionHandler = (conn: Duplex, req?: IncomingMessage) => void;

/** The broker's sockets: MQTT over TCP, and optionally over WebSocket at /mqtt. Each connection goes to aedes as a duplex stream. */
export class Listeners {
  private readonly sockets = new Set<net.Socket>();

  static async start(handle: ConnectionHandler, tcp: string, ws: string | undefined, limiter: ConnectionLimiter): Promise<Listeners> {
    const tcpServer = net.createServer({ noDelay: true });
    await listen(tcpServer, tcp, 'MQTT');
    let wsServer: http.Server | undefined;
    if (ws !== undefined) {
      wsServer = http.createServer({ noDelay: true });
      try {
        await listen(wsServer, ws, 'MQTT over WebSocket');
      } catch (err) {
        tcpServer.close();
        throw err;
      }
    }
    return new Listeners(handle, tcpServer, wsServer, limiter);
  }

  private constructor(
    handle: ConnectionHandler,
    private readonly tcp: net.Server,
    private readonly http: http.Server | undefined,
    limiter: ConnectionLimiter,
  ) {
    tcp.on('connection', (socket: net.Socket) => {
      if (!limiter.admit(socket, socket.remoteAddress)) return void socket.destroy();
      // A connection that never sends CONNECT is not aedes' client yet; close() must still end it.
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      handle(socket);
    });
    if (http) {
      const wss = new WebSocketServer({ server: http, path: '/mqtt' });
      wss.on('connection', (socket, req) => {
        req.socket.setNoDelay(true);
        const stream = createWebSocketStream(socket);
        if (!limiter.admit(stream, req.socket.remoteAddress)) return void socket.terminate();
        handle(stream, req);
      });
    }
  }

  get ports(): { tcp: number; ws?: number } {
    const tcp = (this.tcp.address() as net.AddressInfo).port;
    return this.http ? { tcp, ws: (this.http.address() as net.AddressInfo).port } : { tcp };
  }

  /** Stops accepting; resolves once every connection is gone (aedes closes its clients, this the rest). */
  close(): Promise<void> {
    const closing = [closed(this.tcp), ...(this.http ? [closed(this.http)] : [])];
    for (const s of this.sockets) s.destroy();
    this.http?.closeAllConnections();
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
