import { GedgeError } from '../core/index.ts';

/** The agent for a node is not connected, so a live operation (logs) cannot reach it. */
export class AgentOfflineError extends GedgeError {
  override readonly status = 503;
  override readonly code = 'AgentOffline';
}
