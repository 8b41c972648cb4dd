import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { Backoff, type BackoffOptions } from './backoff.ts';

/**
 * The contract every long-running part of a gedge process meets (the
 * center's and the agent's are ordered lists of them), after KubeEdge's
 * beehive modules and controller-runtime's Runnables: started in order,
 * stopped in reverse, and supervised in between.
 *
 * - `start` resolves once the module serves; it may watch `signal` to give
 *   up early when the process stops meanwhile. If it throws, `stop` is
 *   still called (a module cleans up a partial start there).
 * - `stop` is called exactly once after every `start`, resolved or not.
 * - A module that breaks later says so with `ctx.fail(err)`.
 * - An essential module's failure (at start or later) is the process's: the
 *   supervisor stops everything and reports it. Any other module is stopped
 *   and started again after an exponential backoff while the rest keeps
 *   running (an agent keeps its workloads when its probe port is taken).
 * - Modules reach one another through their owner's getters, never by
 *   keeping another module's parts: a restarted module has new ones.
 */
export interface Module {
  readonly name: string;
  readonly essential?: boolean;
  start(ctx: ModuleContext, signal: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}

export interface ModuleContext {
  readonly log: Logger;
  /** This run of the module broke: the supervisor restarts it (or, if essential, stops the process's modules). Later calls, and calls after a stop, are ignored. */
  fail(err: unknown): void;
}

export type ModuleState = 'pending' | 'starting' | 'running' | 'backoff' | 'stopped' | 'failed';

/** What a supervisor tells of one module: for readiness endpoints, metrics and logs. */
export interface ModuleHealth {
  name: string;
  essential: boolean;
  state: ModuleState;
  /** Restarts after a failure since the process started. */
  restarts: number;
  /** ISO time of the last state change. */
  since: string;
  /** The last failure's message, while it is not running. */
  error?: string;
}

export interface SupervisorOptions {
  log: Logger;
  /** Between restarts of a failed module (reset once it has run for `maxMs`). */
  backoff?: BackoffOptions;
}

interface Slot {
  module: Module;
  health: ModuleHealth;
  /** Aborts the current run; a fresh one per start. */
  run: AbortController | undefined;
  /** The current run's start, while it is starting or running. */
  started: Promise<void> | undefined;
  /** The current run's stop, once begun (awaited by everything that stops it). */
  stopping: Promise<void> | undefined;
  startedAt: number;
  retry: NodeJS.Timeout | undefined;
  backoff: Backoff;
}

/** Thrown by `Supervisor.start` (and reported as `fatal`) when an essential module fails. */
export class ModuleFailedError extends Error {
  constructor(
    readonly module: string,
    cause: unknown,
    when: 'start' | 'run',
  ) {
    super(`module "${module}" ${when === 'start' ? 'failed to start' : 'failed'}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'ModuleFailedError';
  }
}

const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000, jitter: 0.2 };

/**
 * Runs an ordered list of modules. Events: `health` (a module's new state),
 * `fatal` (an essential module failed after the start; everything has been
 * stopped: the owner ends the process or reports it).
 */
export class Supervisor extends EventEmitter<{ health: [ModuleHealth]; fatal: [ModuleFailedError] }> {
  private readonly slots: Slot[];
  private stopped = false;
  private stopAll: Promise<void> | undefined;
  private fatal: ModuleFailedError | undefined;

  constructor(
    modules: readonly Module[],
    private readonly opts: SupervisorOptions,
  ) {
    super();
    const names = new Set<string>();
    for (const m of modules) {
      if (names.has(m.name)) throw new Error(`two modules are named "${m.name}"`);
      names.add(m.name);
    }
    this.slots = modules.map((module) => ({
      module,
      health: { name: module.name, essential: module.essential === true, state: 'pending', restarts: 0, since: new Date().toISOString() },
      run: undefined,
      started: undefined,
      stopping: undefined,
      startedAt: 0,
      retry: undefined,
      backoff: new Backoff(opts.backoff ?? DEFAULT_BACKOFF),
    }));
  }

  /** Starts every module in order; throws (having stopped what started) if an essential one cannot start. */
  async start(): Promise<void> {
    for (const slot of this.slots) {
      if (this.stopped) break;
      const err = await this.startSlot(slot);
      if (err === undefined || this.stopped) continue;
      if (slot.module.essential) {
        this.fatal = new ModuleFailedError(slot.module.name, err, 'start');
        await this.stop();
        this.set(slot, 'failed', this.fatal.message);
        break;
      }
      this.scheduleRestart(slot, err);
    }
    // An essential module that failed while later ones were starting fails the start as well.
    if (this.fatal) throw this.fatal;
  }

  /** Stops every module in reverse order (each once; a failing stop is logged, the rest still stop). */
  stop(): Promise<void> {
    this.stopped = true;
    this.stopAll ??= (async () => {
      // Everyone is told at once (a start in progress may give up); then each stops in reverse order.
      for (const slot of this.slots) {
        clearTimeout(slot.retry);
        if (slot.run && !slot.run.signal.aborted) slot.run.abort(new Error('stopping'));
      }
      for (const slot of [...this.slots].reverse()) {
        await this.stopSlot(slot, 'stopped');
        if (slot.health.state !== 'pending' && slot.health.state !== 'failed') this.set(slot, 'stopped', slot.health.error);
      }
    })();
    return this.stopAll;
  }

  health(): ModuleHealth[] {
    return this.slots.map((s) => ({ ...s.health }));
  }

  /** Every essential module is running (the others may be backing off: the process serves without them). */
  get ready(): boolean {
    return this.slots.every((s) => !s.module.essential || s.health.state === 'running');
  }

  /** Starts one run; resolves to its error, if it failed (the run is then stopped). */
  private async startSlot(slot: Slot): Promise<unknown> {
    const run = new AbortController();
    slot.run = run;
    slot.stopping = undefined;
    this.set(slot, 'starting');
    const ctx: ModuleContext = {
      log: this.opts.log.child({ module: slot.module.name }),
      fail: (err) => {
        // Only this run's failure, once: a restarted module gets a new context.
        if (slot.run !== run || run.signal.aborted || this.stopped) return;
        run.abort(err);
        if (slot.health.state === 'running') void this.failed(slot, err);
      },
    };
    slot.started = slot.module.start(ctx, run.signal);
    try {
      await slot.started;
      if (run.signal.aborted) throw run.signal.reason ?? new Error('stopped while starting');
    } catch (err) {
      await this.stopSlot(slot, 'backoff', err);
      return err ?? new Error('failed');
    }
    slot.startedAt = Date.now();
    this.set(slot, 'running');
    return undefined;
  }

  /** A running module broke. */
  private async failed(slot: Slot, err: unknown): Promise<void> {
    if (slot.module.essential) {
      const failed = new ModuleFailedError(slot.module.name, err, 'run');
      this.fatal ??= failed;
      this.opts.log.error({ err, module: slot.module.name }, failed.message);
      await this.stop();
      this.set(slot, 'failed', failed.message);
      this.emit('fatal', failed);
      return;
    }
    await this.stopSlot(slot, 'backoff', err);
    // A run that lasted long enough starts the next backoff from its beginning.
    if (Date.now() - slot.startedAt >= (this.opts.backoff ?? DEFAULT_BACKOFF).maxMs) slot.backoff.reset();
    this.scheduleRestart(slot, err);
  }

  private scheduleRestart(slot: Slot, err: unknown): void {
    if (this.stopped) return;
    const delay = slot.backoff.next();
    this.opts.log.warn({ module: slot.module.name, err: messageOf(err), retryInMs: delay }, `module ${slot.module.name} is down; restarting it in ${delay} ms`);
    this.set(slot, 'backoff', messageOf(err));
    slot.retry = setTimeout(() => {
      slot.retry = undefined;
      if (this.stopped) return;
      slot.health.restarts++;
      void this.startSlot(slot).then((e) => {
        if (e === undefined) this.opts.log.info({ module: slot.module.name, restarts: slot.health.restarts }, `module ${slot.module.name} is running again`);
        else this.scheduleRestart(slot, e);
      });
    }, delay);
    slot.retry.unref();
  }

  /** Stops the current run once (waiting for its start to settle first); the state becomes `then`. */
  private stopSlot(slot: Slot, then: ModuleState, err?: unknown): Promise<void> {
    if (!slot.run) return Promise.resolve();
    const run = slot.run;
    slot.stopping ??= (async () => {
      if (!run.signal.aborted) run.abort(new Error('stopping'));
      await slot.started?.catch(() => undefined);
      try {
        await slot.module.stop();
      } catch (e) {
        this.opts.log.error({ err: e, module: slot.module.name }, `module ${slot.module.name} did not stop cleanly`);
      }
      if (slot.run === run) slot.run = undefined;
      slot.started = undefined;
      this.set(slot, then, err === undefined ? undefined : messageOf(err));
    })();
    return slot.stopping;
  }

  private set(slot: Slot, state: ModuleState, error?: string): void {
    if (slot.health.state === state && slot.health.error === error) return;
    slot.health = { ...slot.health, state, since: new Date().toISOString(), ...(error === undefined ? { error: undefined } : { error }) };
    if (error === undefined) delete slot.health.error;
    this.emit('health', { ...slot.health });
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
