import { lookupKind, type Resource } from './resources.ts';
import type { SinkMessagesPage } from './device-schema.ts';
import type { ModelSignature } from './model-schema.ts';
import type { EvalSetFacts } from './eval-set.ts';
import { BadRequestError } from './errors.ts';
import { ExecClient, type ExecHandlers, type ExecRequest } from './exec-client.ts';
import { fetchFor } from './tls-fetch.ts';
import { ApiCore } from './api-core.ts';

export interface ApplyItem {
  action: 'created' | 'configured' | 'unchanged';
  kind: string;
  name: string;
  project?: string;
  revision: number;
}
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
  revision: number;
  object?: Resource;
}
export interface TokenView {
  id: string;
  kind: string;
  description: string;
  subject: string | null;
  /** User tokens: the projects they may use. */
  projects?: string[];
  createdAt: string;
  expiresAt: string | null;
  usedAt: string | null;
  /** Join tokens, when issued: the pin of the center's CA, for the joining node. */
  caPin?: string;
}

/** What the center knows of an uploaded file: a model (its signature) or a labelled evaluation set (its shape). */
export interface ArtifactFacts {
  digest: string;
  size: number;
  kind?: 'model' | 'eval-set';
  signature?: ModelSignature;
  evalSet?: EvalSetFacts;
  uploadedAt: string;
}

/** The typed client for the center's API in Node: the CLI, simulators and tests use only this (the dashboard shares its ApiCore). */
export class ApiClient extends ApiCore {
  /** `ca`: the center's CA certificate (PEM), trusted instead of the system's for https:// (gedge login stores it). */
  constructor(
    server: string,
    private readonly token: string,
    private readonly ca?: string,
  ) {
    super({ server, fetch: fetchFor(server, ca ? { ca } : undefined), headers: { authorization: `Bearer ${token}` } });
  }

  /** Every object, or with `limit` one page of at most that many; `continue` (from the previous page) is where the next starts. */
  list<T extends Resource = Resource>(kind: string, opts: { project?: string; selector?: string; limit?: number; continue?: string } = {}): Promise<{ items: T[]; revision: number; continue?: string }> {
    return this.json('GET', `/api/v1/${plural(kind)}${query({ project: opts.project, labelSelector: opts.selector, limit: opts.limit === undefined ? undefined : String(opts.limit), continue: opts.continue })}`);
  }

  get<T extends Resource = Resource>(kind: string, name: string, project?: string): Promise<T> {
    return this.json('GET', `/api/v1/${plural(kind)}/${encodeURIComponent(name)}${query({ project })}`);
  }

  create<T extends Resource = Resource>(obj: Resource): Promise<T> {
    return this.json('POST', `/api/v1/${plural(obj.kind)}`, JSON.stringify(obj));
  }

  /** Applies a manifest (YAML or JSON text, one or many documents). */
  async apply(manifest: string): Promise<ApplyItem[]> {
    return (await this.json<{ items: ApplyItem[] }>('POST', '/api/v1/apply', manifest, 'application/yaml')).items;
  }

  delete<T extends Resource = Resource>(kind: string, name: string, project?: string): Promise<T> {
    return this.json('DELETE', `/api/v1/${plural(kind)}/${encodeURIComponent(name)}${query({ project })}`);
  }

  createToken(req: { kind?: 'join' | 'admin' | 'user' | 'metrics'; site?: string; projects?: string[]; ttl?: string; description?: string }): Promise<TokenView & { token: string }> {
    return this.json('POST', '/api/v1/tokens', JSON.stringify(req));
  }

  /** Issues a device credential; the password is shown only in this answer. */
  issueDeviceCredential(project: string, device: string, req: { description?: string; ttl?: string } = {}): Promise<{ credential: Resource; clientId: string; username: string; password: string }> {
    return this.json('POST', `/api/v1/devices/${encodeURIComponent(device)}/credentials${query({ project })}`, JSON.stringify(req));
  }

  /** Issues an X.509 client certificate for a device from its CSR (the key stays with the device); deleting the returned credential revokes it. */
  issueDeviceCertificate(project: string, device: string, req: { csr: string; description?: string; ttl?: string }): Promise<{ credential: Resource; clientId: string; certificate: string; ca: string }> {
    return this.json('POST', `/api/v1/devices/${encodeURIComponent(device)}/certificates${query({ project })}`, JSON.stringify(req));
  }

  /**
   * A page of a route's table sink, oldest first: the messages after the
   * `after` id (0: from the oldest), or the newest `limit` (default 100, at
   * most 1000) when `after` is unset. Pass `next` as `after` for the next page.
   */
  messages(project: string, route: string, opts: { after?: number; limit?: number; device?: string } = {}): Promise<SinkMessagesPage> {
    const q = query({ project, after: opts.after?.toString(), limit: opts.limit?.toString(), device: opts.device });
    return this.json('GET', `/api/v1/routes/${encodeURIComponent(route)}/messages${q}`);
  }

  /** Rollout actions on a service: undo (to the previous revision, or `toRevision`), pause, resume. */
  rollout<T extends Resource = Resource>(action: 'undo' | 'pause' | 'resume', service: string, opts: { project?: string; toRevision?: number } = {}): Promise<T> {
    const body = action === 'undo' && opts.toRevision !== undefined ? JSON.stringify({ toRevision: opts.toRevision }) : '';
    return this.json('POST', `/api/v1/services/${encodeURIComponent(service)}/rollout/${action}${query({ project: opts.project })}`, body);
  }

  /** The center's CA certificate (PEM), read over this authenticated channel: what gedge edge brokers' certificates chain to. */
  async centerCa(): Promise<string> {
    return (await this.json<{ certificate: string }>('GET', '/api/v1/ca')).certificate;
  }

  async listTokens(): Promise<TokenView[]> {
    return (await this.json<{ items: TokenView[] }>('GET', '/api/v1/tokens')).items;
  }

  /** Changes as they happen, from `since` (exclusive) when given. */
  watch(kind: string, opts: { project?: string; selector?: string; since?: number; signal?: AbortSignal } = {}): AsyncGenerator<WatchEvent> {
    return this.lines<WatchEvent>(`/api/v1/${plural(kind)}${query({ watch: 'true', project: opts.project, labelSelector: opts.selector, since: opts.since?.toString() })}`, opts.signal);
  }

  /** `since`: a duration back from now (10m) or an RFC 3339 time; output from then on, to one second. */
  logs(instance: string, opts: { project?: string; follow?: boolean; tailBytes?: number; since?: string; signal?: AbortSignal } = {}): AsyncGenerator<string> {
    const q = query({ project: opts.project, follow: opts.follow ? 'true' : undefined, tailBytes: opts.tailBytes?.toString(), since: opts.since });
    return this.stream(`/api/v1/instances/${encodeURIComponent(instance)}/logs${q}`, opts.signal);
  }

  /** Whether `project` holds the artifact `digest` (a HEAD: nothing is downloaded). */
  async hasArtifact(project: string, digest: string): Promise<boolean> {
    const res = await this.raw('HEAD', artifactPath(project, digest));
    if (res.status === 404) return false;
    if (!res.ok) throw this.refused(res.status, {});
    return true;
  }

  /** Uploads a model file under the sha256 the caller computed; the center keeps it only if the bytes hash to it. */
  uploadArtifact(project: string, digest: string, body: Uint8Array | ReadableStream<Uint8Array>, size: number): Promise<ArtifactFacts> {
    return this.json('PUT', artifactPath(project, digest), body, 'application/octet-stream', { 'content-length': String(size) });
  }

  /** The artifact's bytes from `start` on (a download that resumes); the response streams them. */
  async downloadArtifact(project: string, digest: string, opts: { start?: number; signal?: AbortSignal } = {}): Promise<Response> {
    const res = await this.raw('GET', artifactPath(project, digest), undefined, undefined, opts.start ? { range: `bytes=${opts.start}-` } : {});
    if (!res.ok) throw this.refused(res.status, (await res.json().catch(() => ({}))) as object);
    return res;
  }

  deleteArtifact(project: string, digest: string): Promise<{ deleted: boolean }> {
    return this.json('DELETE', artifactPath(project, digest));
  }

  /** Runs a command in a running instance over a WebSocket (see ExecClient); rejects when the center refuses. */
  exec(instance: string, req: ExecRequest, on: ExecHandlers = {}): Promise<ExecClient> {
    return ExecClient.open(this.server, this.token, instance, req, on, this.ca);
  }
}

const artifactPath = (project: string, digest: string) => `/api/v1/artifacts/${encodeURIComponent(digest)}${query({ project })}`;

function plural(kind: string): string {
  const info = lookupKind(kind);
  if (!info) throw new BadRequestError(`unknown resource type "${kind}"`, { details: [{ path: 'kind', message: 'try: projects, sites, nodes, services, instances, events' }] });
  return info.plural;
}

function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}
