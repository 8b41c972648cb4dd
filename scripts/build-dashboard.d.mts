/** Builds dashboard/dist when a dashboard source is newer than it; resolves to its path. */
export function ensureDashboardBuilt(): Promise<string>;
export function isDashboardFresh(): boolean;
export const DASHBOARD_DIST: string;
