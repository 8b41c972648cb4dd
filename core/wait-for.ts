import { TimeoutError } from './errors.ts';

type Falsy = false | 0 | '' | null | undefined;

/**
 * Polls `probe` until it returns something truthy and returns that; after
 * `timeoutMs` fails with a TimeoutError naming `what` (and the probe's last
 * error, if it threw).
 */
export async function waitFor<T>(probe: () => T | Promise<T>, timeoutMs: number, what: string, everyMs = 50): Promise<Exclude<T, Falsy>> {
  const end = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as Exclude<T, Falsy>;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > end) {
      throw new TimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
