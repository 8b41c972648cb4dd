import { errorFromBody, unreachableReason, UnavailableError } from './errors.ts';

/** What a client sends requests with: Node's fetch with the center's CA (tls-fetch.ts), or the browser's. */
export type FetchLike = (input: URL, init?: RequestInit) => Promise<Response>;

export interface ApiTransport {
  /** The center's origin (https://host:port); the browser's own in the dashboard. */
  server: string;
  fetch: FetchLike;
  /** Sent with every request: a bearer token, or the dashboard's session header (its cookie goes with it). */
  headers: Record<string, string>;
  /** The center refused the credentials (401): a dashboard asks for another token. */
  onUnauthorized?: () => void;
}

/**
 * The request layer every client of the center's API shares, free of Node
 * and of the browser: requests with the caller's credentials, errors
 * rebuilt as the typed errors of core/errors.ts from `{code, message,
 * details}`, streamed text and NDJSON lines. `ApiClient` (api-client.ts)
 * adds the typed calls for Node; the dashboard builds on it in the browser.
 */
export class ApiCore {
  constructor(protected readonly transport: ApiTransport) {}

  get server(): string {
    return this.transport.server;
  }

  /** One request as it is; `body` may be a byte stream (an upload: sent as it is read). */
  async raw(method: string, path: string, body?: string | Uint8Array | ReadableStream<Uint8Array>, contentType = 'application/json', headers: Record<string, string> = {}): Promise<Response> {
    try {
      return await this.transport.fetch(new URL(path, this.transport.server), {
        method,
        headers: { ...this.transport.headers, ...(body !== undefined ? { 'content-type': contentType } : {}), ...headers },
        body,
        ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
      } as RequestInit);
    } catch (cause) {
      throw new UnavailableError(`cannot reach the center at ${this.transport.server}: ${unreachableReason(cause)}`, { cause });
    }
  }

  /** A request whose answer is JSON; a refusal throws its typed error. */
  async json<T>(method: string, path: string, body?: string | Uint8Array | ReadableStream<Uint8Array>, contentType?: string, headers?: Record<string, string>): Promise<T> {
    const res = await this.raw(method, path, body, contentType, headers);
    const data = (await res.json().catch(() => ({}))) as T & { code?: string; message?: string };
    if (!res.ok) throw this.refused(res.status, data);
    return data;
  }

  /** A streaming GET: text chunks until the center ends it or `signal` aborts (then it just ends). */
  async *stream(path: string, signal?: AbortSignal): AsyncGenerator<string> {
    let res: Response;
    try {
      res = await this.transport.fetch(new URL(path, this.transport.server), { headers: this.transport.headers, signal });
    } catch (cause) {
      if (signal?.aborted) return;
      throw new UnavailableError(`cannot reach the center at ${this.transport.server}: ${unreachableReason(cause)}`, { cause });
    }
    if (!res.ok || !res.body) throw this.refused(res.status, (await res.json().catch(() => ({}))) as object);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let ended = false;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if ((ended = done)) return;
        yield value;
      }
    } catch (err) {
      if (!signal?.aborted) throw err;
    } finally {
      // A consumer that stops reading (or an abort) ends the request: the connection is not left open.
      if (!ended) await reader.cancel().catch(() => undefined);
    }
  }

  /** The NDJSON lines of a stream (watch), parsed. */
  async *lines<T>(path: string, signal?: AbortSignal): AsyncGenerator<T> {
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

  protected refused(status: number, body: { code?: string; message?: string }) {
    if (status === 401) this.transport.onUnauthorized?.();
    return errorFromBody(status, body);
  }
}
