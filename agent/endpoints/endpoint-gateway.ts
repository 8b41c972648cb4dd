import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { formatHostPort, isWildcard, parseHostPort, type HostPort } from '../../core/host-port.ts';
import { nameSchema } from '../../core/index.ts';
import type { NodeTls } from '../node-certificate.ts';
import { sessionRequestSchema, type SessionRequest } from '../sessions/session-request.ts';

/** The request line a proxy sends first, and its longest allowed length. */
export interface GatewayRequest {
  project: string;
  instance: string;
  port: string;
}
export const GATEWAY_REQUEST_MAX = 1024;
/** How long a caller has to send its request line once the handshake is done. */
const REQUEST_TIMEOUT_MS = 5000;
/** How long the gateway waits for its own node's instance to accept: less than a caller waits for the gateway's answer. */
const LOCAL_CONNECT_MS = 500;
/** A relayed connection one side closed: the other has this long to take what is still on its way. */
const CLOSE_GRACE_MS = 5000;
/** TLS handshakes must finish within this (not Node's 120 s: an unauthenticated peer could hold sockets open). */
const HANDSHAKE_MS = 5000;
/** Connections the gateway holds at once at most. */
export const MAX_CONNECTIONS = 4096;

export interface GatewayOptions {
  listen: string;
  advertise?: string;
  tls: NodeTls;
  /** Whether a name is a node of the platform now (from the center's directory): a deleted node's certificate is refused. */
  isNode: (name: string) => boolean;
  /** The host port of an exposed, ready instance of this node for that port of its endpoint; undefined: not one. */
  resolve: (r: GatewayRequest) => number | undefined;
  /** A session request (agent/sessions/migration.ts): the socket is the handler's from here, `rest` what came after the line. */
  session?: (r: SessionRequest, socket: tls.TLSSocket, caller: string, rest: Buffer) => void;
  log: Logger;
}

/** The server side of a node connection: TLS 1.3 with this node's certificate, and a peer certificate the platform's CA gave a node. */
export function nodeTlsOptions(t: NodeTls): tls.SecureContextOptions & { minVersion: 'TLSv1.3' } {
  return { key: t.key, cert: t.cert, ca: t.ca, minVersion: 'TLSv1.3' };
}

/** Whether a verified peer certificate is a node's (not a device's or the center's: the CA issues those too). */
export const isNodeCertificate = (c: tls.PeerCertificate | undefined): boolean => !!c && c.subject?.OU === 'node' && typeof c.subject.CN === 'string' && c.subject.CN.length > 0;

/**
 * The node's endpoint gateway: how other nodes' endpoints reach the
 * instances of this one. Mutual TLS with node certificates from the
 * platform's CA (a device's certificate, from the same CA, is refused) of a
 * node the center's directory still lists (a deleted node's is refused), then
 * one request line naming an instance of this node and a port its Service
 * exposes; the gateway connects to that instance on loopback, answers
 * `OK\n` (or `ERR reason\n` and closes) and then relays bytes both ways.
 * Or a session request line (agent/sessions): the conversation is then the
 * session handler's.
 * It reaches nothing else: not another port of the instance, not the
 * agent, not an instance whose Service exposes no endpoint.
 */
export class EndpointGateway {
  private constructor(
    private readonly server: tls.Server,
    private readonly open: Set<net.Socket>,
    /** Where other nodes dial it (announced in hello). */
    readonly address: HostPort,
  ) {}

  static async start(o: GatewayOptions): Promise<EndpointGateway> {
    const server = tls.createServer({ ...nodeTlsOptions(o.tls), requestCert: true, rejectUnauthorized: true, allowHalfOpen: true, handshakeTimeout: HANDSHAKE_MS }, (socket) => serve(socket, o));
    server.maxConnections = MAX_CONNECTIONS;
    const open = tracked(server);
    server.on('tlsClientError', (err) => o.log.debug({ err: err.message }, 'endpoint gateway: handshake refused'));
    const at = parseHostPort(o.listen)!;
    const port = await listen(server, at.host, at.port);
    // Once listening, a server error (an accept that fails: out of descriptors) is logged; the gateway goes on.
    server.on('error', (err) => o.log.warn({ err }, 'endpoint gateway: server error'));
    const advertise = o.advertise ? parseHostPort(o.advertise)! : { host: at.host, port };
    if (!o.advertise && isWildcard(at.host)) o.log.warn({ listen: o.listen }, 'the endpoint gateway listens on every interface but no --gateway-advertise is set; other nodes cannot dial a wildcard address');
    o.log.info({ event: 'gateway', listen: formatHostPort({ host: at.host, port }), advertise: formatHostPort(advertise) }, 'endpoint gateway listening');
    return new EndpointGateway(server, open, advertise);
  }

  /** A renewed certificate: the next handshakes use it. */
  setTls(t: NodeTls): void {
    this.server.setSecureContext(nodeTlsOptions(t));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      // Relayed connections end with the gateway: their callers fail over.
      for (const s of this.open) s.destroy();
    });
  }
}

function serve(socket: tls.TLSSocket, o: GatewayOptions): void {
  socket.setNoDelay(true);
  const peer = socket.getPeerCertificate();
  const refuse = (why: string) => {
    socket.end(`ERR ${why}\n`);
    socket.destroySoon();
  };
  let upstream: net.Socket | undefined;
  let head = Buffer.alloc(0);
  const timer = setTimeout(() => refuse('no request line'), REQUEST_TIMEOUT_MS);
  socket.on('error', () => socket.destroy());
  // The caller gone before its instance accepted: the attempt ends with it.
  socket.on('close', () => {
    clearTimeout(timer);
    if (upstream?.connecting) upstream.destroy();
  });
  if (!isNodeCertificate(peer)) {
    clearTimeout(timer);
    return refuse('only nodes may use the endpoint gateway');
  }
  const caller = String(peer.subject.CN);
  if (!o.isNode(caller)) {
    clearTimeout(timer);
    return refuse(`${caller} is not a node of the platform (deleted, or not yet known here)`);
  }
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const nl = head.indexOf(10);
    if (nl < 0 ? head.length > GATEWAY_REQUEST_MAX : nl > GATEWAY_REQUEST_MAX) {
      clearTimeout(timer);
      socket.off('data', onData);
      return refuse(`the request line is longer than ${GATEWAY_REQUEST_MAX} bytes`);
    }
    if (nl < 0) return;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.pause();
    const rest = head.subarray(nl + 1);
    let parsed: GatewayRequest | SessionRequest;
    try {
      parsed = parseRequest(head.subarray(0, nl).toString('utf8'));
    } catch (e) {
      return refuse((e as Error).message);
    }
    if ('session' in parsed) return o.session ? o.session(parsed, socket, caller, rest) : refuse('this node keeps no sessions');
    const req = parsed;
    const port = o.resolve(req);
    if (!port) return refuse(`${req.project}/${req.instance} does not serve port "${req.port}" of an endpoint here`);
    const up = (upstream = net.connect({ host: '127.0.0.1', port, noDelay: true, allowHalfOpen: true }));
    const connectTimer = setTimeout(() => up.destroy(new Error('timed out')), LOCAL_CONNECT_MS);
    const failed = (err: Error) => {
      clearTimeout(connectTimer);
      refuse(`${req.project}/${req.instance}: ${err.message}`);
    };
    up.once('error', failed);
    up.once('connect', () => {
      clearTimeout(connectTimer);
      up.off('error', failed);
      socket.write('OK\n');
      if (rest.length) up.write(rest);
      relay(socket, up);
    });
  };
  socket.on('data', onData);
}

function parseRequest(line: string): GatewayRequest | SessionRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new Error('the request line is not JSON');
  }
  if (v && typeof v === 'object' && 'session' in v) {
    const s = sessionRequestSchema.safeParse(v);
    if (!s.success) throw new Error(`the session request needs session (status, pull or expect), project, service and client: ${s.error.issues[0]!.message}`);
    return s.data;
  }
  const r = v as Partial<GatewayRequest> | null;
  const ok = (x: unknown) => nameSchema.safeParse(x).success;
  if (!r || !ok(r.project) || !ok(r.instance) || !ok(r.port)) throw new Error('the request line needs project, instance and port, each a name');
  return { project: r.project!, instance: r.instance!, port: r.port! };
}

/** Listens and resolves to the port bound (the one asked, or the one given for 0); rejects with the listen error. */
export function listen(server: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/** The server's open connections (plain or TLS), so that closing it can end them. */
export function tracked(server: net.Server): Set<net.Socket> {
  const open = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    open.add(s);
    s.once('close', () => open.delete(s));
  });
  return open;
}

/**
 * Bytes both ways until either side ends; an error on one side ends the
 * other. Each chunk is written on as it arrives, the reader paused while the
 * writer's buffer is full (what pipe() does, with fewer events per chunk).
 * A side that ends its writing (half-close) ends the other's, which may
 * still answer: every socket of a relay is opened with allowHalfOpen.
 */
export function relay(a: net.Socket, b: net.Socket): void {
  if (a.destroyed || b.destroyed) {
    a.destroy();
    b.destroy();
    return;
  }
  forward(a, b);
  forward(b, a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', end);
  b.on('error', end);
  a.once('close', () => closeSoon(b));
  b.once('close', () => closeSoon(a));
  // Either may have been paused until now (the client until an instance accepted, the gateway's socket while its answer was read).
  a.resume();
  b.resume();
}

/** Ends a socket once what was written to it is sent, and at the latest after CLOSE_GRACE_MS (a peer that stops reading must not hold it). */
function closeSoon(s: net.Socket): void {
  if (s.destroyed) return;
  s.destroySoon();
  setTimeout(() => s.destroy(), CLOSE_GRACE_MS).unref();
}

function forward(from: net.Socket, to: net.Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.once('end', () => to.end());
}
