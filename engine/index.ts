/** The streaming SQL rule engine (docs/rules.md, docs/rules-sql.md): pure, fed by the agent's edge broker. */
export { Engine, MAX_HOPS, type CheckpointStore, type EngineDeps, type Origin, type RuleDefinition } from './engine.ts';
export { compileQuery, TWINS_TABLE } from './compile.ts';
export { SqlError } from './language/errors.ts';
export { LATENCY_BUCKETS_MS, type DroppedSample, type RuleMetricsSnapshot } from './metrics.ts';
export { systemClock, type Clock, type RuleState } from './rule-runner.ts';
export type { TableSpec } from './tables.ts';
