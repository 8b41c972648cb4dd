import mqemitter, { type MQEmitter } from 'mqemitter';

/** Queued messages handled in one synchronous chain before the rest go on from a fresh stack. */
export const MAX_SYNC_CHAIN = 100;

interface Internals {
  _do(message: unknown, cb: () => void): unknown;
  current: number;
}

/**
 * The message emitter aedes routes through (mqemitter, as aedes makes it),
 * guarded against a stack overflow. Once `concurrency` messages are in
 * flight, mqemitter queues the next ones, and as each delivery completes it
 * starts the next queued message inside that completion; when deliveries
 * complete synchronously (no subscriber, or internal ones), a long queue is
 * drained in one ever deeper recursion that overflows the stack and kills
 * the agent (mcollina/mqemitter#204: many devices streaming while a rule's
 * results go out). After MAX_SYNC_CHAIN nested messages, the next ones are
 * put off to the next turn of the event loop, in order; each holds its slot
 * meanwhile, so messages emitted later still come after them.
 */
export function guardedEmitter(concurrency: number): MQEmitter {
  const mq = mqemitter({ concurrency, matchEmptyLevels: true });
  const inner = mq as unknown as Internals;
  const run = inner._do;
  let depth = 0;
  /** Messages put off to a fresh stack, oldest first; each holds its slot meanwhile. */
  const later: [unknown, () => void][] = [];
  let scheduled = false;
  const runGuarded = (message: unknown, cb: () => void): void => {
    depth++;
    try {
      run.call(mq, message, cb);
    } finally {
      depth--;
    }
  };
  const drainLater = (): void => {
    scheduled = false;
    for (let n = 0; later.length && n < MAX_SYNC_CHAIN * 10; n++) {
      const [message, cb] = later.shift()!;
      inner.current--;
      runGuarded(message, cb);
    }
    if (later.length && !scheduled) {
      scheduled = true;
      setImmediate(drainLater);
    }
  };
  inner._do = function guardedDo(message, cb) {
    // Too deep, or older messages already put off: this one goes behind them.
    if (depth >= MAX_SYNC_CHAIN || later.length) {
      inner.current++;
      later.push([message, cb]);
      if (!scheduled) {
        scheduled = true;
        setImmediate(drainLater);
      }
      return mq;
    }
    runGuarded(message, cb);
    return mq;
  };
  return mq;
}
