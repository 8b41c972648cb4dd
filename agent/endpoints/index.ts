import { z } from 'zod';
import { endpointSetSchema, nameSchema } from '../../core/index.ts';
import type { AgentParts } from '../parts.ts';
import type { EndpointsMessage } from './endpoint-table.ts';

export { EndpointTable, type EndpointsMessage, type Vantage } from './endpoint-table.ts';
export { Endpoints } from './endpoints.ts';

/** Local state's keys: the directory (resolving offline and across restarts) and the ports the endpoints listened on. */
export const DIRECTORY_KEY = 'endpoints';
export const PORTS_KEY = 'endpoint-ports';

/**
 * The directory from local state, as the center last sent it (state module).
 * One that does not read as a directory (damaged, or of another version) is
 * dropped with a warning: the center sends the whole directory again after
 * the next hello, and the agent starts meanwhile.
 */
export async function loadDirectory(p: Pick<AgentParts, 'state' | 'endpointTable' | 'log'>): Promise<void> {
  const saved = await p.state.meta(DIRECTORY_KEY);
  if (!saved) return;
  let sets: unknown;
  try {
    sets = JSON.parse(saved);
  } catch {
    sets = undefined;
  }
  const parsed = z.object({ sets: z.array(endpointSetSchema), nodes: z.array(nameSchema) }).safeParse(sets);
  if (parsed.success) p.endpointTable.apply({ full: true, sets: parsed.data.sets, gone: [], nodes: parsed.data.nodes });
  else p.log.warn({ event: 'endpoints' }, 'the endpoint directory in local state is not readable: dropped until the center sends it again');
}

/** The center's directory message: applied, kept in local state, and the endpoints' listeners matched to it. */
export async function applyDirectory(p: Pick<AgentParts, 'state' | 'endpointTable' | 'endpoints'>, m: EndpointsMessage): Promise<void> {
  if (!p.endpointTable.apply(m)) return;
  try {
    await p.state.setMeta(DIRECTORY_KEY, JSON.stringify({ sets: p.endpointTable.all(), nodes: p.endpointTable.nodes() }));
  } finally {
    // Served as it stands even when it could not be kept.
    await p.endpoints?.sync();
  }
}

/** The endpoints' ports as local state keeps them; a damaged record is as none (they listen on new ports, which the resolver says). */
export function savedPorts(text: string | undefined): Record<string, number> {
  try {
    const parsed = z.record(z.string(), z.number().int().min(1).max(65535)).safeParse(JSON.parse(text ?? '{}'));
    return parsed.success ? parsed.data : {};
  } catch {
    return {};
  }
}
