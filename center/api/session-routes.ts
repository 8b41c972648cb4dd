import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { parseOrThrow } from '../../core/index.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import { jsonBody } from './auth-routes.ts';
import { bodyText } from './resource-routes.ts';

/**
 * The dashboard's session: the browser gives its token once
 * (`POST /api/v1/session`) and the center keeps it in an HttpOnly,
 * SameSite=Strict cookie, so no script on the page can read it. The cookie
 * is taken only with the `x-gedge-session` header, which a page of another
 * origin cannot send without a CORS preflight the center never grants: a form
 * or image elsewhere on the same host (another port is the same site) cannot
 * act with it. Tools keep using `Authorization: Bearer`.
 */
export const SESSION_COOKIE = 'gedge_session';
export const SESSION_HEADER = 'x-gedge-session';

export const sessionRequestSchema = z.object({ token: z.string().min(1).max(256) }).strict();

/** `Bearer <token>` from the session cookie, when the request may use it; undefined otherwise. */
export function sessionAuthorization(req: FastifyRequest): string | undefined {
  if (req.headers[SESSION_HEADER] === undefined) return undefined;
  const m = new RegExp(`(?:^|;\\s*)${SESSION_COOKIE}=([^;]+)`).exec(req.headers.cookie ?? '');
  return m ? `Bearer ${decodeURIComponent(m[1]!)}` : undefined;
}

export function registerSessionRoutes(app: FastifyInstance, auth: Authenticator): void {
  app.post('/api/v1/session', { config: { public: true } }, async (req, reply) => {
    const { token } = parseOrThrow(sessionRequestSchema, await jsonBody(bodyText(req)), 'session request');
    const header = `Bearer ${token}`;
    const record = await auth.token(req.ip, header, ['admin', 'user']);
    const maxAge = record.expiresAt ? `; Max-Age=${Math.max(0, Math.floor((Date.parse(record.expiresAt) - Date.now()) / 1000))}` : '';
    const secure = req.protocol === 'https' ? '; Secure' : '';
    void reply.header('set-cookie', `${SESSION_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/${secure}${maxAge}`);
    return { kind: record.kind, projects: record.projects, expiresAt: record.expiresAt };
  });

  app.get('/api/v1/session', { config: { auth: ['admin', 'user'] } }, async (req) => ({ kind: req.token!.kind, projects: req.token!.projects, expiresAt: req.token!.expiresAt }));

  app.delete('/api/v1/session', { config: { public: true } }, async (req, reply) => {
    const secure = req.protocol === 'https' ? '; Secure' : '';
    void reply.header('set-cookie', `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/${secure}; Max-Age=0`);
    return { signedOut: true };
  });
}
