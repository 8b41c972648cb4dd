import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import FindMyWay from 'find-my-way';
import type { Logger } from 'pino';
import { BadRequestError, GedgeError, PayloadTooLargeError, redactBody, type ErrorDetail } from '../../core/index.ts';
import type { TokenHolds } from '../auth/token-holds.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import type { Caller, CallerKind } from '../auth/access.ts';
import type { Metrics } from '../metrics.ts';
import { certificateHold, type Presented } from '../auth/node-certs.ts';
import { sessionAuthorization } from './session-routes.ts';

export const BODY_LIMIT = 1024 * 1024;

/** Every route an app serves, as method and URL pattern (the OpenAPI document must describe each), but for Fastify's HEAD of each GET. */
const served = new WeakMap<FastifyInstance, { method: string; url: string }[]>();
export const servedRoutes = (app: FastifyInstance): readonly { method: string; url: string }[] => served.get(app) ?? [];

/** On every answer. Styles may be inline (CodeMirror and uPlot set them); scripts come only from this origin. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

declare module 'fastify' {
  interface FastifyRequest {
    token?: Caller;
    /** Node requests: the certificate the node presented, checked. */
    certificate?: Presented;
  }
  interface FastifyContextConfig {
    /** Token kinds allowed on the route; every route needs one (no anonymous access). */
    auth?: CallerKind[];
    /** The dashboard's static files only: code, not data (the sign-in page loads before there is a token). */
    public?: boolean;
    /** Node routes: a certificate past its end is accepted within the renewal grace (renewal itself). */
    expiredCertificate?: boolean;
  }
}

/**
 * The Fastify app with what every route shares: bearer auth, manifest body
 * parsing (JSON or YAML, at most 1 MiB) and the mapping of errors to
 * `{code, message, details}`. Routes live in their own files.
 */
export function createServer(
  logger: Logger,
  metrics: Metrics,
  access: { holds: TokenHolds; auth: Authenticator; caPem: string },
  tls: { keyPem: string; certPem: string },
): FastifyInstance {
  const { holds, auth } = access;
  // HTTPS always. A client certificate is asked for (nodes present theirs) but not required: people and tools use bearer tokens.
  const https = { key: tls.keyPem, cert: tls.certPem, ca: [access.caPem], requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' as const };
  // Per-request lines would drown the log; the HTTP layer logs only warnings and errors.
  const app = Fastify({ https, loggerInstance: logger.child({ module: 'http' }, { level: 'warn' }) as FastifyBaseLogger, bodyLimit: BODY_LIMIT, forceCloseConnections: true }) as unknown as FastifyInstance;

  app.server.on('connection', (socket) => socket.setNoDelay(true));

  // Bodies are kept as text and parsed by the routes, so that YAML and JSON
  // manifests share one parser that reports every problem with its line.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.config.public === true) return;
    const allowed = req.routeOptions.config.auth ?? ['admin'];
    // A tool's bearer header, or the dashboard's session cookie (session-routes.ts).
    const authorization = req.headers.authorization ?? sessionAuthorization(req);
    req.token = await auth.token(req.ip, authorization, allowed);
    // A stream (watch, logs -f) lives as long as its token: revoking or expiring it cuts the connection.
    reply.raw.once('close', holds.hold(req.token, () => req.raw.socket?.destroy()));
    if (req.token.kind === 'node') {
      // A node is its certificate as well as its credential: both must name the same node.
      const renewing = req.routeOptions.config.expiredCertificate === true;
      const cert = await auth.certificate(req.raw.socket, req.token.subject ?? '', renewing ? 'grace' : 'current');
      req.certificate = cert;
      // Revoking the certificate ends what is open with it (renewal is one short request with a possibly expired one).
      if (!renewing) reply.raw.once('close', holds.hold(certificateHold(cert), () => req.raw.socket?.destroy()));
    }
  });

  // The dashboard is served from here: no framing, no sniffing, nothing loaded or sent anywhere but this origin.
  app.addHook('onSend', async (_req, reply, payload) => {
    void reply.headers(SECURITY_HEADERS);
    return payload;
  });

  // The one place objects leave over HTTP: no stored secret in any JSON body, whichever route sent it.
  app.addHook('preSerialization', async (_req, _reply, payload) => redactBody(payload));

  app.addHook('onResponse', async (req, reply) => {
    metrics.httpRequests.inc({ method: req.method, route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) });
  });

  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const e = toGedgeError(err);
    if (e.status >= 500) req.log.error({ err }, 'request failed');
    else req.log.debug({ code: e.code, msg: e.message }, 'request rejected');
    void reply.status(e.status).send(e.toJSON());
  });

  // 405 with Allow for a path that has routes, but not for this method (as HTTP says); 404 for a path that has none.
  const paths = FindMyWay<FindMyWay.HTTPVersion.V1>();
  const methods = new Map<string, Set<string>>();
  const routes: { method: string; url: string }[] = [];
  served.set(app, routes);
  app.addHook('onRoute', (r) => {
    let known = methods.get(r.url);
    // Fastify answers HEAD on every GET route as that GET without its body (RFC 9110 9.3.2), adding that
    // HEAD right after the GET: not a route of its own to describe. A HEAD a route file registers (before
    // its GET, or Fastify refuses it) is one, and is listed.
    for (const m of [r.method].flat()) if (m !== 'HEAD' || !known?.has('GET')) routes.push({ method: m, url: r.url });
    if (!known) {
      methods.set(r.url, (known = new Set()));
      paths.on('GET', r.url, () => undefined, { url: r.url });
    }
    for (const m of [r.method].flat()) known.add(m);
  });
  app.setNotFoundHandler((req, reply) => {
    const url = (paths.find('GET', req.url.split('?')[0]!)?.store as { url: string } | undefined)?.url;
    const allowed = url === undefined ? undefined : [...methods.get(url)!].sort();
    if (allowed) {
      void reply
        .status(405)
        .header('allow', allowed.join(', '))
        .send({ code: 'MethodNotAllowed', message: `${req.method} is not allowed on ${req.url.split('?')[0]}`, details: [{ path: 'method', message: `one of ${allowed.join(', ')}` }] });
      return;
    }
    void reply.status(404).send({ code: 'NotFound', message: `no route ${req.method} ${req.url}`, details: [] });
  });
  return app;
}

function toGedgeError(err: unknown): GedgeError {
  if (err instanceof GedgeError) return err;
  const fe = err as { statusCode?: number; code?: string; message?: string; validation?: unknown };
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new PayloadTooLargeError(`request body is over ${BODY_LIMIT} bytes`, { details: [{ path: 'body', message: `limit is ${BODY_LIMIT} bytes` }] });
  }
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    const details: ErrorDetail[] = [{ path: 'request', message: fe.message ?? 'bad request' }];
    return new BadRequestError(fe.message ?? 'bad request', { details });
  }
  return new GedgeError('internal error', { cause: err });
}
