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
