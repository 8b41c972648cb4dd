import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type tls from 'node:tls';
import type { Logger } from 'pino';
import type { LocalState } from '../local-state.ts';
import type { NodeTls } from '../node-certificate.ts';
import type { EndpointTable } from '../endpoints/endpoint-table.ts';
import { listen } from '../endpoints/endpoint-gateway.ts';
import { LineLink } from './line-link.ts';
import { serveSession, SessionMover, FREEZE_MS, type MigrationDeps } from './migration.ts';
import { sessionApi } from './session-api.ts';
import type { SessionRequest } from './session-request.ts';
import { SessionStore, type SessionKey } from './session-store.ts';

export { FREEZE_MS };

/** Local state's key of the secret instances' session tokens are made with (kept: a restart does not change them). */
const SECRET_KEY = 'session-secret';

export interface SessionsOptions {
  state: LocalState;
  node: string;
  table: EndpointTable;
  tls: () => NodeTls;
  /** A running instance's Service and document limit, when its Service has continuity. */
  continuity: (project: string, instance: string) => { service: string; maxSessionBytes: number } | undefined;
  log: Logger;
}

/** Hand-overs this node took part in since it started. */
export interface SessionFigures {
  handedIn: number;
  handedOut: number;
  bytesIn: number;
  bytesOut: number;
}

/**
 * Continuity for moving clients on this node (docs/link.md "Continuity"):
 * the session store, the session-state API its continuity instances reach
 * on loopback, and the hand-overs with other nodes through the gateways.
 */
export class Sessions {
  private constructor(
    private readonly o: SessionsOptions,
    private readonly deps: MigrationDeps,
    private readonly secret: Buffer,
    private readonly server: http.Server,
    private readonly port: number,
    readonly figures: SessionFigures,
  ) {}

  static async start(o: SessionsOptions): Promise<Sessions> {
    let secretHex = await o.state.meta(SECRET_KEY);
    if (!secretHex || !/^[0-9a-f]{64}$/.test(secretHex)) {
      secretHex = randomBytes(32).toString('hex');
      await o.state.setMeta(SECRET_KEY, secretHex);
    }
    const secret = Buffer.from(secretHex, 'hex');
    const store = new SessionStore(o.state, o.node);
    const figures: SessionFigures = { handedIn: 0, handedOut: 0, bytesIn: 0, bytesOut: 0 };
    const onMoved = (k: SessionKey, from: string, to: string, bytes: number) => {
      if (to === o.node) {
        figures.handedIn++;
        figures.bytesIn += bytes;
      } else {
        figures.handedOut++;
        figures.bytesOut += bytes;
      }
      o.log.info({ event: 'session', session: k, from, to, bytes }, 'session handed over');
    };
    const deps: MigrationDeps = { store, table: o.table, tls: o.tls, log: o.log, onMoved };
    const mover = new SessionMover(deps);
    const here = async (k: SessionKey) => {
      if (store.record(k)?.state !== 'owned') await mover.acquire(k);
    };
    const server = sessionApi({
      caller: (token) => callerOf(secret, token, o.continuity),
      read: (k) =>
        store.exclusive(k, async () => {
          await here(k);
          const r = store.owned(k);
          return { version: r.version, data: r.data };
        }),
      write: (k, p, max) =>
        store.exclusive(k, async () => {
          await here(k);
          return store.write(k, p, max);
        }),
      end: (k) =>
        store.exclusive(k, async () => {
          await here(k);
          store.end(k);
        }),
    });
    const port = await listen(server, '127.0.0.1', 0);
    server.on('error', (err) => o.log.warn({ err }, 'session API: server error'));
    o.log.info({ event: 'sessions', api: `127.0.0.1:${port}` }, 'session-state API listening');
    return new Sessions(o, deps, secret, server, port, figures);
  }

  /** What an instance of a Service with continuity finds in its environment. */
  env(project: string, instance: string): Record<string, string> {
    return { GEDGE_SESSION_URL: `http://127.0.0.1:${this.port}/v1/sessions`, GEDGE_SESSION_TOKEN: tokenOf(this.secret, project, instance) };
  }

  /** Another node's session request, through this node's gateway (the caller's certificate checked there). */
  serve(req: SessionRequest, socket: tls.TLSSocket, caller: string, rest: Buffer): void {
    const link = new LineLink(socket, 4096, rest);
    serveSession(this.deps, req, link, caller).catch((err: unknown) => {
      this.o.log.warn({ err, session: req }, 'session request failed');
      link.close();
    });
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

const macOf = (secret: Buffer, project: string, instance: string) => createHmac('sha256', secret).update(`${project}/${instance}`).digest('base64url');
const tokenOf = (secret: Buffer, project: string, instance: string) => `${project}.${instance}.${macOf(secret, project, instance)}`;

/** The Service behind a token: that of a continuity instance running here whose token it is. */
function callerOf(secret: Buffer, token: string, continuity: SessionsOptions['continuity']): { project: string; service: string; maxSessionBytes: number } | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [project, instance, mac] = parts as [string, string, string];
  const want = Buffer.from(macOf(secret, project, instance));
  const got = Buffer.from(mac);
  if (got.length !== want.length || !timingSafeEqual(got, want)) return undefined;
  const c = continuity(project, instance);
  return c ? { project, ...c } : undefined;
}
