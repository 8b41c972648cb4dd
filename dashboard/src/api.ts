/** The center's public API from the browser: core's ApiCore (the request layer the CLI's client shares) with the dashboard's session. */

import { ApiCore } from '../../core/api-core.ts';
import { errorFromBody, GedgeError, RemoteError, type ErrorDetail } from '../../core/errors.ts';

/** The center's refusals, typed as core/errors.ts has them (`status`, `code`, `details`); RemoteError for what has no class, or no answer (status 0). */
export { GedgeError as ApiError, RemoteError, type ErrorDetail };

/** Any failure as the pages show it: the center's refusal, or a network error (status 0). */
export const asApiError = (e: unknown): GedgeError => (e instanceof GedgeError ? e : new RemoteError(0, 'Network', String(e)));

/** Stored objects and watch lines are core's shapes (types only: nothing of core/resources.ts is bundled); pages narrow `spec` and `status` with Obj<Spec, Status>. */
export type { Metadata, ApiObject as Obj } from '../../core/resources.ts';
export type { WatchEvent as WatchLine } from '../../core/api-client.ts';

/**
 * The session lives in an HttpOnly cookie the center sets (center/api/session-routes.ts):
 * no script here ever holds the token after sign-in. Every request says it is the
 * dashboard's (the header a page of another origin cannot send), and the browser adds the cookie.
 */
const SESSION_HEADERS = { 'x-gedge-session': '1' };

/** Exchanges a token for the session cookie; throws the center's refusal as a typed error. */
export async function startSession(token: string): Promise<void> {
  const res = await fetch('/api/v1/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  if (!res.ok) throw errorFromBody(res.status, ((await res.json().catch(() => null)) ?? {}) as { code?: string; message?: string; details?: ErrorDetail[] });
}

/** Whether the browser holds a session the center accepts. */
export async function hasSession(): Promise<boolean> {
  return (await fetch('/api/v1/session', { headers: SESSION_HEADERS })).ok;
}

export async function endSession(): Promise<void> {
  await fetch('/api/v1/session', { method: 'DELETE' }).catch(() => undefined);
}

/** The session's API: every request says it is the dashboard's; `onUnauthorized` runs when the center no longer takes the session (401). */
export class Api extends ApiCore {
  constructor(onUnauthorized: () => void = () => undefined) {
    super({ server: location.origin, fetch: (input, init) => fetch(input, init), headers: SESSION_HEADERS, onUnauthorized });
  }

  /** A manifest (YAML by default) or JSON body; the answer's JSON. */
  request<T>(method: string, path: string, body?: string, contentType = 'application/yaml'): Promise<T> {
    return this.json<T>(method, path, body, contentType);
  }

  get<T>(path: string): Promise<T> {
    return this.json<T>('GET', path);
  }
}

/** `/api/v1/{plural}` path with an optional project. */
export function path(plural: string, name?: string, project?: string, suffix = ''): string {
  const base = `/api/v1/${plural}${name ? `/${encodeURIComponent(name)}` : ''}${suffix}`;
  return project ? `${base}?project=${encodeURIComponent(project)}` : base;
}
