import type { Resource } from './resources.ts';

/**
 * A secret the center must present as given cannot be stored hashed: an MQTT
 * sink's password, which the center sends to that broker. The API never sends
 * one back (get, list, watch, apply's answer, the agents' feed): it shows
 * this marker instead. Applying the marker back keeps the stored password, as
 * long as the sink's url and username are unchanged (a password is never
 * carried over to another broker or user).
 */
export const REDACTED = '(redacted)';

/** The object as the API shows it: every stored secret replaced by REDACTED. */
export function redactSecrets<T extends Resource>(o: T): T {
  if (o.kind === 'Route' && o.spec.sink.type === 'mqtt' && o.spec.sink.password !== undefined) {
    return { ...o, spec: { ...o.spec, sink: { ...o.spec.sink, password: REDACTED } } };
  }
  return o;
}

/**
 * A response body as it may leave the process: every object in it redacted,
 * wherever it sits (an object, a List's items, apply's answer, a deleted
 * object). The center's HTTP server runs every JSON body through this once
 * (center/api/server.ts), so no handler can forget; streams that write their
 * own bytes (watch, the agents' feed) call redactSecrets themselves.
 */
export function redactBody(body: unknown): unknown {
  if (Array.isArray(body)) {
    let out: unknown[] | undefined;
    body.forEach((v, i) => {
      const r = redactBody(v);
      if (r !== v) (out ??= [...body])[i] = r;
    });
    return out ?? body;
  }
  if (body === null || typeof body !== 'object' || ArrayBuffer.isView(body)) return body;
  const o = body as Record<string, unknown>;
  if (typeof o.kind === 'string' && typeof o.metadata === 'object' && o.metadata !== null) return redactSecrets(o as unknown as Resource);
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(o)) {
    const r = redactBody(v);
    if (r !== v) (out ??= { ...o })[k] = r;
  }
  return out ?? o;
}
