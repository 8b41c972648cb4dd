/**
 * Named network-probing errors. Like the runtime's, they never cross the HTTP
 * API: the agent logs them, and probing failures become null round trips.
 */
export class NetworkError extends Error {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = new.target.name;
  }
}

/** The probe responder could not listen (address in use, no such interface, no permission). */
export class ProbeListenError extends NetworkError {}
