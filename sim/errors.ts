import { GedgeError } from '../core/index.ts';

/** Named errors of the simulators; the CLI prints their message and details. */
export class SimConfigError extends GedgeError {
  override readonly status = 422;
  override readonly code = 'Invalid';
}

/** A site the simulation needs has no node whose edge broker devices could reach. */
export class NoBrokerError extends GedgeError {
  override readonly status = 409;
  override readonly code = 'NoBroker';
}

/** A device of the simulation cannot be provisioned as planned (e.g. it exists at another site). */
export class ProvisionError extends GedgeError {
  override readonly status = 409;
  override readonly code = 'Provision';
}

/** Devices did not connect to their edge broker in time. */
export class ConnectTimeoutError extends GedgeError {
  override readonly status = 504;
  override readonly code = 'Timeout';
}
