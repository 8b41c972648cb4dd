/** The center's public API from the browser: bearer token, JSON errors `{code, message, details}`, NDJSON streams. */

export interface ErrorDetail {
  path: string;
  message: string;
  line?: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
  }
}

export interface Metadata {
  name: string;
  project?: string;
  labels?: Record<string, string>;
  revision?: number;
  /** Bumped on every spec change (a Device's desired twin version). */
  generation?: number;
  uid?: string;
  createdAt?: string;
  updatedAt?: string;
}

/** Any stored object; pages narrow `spec` and `status` to what they show. */
export interface Obj<Spec = Record<string, unknown>, Status = Record<string, unknown>> {
  apiVersion: string;
  kind: string;
  metadata: Metadata;
  spec: Spec;
  status?: Status;
}

export interface WatchLine {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
  revision: number;
  object?: Obj;
}

/**
 * The session lives in an HttpOnly cookie the center sets (center/api/session-routes.ts):
 * no script here ever holds the token after sign-in. Every request says it is the
 * dashboard's (the header a page of another origin cannot send), and the browser adds the cookie.
 */
const SESSION_HEADERS = { 'x-gedge-session': '1' };

/** Exchanges a token for the session cookie; throws ApiError when the center refuses it. */
export async function startSession(token: string): Promise<void> {
  const res = await fetch('/api/v1/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { code?: string; message?: string; details?: ErrorDetail[] } | null;
    throw new ApiError(res.status, body?.code ?? `HTTP${res.status}`, body?.message ?? res.statusText, body?.details ?? []);
  }
}

/** Whether the browser holds a session the center accepts. */
export async function hasSession(): Promise<boolean> {
  return (await fetch('/api/v1/session', { headers: SESSION_HEADERS })).ok;
}

export async function endSession(): Promise<void> {
  await fetch('/api/v1/session', { method: 'DELETE' }).catch(() => undefined);
}

export class Api {
  /** Called when the center rejects the token (401), so the app can ask for another. */
  onUnauthorized: () => void = () => {};

  async request<T>(method: string, path: string, body?: string, contentType = 'application/yaml'): Promise<T> {
    const res = await fetch(path, {
      method,
      headers: { ...SESSION_HEADERS, ...(body !== undefined ? { 'content-type': contentType } : {}) },
      body,
    });
    if (!res.ok) throw await this.errorOf(res);
    return (await res.json()) as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  /** A streaming GET: yields text chunks until the server ends it or `signal` aborts. */
  async *stream(path: string, signal: AbortSignal): AsyncGenerator<string> {
    const res = await fetch(path, { headers: SESSION_HEADERS, signal });
    if (!res.ok || !res.body) throw await this.errorOf(res);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  }

  /** NDJSON lines of a stream, parsed. */
  async *lines<T>(path: string, signal: AbortSignal): AsyncGenerator<T> {
    let buf = '';
    for await (const chunk of this.stream(path, signal)) {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) yield JSON.parse(line) as T;
      }
    }
  }

  private async errorOf(res: Response): Promise<ApiError> {
    if (res.status === 401) this.onUnauthorized();
    const body = (await res.json().catch(() => null)) as { code?: string; message?: string; details?: ErrorDetail[] } | null;
    return new ApiError(res.status, body?.code ?? `HTTP${res.status}`, body?.message ?? res.statusText, body?.details ?? []);
  }
}

/** `/api/v1/{plural}` path with an optional project. */
export function path(plural: string, name?: string, project?: string, suffix = ''): string {
  const base = `/api/v1/${plural}${name ? `/${encodeURIComponent(name)}` : ''}${suffix}`;
  return project ? `${base}?project=${encodeURIComponent(project)}` : base;
}
