import type { EgressPolicy } from '../../core/index.ts';
import type { Reader } from '../controllers/object-cache.ts';
import type { TokenHolds } from '../auth/token-holds.ts';
import type { Store } from '../store/store.ts';
import type { Telemetry } from '../telemetry/telemetry.ts';
import { CenterStatus } from './center-status.ts';
import { DeviceCredentials } from './device-credentials.ts';
import { Instances } from './instances.ts';
import { Objects } from './objects.ts';
import { FleetView } from './overview.ts';
import { Rollouts } from './rollouts.ts';
import { Tokens, type NodePki } from './tokens.ts';
import { Watches } from './watches.ts';
import { ModelArtifacts } from './models.ts';
import type { ArtifactStore } from '../artifacts/artifact-store.ts';

/**
 * The center's service layer: everything the routes may ask, each part
 * taking a caller identity where access matters and knowing no transport.
 * Routes are handed these, never the store (the `routes-through-services`
 * dependency rule holds them to it).
 */
export interface CenterServices {
  objects: Objects;
  watches: Watches;
  rollouts: Rollouts;
  tokens: Tokens;
  deviceCredentials: DeviceCredentials;
  instances: Instances;
  status: CenterStatus;
  fleet: FleetView;
  artifacts: ModelArtifacts;
}

export function centerServices(store: Store, deps: { egress: EgressPolicy; artifacts: ArtifactStore; holds: TokenHolds; pki: NodePki; telemetry: Telemetry; reader: () => Reader }): CenterServices {
  return {
    objects: new Objects(store, { egress: deps.egress, artifacts: deps.artifacts }),
    watches: new Watches(store),
    rollouts: new Rollouts(store),
    tokens: new Tokens(store, deps.holds, deps.pki),
    deviceCredentials: new DeviceCredentials(store, deps.pki.ca),
    instances: new Instances(store),
    status: new CenterStatus(store),
    fleet: new FleetView(deps.reader, store, deps.telemetry),
    artifacts: new ModelArtifacts(store, deps.artifacts),
  };
}
