export { registerUplinkRoutes, type UplinkRouteOptions } from './uplink-routes.ts';
export { RouteGoneError, SinkUnavailableError } from './errors.ts';
