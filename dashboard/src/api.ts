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

const TOKEN_KEY = 'gedge.token';

export function savedToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function saveToken(token: string | null): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

export class Api {
  /** Called when the center rejects the token (401), so the app can ask for another. */
  onUnauthorized: () => void = () => {};

  constructor(readonly token: string) {}

  async request<T>(method: string, path: string, body?: string, contentType = 'application/yaml'): Promise<T> {
    const res = await fetch(path, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': contentType } : {}) },
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
    const res = await fetch(path, { headers: { authorization: `Bearer ${this.token}` }, signal });
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
