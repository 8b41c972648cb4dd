import { Worker } from 'node:worker_threads';
import { BadRequestError, UnavailableError, errorFromBody, type ErrorDetail, type Resource } from '../../core/index.ts';

/** A body to parse: `resources` validates every document, `single` wants exactly one, `values` only parses (YAML or JSON). */
export interface ManifestJob {
  id: number;
  mode: 'resources' | 'single' | 'values';
  text: string;
  source: string;
}
export interface ManifestReply {
  id: number;
  result?: { resources: Resource[] } | { values: unknown[] };
  error?: { status: number; code: string; message: string; details: ErrorDetail[] };
}

export interface ManifestParserOptions {
  /** A body that takes longer than this is refused (its thread is terminated and replaced). */
  timeoutMs: number;
  /** Bodies waiting beyond this many are refused with 503 at once. */
  maxQueue: number;
}

const IDLE_MS = 2000;
/** A thread has this long to load before its job fails (503); the job's own limit runs once it has. */
const START_LIMIT_MS = 60_000;

// In the bundle the worker is its own entry point in dist/. From source (tests under tsx) it is the .ts file next
// to this one, loaded through tsx registered in the worker itself: Node 20 does not pass --import hooks to workers.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './manifest-worker.ts' : './manifest-worker.mjs', import.meta.url);
const newWorker = (): Worker =>
  FROM_SOURCE
    ? new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then(({ register }) => { register(); return import(${JSON.stringify(WORKER_URL.href)}); });`, { eval: true })
    : new Worker(WORKER_URL);

/**
 * Request bodies are parsed and validated on a thread of their own, one at a
 * time, so that a hostile body (1 MiB of `---`, deep nesting, an alias bomb)
 * costs that thread, never the center's event loop: health checks, agents
 * and other requests go on meanwhile. A body that runs past `timeoutMs` is
 * refused with 400 and its thread replaced; the limit starts once the thread
 * has loaded (a cold start on a busy machine is not the body's fault).
 */
export class ManifestParser {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly queue: { job: ManifestJob; resolve: (r: ManifestReply) => void; reject: (e: Error) => void }[] = [];
  private running: { job: ManifestJob; resolve: (r: ManifestReply) => void; reject: (e: Error) => void; timer?: NodeJS.Timeout } | undefined;
  /** Whether the current thread has loaded and said so: a job's time limit starts only then. */
  private ready = false;
  private idle: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ManifestParserOptions = { timeoutMs: 5000, maxQueue: 64 }) {}

  /** Every document validated against its kind's schema. */
  async resources(text: string, source = 'body'): Promise<Resource[]> {
    return ((await this.run('resources', text, source)) as { resources: Resource[] }).resources;
  }

  /** Exactly one document, validated. */
  async single(text: string, source = 'body'): Promise<Resource> {
    return ((await this.run('single', text, source)) as { resources: Resource[] }).resources[0]!;
  }

  /** The first document's value (a JSON or YAML request body). */
  async value(text: string, source = 'body'): Promise<unknown> {
    return ((await this.run('values', text, source)) as { values: unknown[] }).values[0];
  }

  async close(): Promise<void> {
    if (this.idle) clearTimeout(this.idle);
    const w = this.worker;
    this.worker = undefined;
    for (const q of this.queue.splice(0)) q.reject(new UnavailableError('the center is shutting down'));
    if (this.running) clearTimeout(this.running.timer);
    await w?.terminate();
  }

  private async run(mode: ManifestJob['mode'], text: string, source: string): Promise<NonNullable<ManifestReply['result']>> {
    if (this.queue.length >= this.opts.maxQueue) throw new UnavailableError('too many request bodies waiting to be parsed; try again', { details: [{ path: 'body', message: `${this.opts.maxQueue} waiting` }] });
    const reply = await new Promise<ManifestReply>((resolve, reject) => {
      this.queue.push({ job: { id: this.nextId++, mode, text, source }, resolve, reject });
      this.pump();
    });
    if (reply.error) throw errorFromBody(reply.error.status, reply.error);
    return reply.result!;
  }

  private pump(): void {
    if (this.running) return;
    const next = this.queue.shift();
    if (!next) return void this.idleSoon();
    if (this.idle) clearTimeout(this.idle);
    const w = this.thread();
    this.running = { ...next };
    if (this.ready) this.arm(w);
    w.postMessage(next.job);
  }

  /** Starts the running job's time limit: past it, the body is refused and the thread, still busy with it, replaced. */
  private arm(w: Worker): void {
    const r = this.running;
    if (!r || r.timer) return;
    r.timer = setTimeout(() => {
      this.running = undefined;
      this.worker = undefined;
      void w.terminate();
      r.reject(new BadRequestError(`${r.job.source}: too complex to parse in ${this.opts.timeoutMs} ms`, { details: [{ path: r.job.source, message: 'nesting, aliases or size beyond what a manifest needs' }] }));
      this.pump();
    }, this.opts.timeoutMs);
  }

  /**
   * An idle thread is ended after IDLE_MS, and started again for the next
   * body (about 50 ms): it holds memory, and under tsx (tests) a live worker
   * keeps the process from exiting even when unref'd.
   */
  private idleSoon(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = setTimeout(() => {
      const w = this.worker;
      if (!w || this.running || this.queue.length) return;
      this.worker = undefined;
      void w.terminate();
    }, IDLE_MS);
    this.idle.unref();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = newWorker();
    w.unref();
    this.ready = false;
    // A thread that never finishes loading fails its job rather than holding it forever.
    const starting = setTimeout(() => {
      this.lost(w, new UnavailableError(`the manifest parser thread did not start in ${START_LIMIT_MS / 1000} s`));
      void w.terminate();
    }, START_LIMIT_MS);
    starting.unref();
    w.on('message', (reply: ManifestReply | { ready: true }) => {
      if ('ready' in reply) {
        clearTimeout(starting);
        if (this.worker === w) {
          this.ready = true;
          this.arm(w);
        }
        return;
      }
      const r = this.running;
      if (!r || r.job.id !== reply.id) return;
      clearTimeout(r.timer);
      this.running = undefined;
      r.resolve(reply);
      this.pump();
    });
    w.on('error', (err) => this.lost(w, err));
    w.on('exit', (code) => {
      clearTimeout(starting);
      this.lost(w, new Error(`manifest parser thread exited (${code})`));
    });
    this.worker = w;
    return w;
  }

  /** The thread died (not by our timeout): its job fails, the next one gets a new thread. */
  private lost(w: Worker, err: Error): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    const r = this.running;
    this.running = undefined;
    if (r) {
      clearTimeout(r.timer);
      r.reject(err);
    }
    this.pump();
  }
}

/** The center's one parser (its thread is started on first use and does not keep the process alive). */
export const manifests = new ManifestParser();
