import type { AgentParts } from '../parts.ts';
import type { EndpointsMessage } from './endpoint-table.ts';

export { EndpointTable, type EndpointsMessage, type Vantage } from './endpoint-table.ts';
export { Endpoints, type ResolvedEndpoint } from './endpoints.ts';

/** Local state's keys: the directory (resolving offline and across restarts) and the ports the endpoints listened on. */
export const DIRECTORY_KEY = 'endpoints';
export const PORTS_KEY = 'endpoint-ports';

/** The directory from local state, as the center last sent it (state module). */
export async function loadDirectory(p: Pick<AgentParts, 'state' | 'endpointTable'>): Promise<void> {
  const saved = await p.state.meta(DIRECTORY_KEY);
  if (saved) p.endpointTable.apply({ full: true, sets: JSON.parse(saved) as EndpointsMessage['sets'], gone: [] });
}

/** The center's directory message: applied, kept in local state, and the endpoints' listeners matched to it. */
export async function applyDirectory(p: Pick<AgentParts, 'state' | 'endpointTable' | 'endpoints'>, m: EndpointsMessage): Promise<void> {
  if (!p.endpointTable.apply(m)) return;
  await p.state.setMeta(DIRECTORY_KEY, JSON.stringify(p.endpointTable.all()));
  await p.endpoints?.sync();
}
