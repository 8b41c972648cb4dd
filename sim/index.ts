/**
 * Simulators that drive the platform like a real deployment: real MQTT
 * devices on the edge brokers, provisioned through the API. The CLI runs
 * them (`gedge sim traffic`); scenarios and benchmarks start them in-process.
 */
export { startTrafficSim, type TrafficSim, type TrafficSimOptions } from './traffic/traffic-sim.ts';
export { parseDuration, parseIncident, trafficOptionsSchema, type IncidentSpec, type TrafficOptions, type TrafficOptionsInput } from './traffic/options.ts';
export { formatStats, formatSummary, quantile, type IntersectionStats, type LatencySummary, type TrafficStats, type ViaStats } from './traffic/stats.ts';
export { APPROACHES, GREEN_MAX_MS, GREEN_MIN_MS, IntersectionModel, defaultModelConfig, type Approach, type ModelConfig, type Phase, type SignalCommand } from './traffic/model.ts';
export { SIM_CREDENTIAL_DESCRIPTION, SIM_LABEL } from './traffic/provision.ts';
export type { Via } from './traffic/signal-command.ts';
export type { IntersectionLayout } from './traffic/layout.ts';
export * from './errors.ts';
export { CITY_PROJECT, deploySmartCity, deploySmartCityVehicles, type SmartCityDeployment, type SmartCityOptions } from './scenario/smart-city.ts';
export { DEFAULT_WAN, Wan, parseOutage, type Outage, type WanDelays } from './scenario/wan.ts';
export { LinkEmulator, type LinkEvent, type LinkOptions } from './net/link-emulator.ts';
export { AIRPORT_PROJECT, deployAirport, rollToExit2, type AirportOptions } from './scenario/airport.ts';
export { CCTV_CREDENTIAL_DESCRIPTION, startCctvSim, type CctvSim, type CctvSimOptions, type CctvStats } from './cctv/cctv-sim.ts';
export { startVehicleSim, type VehicleSim, type VehicleSimOptions } from './vehicles/vehicles-sim.ts';
export { parseResolvers, parseVehicleOptions, type VehicleOptions, type VehicleOptionsInput } from './vehicles/options.ts';
export { formatVehicleStats, type VehicleStats } from './vehicles/vehicle-stats.ts';
export type { Handover } from './vehicles/vehicle.ts';
export { VEHICLES_CREDENTIAL_DESCRIPTION, type AssistWindow, type VehicleReport } from './vehicles/reporter.ts';
