import net from 'node:net';
import type { Logger } from 'pino';
import type { HostPort } from '../../core/host-port.ts';
import { nameKey } from '../../core/index.ts';
import type { NodeTls } from '../node-certificate.ts';
import { GATEWAY_REQUEST_MAX, listen, MAX_CONNECTIONS, relay, tracked, type GatewayRequest } from './endpoint-gateway.ts';
import { GatewayDialer } from './gateway-dialer.ts';
import type { Candidate, EndpointTable, Vantage } from './endpoint-table.ts';
import { OVERFLOW_TICK_MS, OverflowGate, type OverflowFigures, type OverflowSwitch, type Turn } from './overflow.ts';

/** How long a connection attempt to one instance may take before the next is tried: on this node, through a gateway. */
const LOCAL_CONNECT_MS = 500;
const REMOTE_CONNECT_MS = 1000;
/** An instance that failed a connection is tried last for this long. */
const FAILED_HOLD_MS = 5000;

export interface ProxyOptions {
  /** Where the endpoints listen (the resolver's host). */
  host: string;
  table: EndpointTable;
  vantage: () => Omit<Vantage, 'failedUntil'>;
  tls: () => NodeTls;
  /** The ports the endpoints listened on before (kept across restarts, so clients keep their address), and saving them. */
  ports: { load: () => Promise<Record<string, number>>; save: (ports: Record<string, number>) => Promise<void> };
  /** A Service's overflow changed state at this site (an event for the center). */
  onOverflow?: (e: OverflowSwitch & { project: string; service: string; port: string; upper: string[] }) => void;
  log: Logger;
}

export interface EndpointListener {
  project: string;
  service: string;
  port: string;
  address: HostPort;
  /** Connections relayed; of those, the ones a later instance took (the first tried failed); and refused (no instance answered). */
  connections: number;
  failovers: number;
  refused: number;
  /** Its Service's overflow to upper tiers at this site, when it declares one. */
  overflow?: OverflowFigures;
}

interface Listener extends Omit<EndpointListener, 'overflow'> {
  server: net.Server;
  open: Set<net.Socket>;
  /** The Service's overflow gate, and the spec it was made from (a new spec makes a new gate). */
  gate?: { spec: string; gate: OverflowGate };
  /** Connections overflowed: they take the nearest upper site's instances in turn. */
  overflowed: number;
}

/**
 * The endpoints this agent serves: for each exposed port of each Service in
 * the directory, a TCP listener; each connection goes to the first instance
 * of the table's order that accepts it (on this node straight to its port,
 * on another node through that node's gateway), trying the next at once on
 * a refusal or after a short timeout, so a dead instance costs a new
 * connection nothing but the attempt. The client's first bytes wait
 * (paused) until an instance has accepted.
 */
export class EndpointProxies {
  private readonly listeners = new Map<string, Listener>();
  private readonly failed = new Map<string, number>();
  private readonly dialer: GatewayDialer;
  private syncing: Promise<void> = Promise.resolve();
  private closed = false;
  /** Ticks the overflow gates while any listener has one. */
  private ticker: NodeJS.Timeout | undefined;

  constructor(private readonly o: ProxyOptions) {
    this.dialer = new GatewayDialer(o.tls);
  }

  /** Opens listeners for new endpoint ports and closes those of ports gone (serialized: calls queue). */
  sync(): Promise<void> {
    this.syncing = this.syncing.then(() => this.reconcile()).catch((err: unknown) => this.o.log.error({ err }, 'endpoints: sync failed'));
    return this.syncing;
  }

  list(): EndpointListener[] {
    return [...this.listeners.values()].map(({ server: _, open: __, gate, overflowed: ___, ...l }) => ({ ...l, ...(gate ? { overflow: gate.gate.figures(this.split(l).edge.length) } : {}) }));
  }

  failedUntil(project: string, instance: string): number {
    return this.failed.get(nameKey(project, instance)) ?? 0;
  }

  /** The order connections to that port try its instances now. */
  candidates(project: string, service: string, port: string): Candidate[] {
    return this.o.table.candidates(project, service, port, { ...this.o.vantage(), failedUntil: (p, i) => this.failedUntil(p, i) });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.ticker);
    await this.syncing;
    await Promise.all([...this.listeners.values()].map((l) => closeServer(l)));
    this.listeners.clear();
  }

  private async reconcile(): Promise<void> {
    if (this.closed) return;
    // Sessions of gateways no longer in the directory (a node gone, or its gateway moved) are dropped.
    const gateways = new Set(this.o.table.all().flatMap((s) => s.backends.flatMap((b) => (b.gateway ? [`${b.gateway.host}:${b.gateway.port}`] : []))));
    this.dialer.keepOnly(gateways);
    const wanted = new Map<string, { project: string; service: string; port: string }>();
    for (const s of this.o.table.all()) for (const port of s.ports) wanted.set(`${s.project}/${s.service}/${port}`, { project: s.project, service: s.service, port });
    for (const [key, l] of this.listeners) {
      if (wanted.has(key)) continue;
      this.listeners.delete(key);
      this.retireGate(l, 'the endpoint is no longer served here');
      await closeServer(l);
    }
    const saved = await this.o.ports.load();
    let changed = false;
    for (const [key, w] of wanted) {
      if (this.listeners.has(key)) continue;
      const server = net.createServer({ noDelay: true, pauseOnConnect: true, allowHalfOpen: true }, (c) => this.accept(key, c));
      server.maxConnections = MAX_CONNECTIONS;
      const open = tracked(server);
      // The port it had, when it is still free; another one (the resolver says which) when not.
      let port: number;
      try {
        port = await listen(server, this.o.host, saved[key] ?? 0).catch(() => listen(server, this.o.host, 0));
      } catch (err) {
        this.o.log.error({ err, endpoint: key }, 'endpoint: cannot listen; the next directory change tries again');
        continue;
      }
      server.on('error', (err) => this.o.log.warn({ err, endpoint: key }, 'endpoint: server error'));
      if (saved[key] !== port) {
        saved[key] = port;
        changed = true;
      }
      this.listeners.set(key, { ...w, server, open, address: { host: this.o.host, port }, connections: 0, failovers: 0, refused: 0, overflowed: 0 });
      this.o.log.info({ event: 'endpoint', endpoint: key, address: `${this.o.host}:${port}` }, 'endpoint listening');
    }
    this.matchGates();
    for (const key of Object.keys(saved)) {
      if (wanted.has(key)) continue;
      delete saved[key];
      changed = true;
    }
    if (changed) await this.o.ports.save(saved);
  }

  /** Each listener's overflow gate as its Service declares now: made, kept, or dropped; the ticker runs while any has one. */
  private matchGates(): void {
    if (this.closed) return;
    for (const l of this.listeners.values()) {
      const spec = this.o.table.get(l.project, l.service)?.overflow;
      const text = spec && JSON.stringify(spec);
      if (text === l.gate?.spec) continue;
      this.retireGate(l, spec ? "the Service's overflow changed: measured again from the edge" : 'the Service no longer overflows');
      l.gate = spec && text ? { spec: text, gate: new OverflowGate(spec, Date.now) } : undefined;
    }
    const any = [...this.listeners.values()].some((l) => l.gate);
    if (any && !this.ticker) this.ticker = setInterval(() => this.tick(), OVERFLOW_TICK_MS).unref();
    if (!any && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  /** A gate given up (its spec changed, or its listener closed): an overflowing state ends, with why. Its connections still report to it, bounded. */
  private retireGate(l: Listener, why: string): void {
    const gone = l.gate?.gate;
    l.gate = undefined;
    if (gone?.figures(0).state !== 'overflowing') return;
    this.o.log.info({ event: 'overflow', endpoint: `${l.project}/${l.service}/${l.port}`, to: 'edge', why }, 'endpoint: back to the edge');
    this.o.onOverflow?.({ to: 'edge', why, project: l.project, service: l.service, port: l.port, upper: [] });
  }

  private tick(): void {
    for (const l of this.listeners.values()) {
      const s = l.gate?.gate.tick();
      if (!s) continue;
      const upper = this.split(l).upper.map((c) => `${c.backend.node}${c.backend.tier ? ` (${c.backend.tier})` : ''}`);
      this.o.log.info({ event: 'overflow', endpoint: `${l.project}/${l.service}/${l.port}`, to: s.to, why: s.why, upper }, s.to === 'overflowing' ? 'endpoint: overflowing to upper tiers' : 'endpoint: back to the edge');
      this.o.onOverflow?.({ ...s, project: l.project, service: l.service, port: l.port, upper });
    }
  }

  /** A port's instances as overflow sees them: at the edge (this node or site), in the tiers that take the overflow, the rest. */
  private split(l: Pick<Listener, 'project' | 'service' | 'port'>, tries = this.candidates(l.project, l.service, l.port)): { edge: Candidate[]; upper: Candidate[] } {
    const tiers: string[] = this.o.table.get(l.project, l.service)?.overflow?.tiers ?? [];
    const edge = tries.filter((c) => c.rank.node || c.rank.site);
    const upper = tries.filter((c) => !c.rank.node && !c.rank.site && !c.rank.failed && c.backend.tier !== undefined && tiers.includes(c.backend.tier));
    return { edge, upper };
  }

  private accept(key: string, client: net.Socket): void {
    const l = this.listeners.get(key);
    if (!l) return void client.destroy();
    client.on('error', () => client.destroy());
    let tries = this.candidates(l.project, l.service, l.port);
    // With overflow declared: a request at the edge is one in flight there; one over the limit goes to the upper tiers first.
    let turn: { gate: OverflowGate; first: Turn } | undefined;
    const gate = l.gate?.gate;
    if (gate) {
      const { edge, upper } = this.split(l, tries);
      const ready = edge.filter((c) => !c.rank.failed).length;
      if (ready && gate.admit(ready, upper.length > 0) === 'overflow') tries = [...spread(upper, l.overflowed++), ...tries.filter((c) => !upper.includes(c))];
      else if (ready) turn = { gate, first: gate.begin() };
    }
    const attempt = (i: number): void => {
      if (client.destroyed) return void turn?.gate.abandoned(turn.first);
      if (i >= tries.length) {
        l.refused++;
        turn?.gate.abandoned(turn.first);
        return void client.destroy();
      }
      const c = tries[i]!;
      const fail = (why: string) => {
        const now = Date.now();
        // Only the last few seconds' failures are kept: instances deleted since leave nothing behind.
        for (const [k, until] of this.failed) if (until <= now) this.failed.delete(k);
        this.failed.set(nameKey(l.project, c.backend.instance), now + FAILED_HOLD_MS);
        this.o.log.debug({ endpoint: key, instance: c.backend.instance, why }, 'endpoint: instance failed, trying the next');
        attempt(i + 1);
      };
      const connected = (up: net.Socket) => {
        this.failed.delete(nameKey(l.project, c.backend.instance));
        l.connections++;
        if (i > 0) l.failovers++;
        relay(client, up);
        if (!turn) return;
        if (c.rank.node || c.rank.site) measureTurns(client, up, turn.gate, turn.first);
        else turn.gate.abandoned(turn.first);
      };
      if (c.local) this.connectLocal(c, connected, fail);
      else this.connectRemote({ project: l.project, instance: c.backend.instance, port: l.port }, c, connected, fail);
    };
    attempt(0);
  }

  private connectLocal(c: Candidate, ok: (s: net.Socket) => void, fail: (why: string) => void): void {
    const up = net.connect({ host: '127.0.0.1', port: c.port, noDelay: true, allowHalfOpen: true });
    const timer = setTimeout(() => up.destroy(new Error('timed out')), LOCAL_CONNECT_MS);
    const failed = (err: Error) => {
      clearTimeout(timer);
      fail(err.message);
    };
    up.once('error', failed);
    up.once('connect', () => {
      clearTimeout(timer);
      up.off('error', failed);
      ok(up);
    });
  }

  /** Through the instance's node's gateway: mutual TLS, the peer's certificate that node's, the request line, then `OK`. */
  private connectRemote(req: GatewayRequest, c: Candidate, ok: (s: net.Socket) => void, fail: (why: string) => void): void {
    const up = this.dialer.connect(c.backend.gateway!, c.backend.node, { allowHalfOpen: true });
    let done = false;
    const finish = (why?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      up.off('data', onData);
      if (why === undefined) return;
      up.off('error', onError);
      // Errors after this one (the socket is being torn down) have nothing more to say.
      up.on('error', () => {});
      up.destroy();
      fail(why);
    };
    const timer = setTimeout(() => finish('timed out'), REMOTE_CONNECT_MS);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const nl = head.indexOf(10);
      if (nl < 0) return head.length > GATEWAY_REQUEST_MAX ? finish('the gateway answered no line') : undefined;
      const line = head.subarray(0, nl).toString('utf8');
      if (line !== 'OK') return finish(line.replace(/^ERR /, ''));
      finish();
      up.pause();
      const rest = head.subarray(nl + 1);
      if (rest.length) up.unshift(rest);
      up.off('error', onError);
      ok(up);
    };
    const onError = (err: Error) => finish(err.message);
    up.once('secureConnect', () => up.write(`${JSON.stringify(req)}\n`));
    up.on('data', onData);
    up.on('error', onError);
    up.on('close', () => finish('the gateway closed the connection'));
  }
}

/**
 * The upper instances in the order an overflowed connection tries them: the
 * nearest site's (as ranked) in turn, the `n`th connection starting at the
 * `n`th, so instances added there (burst) share the overflow; then the rest.
 */
function spread(upper: Candidate[], n: number): Candidate[] {
  const near = upper.filter((c) => c.backend.site === upper[0]!.backend.site);
  const k = n % near.length;
  return [...near.slice(k), ...near.slice(0, k), ...upper.filter((c) => !near.includes(c))];
}

/**
 * The requests of a connection at the edge, for its overflow gate: each turn
 * from the client's bytes (the first from the connection's admission) to the
 * first bytes of the answer; one still waiting when either side closes is
 * abandoned.
 */
function measureTurns(client: net.Socket, up: net.Socket, gate: OverflowGate, first: Turn): void {
  let turn: Turn | undefined = first;
  client.on('data', () => {
    turn ??= gate.begin();
  });
  up.on('data', () => {
    if (!turn) return;
    gate.answered(turn);
    turn = undefined;
  });
  const end = () => {
    if (turn) gate.abandoned(turn);
    turn = undefined;
  };
  client.once('close', end);
  up.once('close', end);
}

/** Stops listening and ends the connections it relays (their clients reconnect, to whatever serves then). */
function closeServer(l: Listener): Promise<void> {
  return new Promise((resolve) => {
    l.server.close(() => resolve());
    for (const s of l.open) s.destroy();
  });
}
