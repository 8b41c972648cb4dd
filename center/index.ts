export { startCenter, VERSION, type RunningCenter } from './center.ts';
export { centerConfigSchema, type CenterConfig } from './config.ts';
export type { Store } from './store/store.ts';
export { openSqliteStore } from './store/sqlite-store.ts';
export { openPostgresStore } from './store/postgres-store.ts';
