import { setTimeout as sleep } from 'node:timers/promises';
import { TimeoutError, type AgentMessage, type CenterMessage, type OffloadOutput } from '../../core/index.ts';
// The wire format alone: the agent never loads ONNX Runtime (its model servers do).
import { decodeCut } from '../../inference/early-exit.ts';
import { metadataOf, postInfer, type ModelEndpoint } from './model-client.ts';

/** The tail cannot be reached now: the center is not connected, or the connection went during the offload. */
export class UnreachableError extends Error {
  override name = 'UnreachableError';
}

/** The center or the tail answered the offload with an error (code as HTTP's: 404 no tail ready, 429 busy, 502 the tail failed, 504 it timed out). */
export class OffloadFailedError extends Error {
  override name = 'OffloadFailedError';
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

interface Pending {
  resolve: (o: OffloadOutput[]) => void;
  reject: (e: Error) => void;
}

/** A tail's run of one offload may take this long on the model server. */
const TAIL_RUN_MS = 10_000;
/** Offloads a tail node runs at once; more are answered busy (the center holds no queue either). */
const TAIL_RUNS = 16;
/** The largest cut a tail takes (rows x width): 4 MiB of floats. */
const TAIL_MAX_VALUES = 1 << 20;
/** What the protocol lets an answer hold (offloadOutputSchema): the agent checks before it sends. */
const ANSWER_MAX_VALUES = 65_536;
const ERROR_MAX = 4000;

/**
 * Split inference over the agent's connection to the center, both ends:
 * on an edge node, a split head's hard inputs go out (offload) and their
 * answers come back (offload.result); on a node running a tail, the center's
 * offload.run goes through the tail's model server on loopback and is
 * answered (offload.answer).
 */
export class OffloadClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly waiters = new Set<() => void>();
  private runs = 0;

  constructor(
    private readonly d: {
      /** To the center, only while caught up; false when not sent. */
      send: (m: AgentMessage) => boolean;
      live: () => boolean;
      /** A ready model instance of this node by name. */
      tail: (project: string, instance: string) => ModelEndpoint | undefined;
    },
  ) {}

  /**
   * The tail's outputs for a cut tensor of `project/instance` (a split head
   * of this node). Not connected: UnreachableError at once, or with `wait`,
   * once connected again (and again if the connection goes meanwhile), until
   * the timeout.
   */
  async offload(project: string, instance: string, data: Buffer, o: { timeoutMs: number; wait: boolean }): Promise<OffloadOutput[]> {
    const deadline = Date.now() + o.timeoutMs;
    const payload = data.toString('base64');
    for (;;) {
      if (!this.d.live()) {
        if (!o.wait) throw new UnreachableError('the center is not connected');
        await this.untilLive(deadline);
      }
      try {
        return await this.once(project, instance, payload, deadline);
      } catch (err) {
        if (!(err instanceof UnreachableError) || !o.wait || Date.now() >= deadline) throw err;
        // Live but not sendable (the socket closing, its close not yet seen): give the close its turn.
        if (this.d.live()) await sleep(Math.min(100, Math.max(0, deadline - Date.now())));
      }
    }
  }

  /** The center's answer to an offload of ours. */
  result(m: Extract<CenterMessage, { t: 'offload.result' }>): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.outputs) p.resolve(m.outputs);
    else p.reject(new OffloadFailedError(m.code ?? 502, m.error ?? 'the offload failed'));
  }

  /** The connection to the center is live again: waiting offloads go. */
  connected(): void {
    for (const wake of this.waiters) wake();
  }

  /** The connection went: offloads in flight will not be answered on it. */
  disconnected(): void {
    const lost = [...this.pending.values()];
    this.pending.clear();
    for (const p of lost) p.reject(new UnreachableError('lost the center during the offload'));
  }

  /** Runs an offloaded cut through a tail instance of this node, and answers the center. */
  async run(m: Extract<CenterMessage, { t: 'offload.run' }>): Promise<void> {
    const answer = (a: { outputs?: OffloadOutput[]; error?: string }) => this.d.send({ t: 'offload.answer', id: m.id, ...a, ...(a.error !== undefined ? { error: a.error.slice(0, ERROR_MAX) } : {}) });
    if (this.runs >= TAIL_RUNS) return void answer({ error: `the tail's node runs ${TAIL_RUNS} offloads at once already` });
    this.runs++;
    try {
      const at = this.d.tail(m.project, m.instance);
      if (!at) return void answer({ error: `instance ${m.project}/${m.instance} is not ready on this node` });
      const cut = decodeCut(Buffer.from(m.data, 'base64'), TAIL_MAX_VALUES);
      const input = (await metadataOf(at)).inputs[0];
      if (!input) return void answer({ error: `model "${at.model}" takes no input` });
      const r = await postInfer(at, JSON.stringify({ inputs: [{ name: input.name, shape: [cut.rows, cut.width], datatype: 'FP32', data: Array.from(cut.values) }] }), TAIL_RUN_MS);
      if (r.status !== 200 || !r.body.outputs) return void answer({ error: `model "${at.model}": HTTP ${r.status}${r.body.error ? `: ${r.body.error}` : ''}` });
      const outputs = r.body.outputs.slice(0, 16);
      if (outputs.some((o) => o.data.length > ANSWER_MAX_VALUES)) return void answer({ error: `the answer holds more than ${ANSWER_MAX_VALUES} values an output: send fewer rows at once` });
      answer({ outputs: outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape, data: o.data })) });
    } catch (err) {
      answer({ error: (err as Error).message });
    } finally {
      this.runs--;
    }
  }

  private once(project: string, instance: string, data: string, deadline: number): Promise<OffloadOutput[]> {
    const id = this.nextId++;
    return new Promise<OffloadOutput[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new TimeoutError(`the tail did not answer in time`));
      }, Math.max(0, deadline - Date.now()));
      const settle = <T>(f: (v: T) => void) => (v: T) => {
        clearTimeout(timer);
        f(v);
      };
      this.pending.set(id, { resolve: settle(resolve), reject: settle(reject) });
      if (!this.d.send({ t: 'offload', id, project, instance, data })) {
        this.pending.delete(id);
        clearTimeout(timer);
        reject(new UnreachableError('the center is not connected'));
      }
    });
  }

  private untilLive(deadline: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(done);
        reject(new TimeoutError('the center was not reachable in time'));
      }, Math.max(0, deadline - Date.now()));
      this.waiters.add(done);
    });
  }
}
