export { registerUplinkRoutes } from './uplink-routes.ts';
export { uplinkModule, type UplinkOptions } from './uplink-module.ts';
export type { UplinkService } from './uplink-service.ts';
export { RouteGoneError, SinkUnavailableError } from './errors.ts';
