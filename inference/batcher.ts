import { UnavailableError } from '../core/index.ts';
import { concat, rowsOf, type Tensor } from './tensors.ts';

export interface BatchOptions {
  /** Rows stacked into one run at most (a request with more runs alone). */
  maxBatch: number;
  /** How long the first queued request waits for others (0: no waiting; requests still stack while a run is going). */
  maxDelayMs: number;
  /** Requests waiting beyond this many are refused with 503 at once (the caller retries or sheds load). */
  maxQueue: number;
}

type Run = (feeds: Record<string, Tensor>) => Promise<Record<string, Tensor>>;

interface Job {
  feeds: Record<string, Tensor>;
  rows: number;
  at: number;
  resolve: (out: Record<string, Tensor>) => void;
  reject: (err: unknown) => void;
}

/**
 * Dynamic batching, as Triton and KServe do it: requests that arrive close
 * together run as one, their inputs stacked along the batch dimension and
 * the outputs split back. A run starts when `maxBatch` rows wait, when the
 * first waiting request has waited `maxDelayMs`, or as soon as the previous
 * run ends with requests queued behind it (they have waited already). One
 * run at a time: ONNX Runtime spreads each over the cores itself.
 */
export class Batcher {
  private readonly queue: Job[] = [];
  private queuedRows = 0;
  private running = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly run: Run,
    private readonly opts: BatchOptions,
    private readonly onRun: (rows: number, requests: number) => void = () => {},
  ) {}

  get waiting(): number {
    return this.queue.length;
  }

  infer(feeds: Record<string, Tensor>, rows: number): Promise<Record<string, Tensor>> {
    if (this.queue.length >= this.opts.maxQueue) {
      return Promise.reject(new UnavailableError(`${this.queue.length} requests are waiting for the model: try again`, { details: [{ path: 'queue', message: `at most ${this.opts.maxQueue} wait` }] }));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ feeds, rows, at: performance.now(), resolve, reject });
      this.queuedRows += rows;
      this.next();
    });
  }

  private next(): void {
    if (this.running || !this.queue.length) return;
    const waited = performance.now() - this.queue[0]!.at;
    if (this.queuedRows >= this.opts.maxBatch || waited >= this.opts.maxDelayMs) {
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.flush();
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.next();
      }, this.opts.maxDelayMs - waited);
    }
  }

  private async flush(): Promise<void> {
    const jobs: Job[] = [this.queue.shift()!];
    let rows = jobs[0]!.rows;
    while (this.queue.length && rows + this.queue[0]!.rows <= this.opts.maxBatch) {
      const j = this.queue.shift()!;
      rows += j.rows;
      jobs.push(j);
    }
    this.queuedRows -= rows;
    this.running = true;
    try {
      const feeds: Record<string, Tensor> = {};
      for (const name of Object.keys(jobs[0]!.feeds)) feeds[name] = concat(jobs.map((j) => j.feeds[name]!));
      const out = await this.run(feeds);
      this.onRun(rows, jobs.length);
      let from = 0;
      for (const j of jobs) {
        const mine: Record<string, Tensor> = {};
        for (const [name, t] of Object.entries(out)) mine[name] = jobs.length === 1 ? t : rowsOf(t, from, j.rows);
        from += j.rows;
        j.resolve(mine);
      }
    } catch (err) {
      for (const j of jobs) j.reject(err);
    } finally {
      this.running = false;
      this.next();
    }
  }

  /** Fails whatever waits (the server is stopping). */
  close(): void {
    clearTimeout(this.timer);
    for (const j of this.queue.splice(0)) j.reject(new UnavailableError('the model server is stopping'));
    this.queuedRows = 0;
  }
}
