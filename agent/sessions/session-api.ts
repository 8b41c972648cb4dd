import http from 'node:http';
import { z } from 'zod';
import { BadRequestError, GedgeError, geoPointSchema, NotFoundError, PayloadTooLargeError, UnauthorizedError, type GeoPoint } from '../../core/index.ts';
import { clientIdSchema } from './session-request.ts';
import type { SessionKey, SessionPatch } from './session-store.ts';

/** A key of a session document. */
const keySchema = z.string().min(1).max(256);
/** Keys one write touches at most. */
const KEYS_PER_WRITE = 1000;
const patchSchema = z
  .object({
    set: z.record(keySchema, z.unknown()).refine((o) => Object.keys(o).length <= KEYS_PER_WRITE, `at most ${KEYS_PER_WRITE} keys`).optional(),
    delete: z.array(keySchema).max(KEYS_PER_WRITE).optional(),
    ifVersion: z.number().int().min(0).optional(),
    /** Where the client is now: the platform predicts its next site from these and copies its session there ahead. */
    location: geoPointSchema.optional(),
  })
  .strict();

/** The instance a token names: its Service and what the Service's continuity allows. */
export interface SessionCaller {
  project: string;
  service: string;
  maxSessionBytes: number;
  lookaheadMs: number;
}
export type SessionWrite = SessionPatch & { location?: GeoPoint };

/** What the API needs of the node: who a token is, and the sessions. */
export interface SessionApiDeps {
  /** The Service and its document limit for a bearer token of a continuity instance running here; undefined: no such instance. */
  caller: (token: string) => SessionCaller | undefined;
  read: (k: SessionKey) => Promise<{ version: number; data: Record<string, unknown> }>;
  write: (k: SessionKey, p: SessionWrite, who: SessionCaller) => Promise<{ version: number }>;
  end: (k: SessionKey) => Promise<void>;
  /** What no refusal explains (answered 500): logged, never shown to the instance. */
  onError: (err: unknown) => void;
}

/**
 * The session-state API an instance of a Service with continuity reaches on
 * loopback (`GEDGE_SESSION_URL`, with `GEDGE_SESSION_TOKEN` as its bearer
 * token): one JSON document per client, which the platform moves to the
 * node that serves the client next.
 *
 * - `GET /v1/sessions/{client}`: `{client, version, data}` (version 0 and
 *   `{}` for a client never seen);
 * - `PATCH /v1/sessions/{client}` `{set?, delete?, ifVersion?, location?}`:
 *   `{client, version}`; 409 when `ifVersion` is not the version now;
 *   `location` (`{lat, lon}`, where the client is now) guides where its
 *   session is copied ahead of it;
 * - `DELETE /v1/sessions/{client}`: 204, the session ends.
 *
 * A request for a client whose session is at another node waits while it is
 * brought here (503 when it cannot be within 5 s). Errors are
 * `{code, message, details}`.
 */
export function sessionApi(d: SessionApiDeps): http.Server {
  const server = http.createServer({ headersTimeout: 5000, requestTimeout: 15_000 }, (req, res) => {
    handle(d, req)
      .then(({ status, body }) => {
        res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' });
        res.end(body === undefined ? undefined : JSON.stringify(body));
      })
      .catch((e: unknown) => {
        if (!(e instanceof GedgeError)) d.onError(e);
        const err = e instanceof GedgeError ? e : new GedgeError('internal error');
        res.writeHead(err.status, { 'content-type': 'application/json', connection: err.status === 413 ? 'close' : 'keep-alive' });
        res.end(JSON.stringify(err.toJSON()));
      });
  });
  server.on('connection', (s) => s.setNoDelay(true));
  return server;
}

async function handle(d: SessionApiDeps, req: http.IncomingMessage): Promise<{ status: number; body?: unknown }> {
  const auth = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
  const who = auth ? d.caller(auth[1]!) : undefined;
  if (!who) {
    req.resume();
    throw new UnauthorizedError('the session API takes the GEDGE_SESSION_TOKEN of an instance of a Service with continuity running on this node', { details: [{ path: 'authorization', message: auth ? 'not a token of a running instance' : 'missing' }] });
  }
  const path = (req.url ?? '').split('?')[0]!;
  const m = /^\/v1\/sessions\/([^/]+)$/.exec(path);
  if (!m) {
    req.resume();
    throw new NotFoundError('the session API answers /v1/sessions/{client}', { details: [{ path, message: 'no such route' }] });
  }
  let client: string;
  try {
    client = clientIdSchema.parse(decodeURIComponent(m[1]!));
  } catch (e) {
    req.resume();
    const message = e instanceof z.ZodError ? e.issues[0]!.message : 'not valid percent-encoding';
    throw new BadRequestError(`the client id in the path: ${message}`, { details: [{ path: 'client', message }] });
  }
  const k: SessionKey = { project: who.project, service: who.service, client };
  if (req.method === 'GET') {
    req.resume();
    const s = await d.read(k);
    return { status: 200, body: { client, version: s.version, data: s.data } };
  }
  if (req.method === 'DELETE') {
    req.resume();
    await d.end(k);
    return { status: 204 };
  }
  if (req.method !== 'PATCH') {
    req.resume();
    throw new GedgeErrorWithStatus(405, 'MethodNotAllowed', 'the session API answers GET, PATCH and DELETE');
  }
  const raw = await body(req, 2 * who.maxSessionBytes + 4096);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new BadRequestError('the body is not JSON', { details: [{ path: 'body', message: 'not JSON' }] });
  }
  const p = patchSchema.safeParse(parsed);
  if (!p.success) throw new BadRequestError(`the body: ${p.error.issues[0]!.message}`, { details: p.error.issues.map((i) => ({ path: i.path.join('.') || 'body', message: i.message })) });
  const { version } = await d.write(k, p.data, who);
  return { status: 200, body: { client, version } };
}

class GedgeErrorWithStatus extends GedgeError {
  constructor(
    override readonly status: number,
    override readonly code: string,
    message: string,
  ) {
    super(message, { details: [{ path: 'method', message }] });
  }
}

/** The request's body as text, at most `max` bytes (413 past it). */
function body(req: http.IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    const tooLarge = () => new PayloadTooLargeError(`a write's body may be at most ${max} bytes`, { details: [{ path: 'body', message: `limit ${max} bytes` }] });
    if (declared > max) {
      req.resume();
      return reject(tooLarge());
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        return reject(tooLarge());
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
