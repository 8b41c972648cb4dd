import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { Logger } from 'pino';
import type { GeoPoint } from '../../core/index.ts';
import type { LocalState } from '../local-state.ts';
import type { NodeTls } from '../node-certificate.ts';
import type { EndpointTable } from '../endpoints/endpoint-table.ts';
import { listen } from '../endpoints/endpoint-gateway.ts';
import { LineLink, type LinkSocket } from './line-link.ts';
import { ACQUIRE_MS, ASK_MS, NodeDialer, serveSession, type MigrationDeps } from './migration.ts';
import { nextSite, TRACKED_MAX, Trajectories } from './predictor.ts';
import { sessionApi, type SessionCaller } from './session-api.ts';
import { SessionMover } from './session-mover.ts';
import type { SessionRequest } from './session-request.ts';
import { sessionId, SessionStore, type SessionKey } from './session-store.ts';

/** A node told to expect a client is told again after this, while the prediction holds (its copy may have ended). */
const EXPECT_AGAIN_MS = 60_000;

/** How often sessions unused past their Service's idleTimeout are looked for. */
const EXPIRE_EVERY_MS = 60_000;

/** How often copies in doubt (a hand-over to this node whose end it did not hear) ask their sources. */
const SETTLE_EVERY_MS = 1000;

/** Local state's key of the secret instances' session tokens are made with (kept: a restart does not change them). */
const SECRET_KEY = 'session-secret';

export interface SessionsOptions {
  state: LocalState;
  node: string;
  table: EndpointTable;
  tls: () => NodeTls;
  /** A running instance's Service, document limit and lookahead, when its Service has continuity. */
  continuity: (project: string, instance: string) => Omit<SessionCaller, 'project'> | undefined;
  /** The Services with continuity running here, and how long their sessions may stay unused. */
  services: () => { project: string; service: string; idleTimeoutMs: number }[];
  /** A conversation with another node's session handler through the center, when its gateway cannot be reached. */
  tunnel?: (node: string, req: SessionRequest) => LinkSocket;
  log: Logger;
}

/** Hand-overs this node took part in since it started, and the predictions it acted on. */
export interface SessionFigures {
  handedIn: number;
  /** Of those handed in, copied ahead of the client. */
  handedInAhead: number;
  handedOut: number;
  bytesIn: number;
  bytesOut: number;
  predicted: number;
  /** Requests that waited for a session to be brought here, for how long in all, and those that gave up (503). */
  acquires: number;
  acquireMs: number;
  unavailable: number;
  /** Copies held ahead of their clients now. */
  readonly copying: number;
}

/**
 * Continuity for moving clients on this node (docs/link.md "Continuity"):
 * the session store, the session-state API its continuity instances reach
 * on loopback, the hand-overs with other nodes through the gateways, and
 * the predictions that start them ahead of the client.
 */
export class Sessions {
  readonly figures: SessionFigures;
  private readonly store: SessionStore;
  private readonly deps: MigrationDeps;
  private readonly dialer: NodeDialer;
  private readonly mover: SessionMover;
  private readonly trajectories = new Trajectories();
  /** Per session, the node last told to expect its client, and until when (told again only when the prediction changes or that passes). */
  private readonly expected = new Map<string, { node: string; until: number }>();
  private server: http.Server | undefined;
  private port = 0;
  private readonly settling: NodeJS.Timeout;
  private readonly expiring: NodeJS.Timeout;
  private settlingNow = false;

  private constructor(
    private readonly o: SessionsOptions,
    private readonly secret: Buffer,
  ) {
    this.store = new SessionStore(o.state, o.node);
    this.deps = { store: this.store, table: o.table, tls: o.tls, log: o.log, onMoved: (k, from, to, bytes, ahead) => this.moved(k, from, to, bytes, ahead) };
    this.dialer = new NodeDialer(o.tls, o.tunnel, o.log);
    this.mover = new SessionMover(this.deps, this.dialer);
    const mover = this.mover;
    this.figures = {
      handedIn: 0, handedInAhead: 0, handedOut: 0, bytesIn: 0, bytesOut: 0, predicted: 0, acquires: 0, acquireMs: 0, unavailable: 0,
      get copying() {
        return mover.copying;
      },
    };
    // A copy in doubt serves nobody and holds back every other node's lookup: settled without waiting for a request here.
    this.settling = setInterval(() => void this.settle(), SETTLE_EVERY_MS).unref();
    this.expiring = setInterval(() => this.expire(), EXPIRE_EVERY_MS).unref();
  }

  /** Sessions unused past their Service's idleTimeout end (for the Services with continuity running here). */
  private expire(): void {
    try {
      const now = Date.now();
      for (const s of this.o.services()) {
        const gone = this.store.expire(s.project, s.service, now - s.idleTimeoutMs);
        if (gone) this.o.log.info({ event: 'session', project: s.project, service: s.service, sessions: gone }, 'idle sessions ended');
      }
    } catch (err) {
      this.o.log.warn({ err, event: 'session' }, 'ending idle sessions failed');
    }
  }

  private async settle(): Promise<void> {
    if (this.settlingNow) return;
    this.settlingNow = true;
    try {
      for (const k of this.store.inDoubt()) await this.store.exclusive(k, () => this.mover.settle(k), ASK_MS).catch((err: unknown) => this.o.log.debug({ err, event: 'session', session: k }, 'a copy in doubt could not be settled now'));
    } catch (err) {
      this.o.log.warn({ err, event: 'session' }, 'settling copies in doubt failed');
    } finally {
      this.settlingNow = false;
    }
  }

  static async start(o: SessionsOptions): Promise<Sessions> {
    let secretHex = await o.state.meta(SECRET_KEY);
    if (!secretHex || !/^[0-9a-f]{64}$/.test(secretHex)) {
      secretHex = randomBytes(32).toString('hex');
      await o.state.setMeta(SECRET_KEY, secretHex);
    }
    const s = new Sessions(o, Buffer.from(secretHex, 'hex'));
    await s.listen();
    return s;
  }

  private async listen(): Promise<void> {
    const { store, mover } = this;
    const here = async (k: SessionKey) => {
      if (store.record(k)?.state === 'owned') return;
      const f = this.figures;
      const t = performance.now();
      try {
        await mover.acquire(k);
      } catch (e) {
        f.unavailable++;
        throw e;
      } finally {
        f.acquires++;
        f.acquireMs += performance.now() - t;
      }
    };
    const server = (this.server = sessionApi({
      caller: (token) => callerOf(this.secret, token, this.o.continuity),
      onError: (err) => this.o.log.error({ err, event: 'session' }, 'session API: request failed'),
      read: (k) =>
        store.exclusive(
          k,
          async () => {
            await here(k);
            const r = store.owned(k);
            return { version: r.version, data: r.data };
          },
          ACQUIRE_MS,
        ),
      write: (k, p, who) =>
        store.exclusive(
          k,
          async () => {
            await here(k);
            const out = p.set || p.delete ? store.write(k, p, who.maxSessionBytes) : { version: store.owned(k).version };
            if (p.location) this.located(k, p.location, who.lookaheadMs);
            return out;
          },
          ACQUIRE_MS,
        ),
      end: (k) =>
        store.exclusive(
          k,
          async () => {
            await here(k);
            store.end(k);
            this.trajectories.forget(sessionId(k));
            this.expected.delete(sessionId(k));
          },
          ACQUIRE_MS,
        ),
    }));
    this.port = await listen(server, '127.0.0.1', 0);
    server.on('error', (err) => this.o.log.warn({ err }, 'session API: server error'));
    this.o.log.info({ event: 'sessions', api: `127.0.0.1:${this.port}` }, 'session-state API listening');
  }

  /** What an instance of a Service with continuity finds in its environment. */
  env(project: string, instance: string): Record<string, string> {
    return { GEDGE_SESSION_URL: `http://127.0.0.1:${this.port}/v1/sessions`, GEDGE_SESSION_TOKEN: tokenOf(this.secret, project, instance) };
  }

  /** Another node's session request, through this node's gateway (the caller's certificate checked there) or a tunnel through the center. */
  serve(req: SessionRequest, socket: LinkSocket, caller: string, rest: Buffer): void {
    const link = new LineLink(socket, 4096, rest);
    serveSession(this.deps, req, link, caller, (k, owner) => this.mover.prefetch(k, owner)).catch((err: unknown) => {
      this.o.log.warn({ err, session: req }, 'session request failed');
      link.close();
    });
  }

  /**
   * Where the client of a session owned here is: when its path leads to
   * another site serving the Service within the lookahead, a node there is
   * told to expect it (it starts copying the session now).
   */
  private located(k: SessionKey, at: GeoPoint, lookaheadMs: number): void {
    const id = sessionId(k);
    const fixes = this.trajectories.add(id, { ...at, at: Date.now() });
    const backends = (this.o.table.get(k.project, k.service)?.backends ?? []).filter((b) => b.ready && b.site && b.location);
    const sites = [...new Map(backends.map((b) => [b.site!, { site: b.site!, location: b.location! }])).values()];
    const site = nextSite(fixes, sites, lookaheadMs);
    const target = site ? backends.filter((b) => b.site === site && b.node !== this.o.node && b.gateway).sort((a, b) => a.node.localeCompare(b.node))[0] : undefined;
    const told = this.expected.get(id);
    if (!target || (told?.node === target.node && told.until > Date.now())) return;
    this.expected.delete(id);
    this.expected.set(id, { node: target.node, until: Date.now() + EXPECT_AGAIN_MS });
    if (this.expected.size > TRACKED_MAX) this.expected.delete(this.expected.keys().next().value!);
    this.figures.predicted++;
    this.o.log.info({ event: 'session', session: k, site, node: target.node }, 'client predicted at another site: its session is copied there ahead');
    this.dialer.expect(target.gateway!, target.node, k).catch((err: Error) => {
      this.expected.delete(id);
      this.o.log.debug({ event: 'session', session: k, node: target.node, err: err.message }, 'could not tell the next site to expect a client');
    });
  }

  private moved(k: SessionKey, from: string, to: string, bytes: number, ahead = false): void {
    const f = this.figures;
    if (to === this.o.node) {
      f.handedIn++;
      if (ahead) f.handedInAhead++;
      f.bytesIn += bytes;
    } else {
      f.handedOut++;
      f.bytesOut += bytes;
      this.expected.delete(sessionId(k));
    }
    this.o.log.info({ event: 'session', session: k, from, to, bytes, ...(to === this.o.node ? { ahead } : {}) }, 'session handed over');
  }

  async stop(): Promise<void> {
    clearInterval(this.settling);
    clearInterval(this.expiring);
    this.mover.close();
    this.server?.closeAllConnections();
    await new Promise((r) => (this.server ? this.server.close(r) : r(undefined)));
  }
}

const macOf = (secret: Buffer, project: string, instance: string) => createHmac('sha256', secret).update(`${project}/${instance}`).digest('base64url');
const tokenOf = (secret: Buffer, project: string, instance: string) => `${project}.${instance}.${macOf(secret, project, instance)}`;

/** The Service behind a token: that of a continuity instance running here whose token it is. */
function callerOf(secret: Buffer, token: string, continuity: SessionsOptions['continuity']): SessionCaller | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [project, instance, mac] = parts as [string, string, string];
  const want = Buffer.from(macOf(secret, project, instance));
  const got = Buffer.from(mac);
  if (got.length !== want.length || !timingSafeEqual(got, want)) return undefined;
  const c = continuity(project, instance);
  return c ? { project, ...c } : undefined;
}
