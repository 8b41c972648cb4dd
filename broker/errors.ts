/** Named broker errors. They stay inside the agent, which logs them. */
export class BrokerError extends Error {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = new.target.name;
  }
}

/** The broker could not listen (bad address, address in use, no permission). */
export class BrokerListenError extends BrokerError {}

/** A topic or filter the broker cannot take (empty, reserved `$`, misplaced wildcard), or an unknown project name. */
export class InvalidTopicError extends BrokerError {}
