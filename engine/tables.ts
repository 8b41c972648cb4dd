import type { LookupTable } from './query.ts';
import { member, type Value } from './values.ts';

/** A rule's lookup table (spec.tables): rows given with the rule, or the latest message per key from a topic. */
export type TableSpec = { rows: Record<string, unknown>[] } | { topic: string; key: string };

const keyOf = (v: Value): string => (typeof v === 'string' ? `s${v}` : JSON.stringify(v ?? null));

/** Rows given with the rule; an index per joined column, built on first use. */
export class StaticTable implements LookupTable {
  private readonly indexes = new Map<string, Map<string, Value>>();
  constructor(private readonly data: Record<string, unknown>[]) {}

  find(column: string, key: Value): Value | undefined {
    let index = this.indexes.get(column);
    if (!index) {
      index = new Map();
      for (const r of this.data) {
        const k = keyOf(member(r, column));
        if (!index.has(k)) index.set(k, r);
      }
      this.indexes.set(column, index);
    }
    return index.get(keyOf(key));
  }

  rows(): Iterable<Value> {
    return this.data;
  }
}

/** At most this many keys in a topic table; a new key beyond it replaces nothing and is counted by the caller. */
export const MAX_TABLE_ROWS = 100_000;

/** The latest JSON object per key field seen on a topic (e.g. each signal's last state). */
export class TopicTable implements LookupTable {
  private readonly byKey = new Map<string, Value>();
  constructor(
    readonly topic: string,
    private readonly key: string,
  ) {}

  /** False when the payload is not an object with the key field, or the table is full. */
  put(value: Value): boolean {
    const k = member(value, this.key);
    if (k === null || typeof value !== 'object' || Array.isArray(value)) return false;
    const id = keyOf(k);
    if (!this.byKey.has(id) && this.byKey.size >= MAX_TABLE_ROWS) return false;
    this.byKey.set(id, value);
    return true;
  }

  find(column: string, key: Value): Value | undefined {
    if (column === this.key) return this.byKey.get(keyOf(key));
    for (const r of this.byKey.values()) if (keyOf(member(r, column)) === keyOf(key)) return r;
    return undefined;
  }

  rows(): Iterable<Value> {
    return this.byKey.values();
  }
}

/** The built-in `twins` table of a project, read through the agent's device service; joined by device only. */
export class TwinsTable implements LookupTable {
  constructor(private readonly twin: (device: string) => Value | undefined) {}

  find(column: string, key: Value): Value | undefined {
    return column === 'device' && typeof key === 'string' ? this.twin(key) : undefined;
  }

  rows(): Iterable<Value> {
    return [];
  }
}
