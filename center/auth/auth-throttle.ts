import { GedgeError } from '../../core/index.ts';

/** Too many failed authentications from one address: 429 until the window has room again. */
export class TooManyFailuresError extends GedgeError {
  override readonly status = 429;
  override readonly code = 'TooManyRequests';
}

export interface AuthThrottleOptions {
  /** Failures one address may have within `windowMs` before it is refused without a check. */
  maxFailures: number;
  windowMs: number;
  /** Addresses tracked at once; the stalest are forgotten first (a flood of addresses cannot grow memory). */
  maxAddresses: number;
}

const DEFAULTS: AuthThrottleOptions = { maxFailures: 20, windowMs: 60_000, maxAddresses: 10_000 };

/**
 * Slows down guessing: an address with `maxFailures` failed authentications
 * in the last `windowMs` is answered 429 before its token is looked at, until
 * its oldest failure leaves the window. Successes do not reset the count (a
 * guesser holding one valid token gains nothing).
 */
export class AuthThrottle {
  private readonly failures = new Map<string, number[]>();
  private readonly o: AuthThrottleOptions;

  constructor(o: Partial<AuthThrottleOptions> = {}, private readonly now: () => number = Date.now) {
    this.o = { ...DEFAULTS, ...o };
  }

  /** Throws TooManyFailuresError while `address` is over its budget. */
  check(address: string | undefined): void {
    const times = this.recent(address ?? '?');
    if (times.length < this.o.maxFailures) return;
    const retryS = Math.max(1, Math.ceil((times[0]! + this.o.windowMs - this.now()) / 1000));
    throw new TooManyFailuresError(`too many failed authentications from this address; retry in ${retryS} s`, { details: [{ path: 'authorization', message: `at most ${this.o.maxFailures} failures per ${this.o.windowMs / 1000} s` }] });
  }

  failed(address: string | undefined): void {
    const key = address ?? '?';
    const times = this.recent(key);
    times.push(this.now());
    // Re-inserted, so the map's order is least recently failed first.
    this.failures.delete(key);
    this.failures.set(key, times);
    if (this.failures.size > this.o.maxAddresses) this.failures.delete(this.failures.keys().next().value!);
  }

  private recent(key: string): number[] {
    const times = this.failures.get(key) ?? [];
    const cutoff = this.now() - this.o.windowMs;
    while (times.length && times[0]! <= cutoff) times.shift();
    if (!times.length) this.failures.delete(key);
    return times;
  }
}

/**
 * Authenticates a request's bearer header through the throttle: refused at
 * once while its address is over budget; a presented token that fails counts
 * against the address (a missing one does not: nothing was guessed).
 */
export async function throttledAuthenticate<T>(throttle: AuthThrottle, address: string | undefined, header: string | undefined, authenticate: () => Promise<T>): Promise<T> {
  throttle.check(address);
  try {
    return await authenticate();
  } catch (e) {
    if (header && e instanceof GedgeError && e.status === 401) throttle.failed(address);
    throw e;
  }
}
