import { DEFAULT_PROJECT, ForbiddenError, lookupKind, type GedgeEvent, type Resource, projectOf } from '../../core/index.ts';
import type { TokenKind, TokenRecord } from '../store/store.ts';

/** Who calls: the token a request presented, checked (center/auth/authenticator.ts). Routes and the hub know callers by this type, never by the store's. */
export type Caller = TokenRecord;
export type CallerKind = TokenKind;

/**
 * What a token may reach beyond its kind (which server.ts checks per route).
 * Admin tokens: everything. User tokens: read and write the namespaced
 * objects of their projects, their instances' logs and exec; read (never
 * write) cluster-scoped objects, Events only of their projects. Checks run
 * before any lookup, so a token learns nothing about other projects, not even
 * whether a name exists there.
 */

/** Routes that user tokens may call; each one then checks the project with the functions below. */
export const ADMIN_OR_USER: TokenKind[] = ['admin', 'user'];

export function mayUseProject(token: TokenRecord | undefined, project: string): boolean {
  return token?.kind === 'admin' || (token?.kind === 'user' && token.projects.includes(project));
}

export function assertProject(token: TokenRecord | undefined, project: string): void {
  if (mayUseProject(token, project)) return;
  throw new ForbiddenError(`this token may not use project "${project}"`, {
    details: [{ path: 'project', message: token?.kind === 'user' ? `allowed: ${token.projects.join(', ')}` : 'needs an admin token' }],
  });
}

/** Writes: objects of the token's projects only; cluster-scoped kinds (Node, Site, Project, ...) need an admin token. */
export function assertMayWrite(token: TokenRecord | undefined, objs: Resource[]): void {
  if (token?.kind === 'admin') return;
  for (const o of objs) {
    if (!lookupKind(o.kind)?.namespaced) {
      throw new ForbiddenError(`a ${token?.kind ?? 'missing'} token cannot write ${o.kind} objects`, { details: [{ path: 'kind', message: `${o.kind} is cluster-scoped: needs an admin token` }] });
    }
    assertProject(token, projectOf(o));
  }
}

/** Whether a listed or watched object is shown to the token. */
export function mayRead(token: TokenRecord | undefined, obj: Resource): boolean {
  if (token?.kind === 'admin') return true;
  if (lookupKind(obj.kind)?.namespaced) return mayUseProject(token, projectOf(obj));
  // Events are cluster-scoped but tell about one project's objects.
  if (obj.kind === 'Event') {
    const { involved } = (obj as GedgeEvent).spec;
    return !!lookupKind(involved.kind)?.namespaced && mayUseProject(token, involved.project ?? DEFAULT_PROJECT);
  }
  return true;
}
