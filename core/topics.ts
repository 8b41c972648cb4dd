/** MQTT topic names and filters ([MQTT-4.7]): matching, coverage, validity. Pure, shared by the edge broker and the rule engine. */

const SLASH = 47;
const PLUS = 43;
const HASH = 35;
const DOLLAR = 36;

/**
 * Whether topic name `topic`, read from index `from` on, matches `filter`
 * (assumed valid). Walks both strings once and allocates nothing, because it
 * runs for every message. `#` also matches the parent level ([MQTT-4.7.1-2]),
 * `+` exactly one level, possibly empty ([MQTT-4.7.1-3]); a filter starting
 * with a wildcard does not match a `$` topic ([MQTT-4.7.2-1]).
 */
export function topicMatches(filter: string, topic: string, from = 0): boolean {
  const fl = filter.length;
  const tl = topic.length;
  let f = 0;
  let t = from;
  if (tl > t && topic.charCodeAt(t) === DOLLAR && fl > 0) {
    const first = filter.charCodeAt(0);
    if (first === PLUS || first === HASH) return false;
  }
  while (f < fl) {
    const c = filter.charCodeAt(f);
    if (c === HASH) return true;
    if (c === PLUS) {
      while (t < tl && topic.charCodeAt(t) !== SLASH) t++;
      f++;
    } else if (t < tl && topic.charCodeAt(t) === c) {
      f++;
      t++;
    } else {
      // "a/#" matches "a": the topic ended right where the filter's "/#" starts.
      return t === tl && c === SLASH && f + 2 === fl && filter.charCodeAt(f + 1) === HASH;
    }
  }
  return t === tl;
}

/**
 * Whether every topic that `inner` matches is also matched by `outer` (both
 * valid filters). Conservative: a false answer may be wrong only in favour of
 * refusing (e.g. "+/#" does cover "#", but is not said to).
 */
export function filterCovers(outer: string, inner: string): boolean {
  const o = outer.split('/');
  const n = inner.split('/');
  for (let i = 0; i < o.length; i++) {
    const ol = o[i];
    if (ol === '#') return true;
    const nl = n[i];
    if (nl === undefined || nl === '#') return false;
    if (ol !== '+' && nl !== ol) return false;
  }
  return o.length === n.length;
}

/**
 * A filter a device may use: not empty, not a reserved `$` topic, wildcards
 * only as whole levels and `#` only last ([MQTT-4.7.1-1], [MQTT-4.7.1-2]), no NUL.
 */
export function isValidFilter(filter: string): boolean {
  const last = filter.length - 1;
  if (last < 0 || filter.charCodeAt(0) === DOLLAR) return false;
  for (let i = 0; i <= last; i++) {
    const c = filter.charCodeAt(i);
    if (c === 0) return false;
    if (c === PLUS || c === HASH) {
      const wholeLevel = (i === 0 || filter.charCodeAt(i - 1) === SLASH) && (i === last || filter.charCodeAt(i + 1) === SLASH);
      if (!wholeLevel || (c === HASH && i !== last)) return false;
    }
  }
  return true;
}

/** A topic name a device or the agent may publish to: not empty, no wildcards, no NUL, not `$`. */
export function isValidTopic(topic: string): boolean {
  if (topic.length === 0 || topic.charCodeAt(0) === DOLLAR) return false;
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === PLUS || c === HASH || c === 0) return false;
  }
  return true;
}

/** A device's twin requests: under its `devices/<name>/twin/` it may publish these and nothing else (the edge writes the rest: agent/devices/twin.ts). */
export type TwinRequest = 'ack' | 'reported' | 'get';
export const isTwinRequest = (leaf: string): leaf is TwinRequest => leaf === 'get' || leaf === 'reported' || leaf === 'ack';
