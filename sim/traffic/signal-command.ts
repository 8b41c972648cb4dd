import { z } from 'zod';
import type { SignalCommand } from './model.ts';

/**
 * The payloads a traffic light accepts: a command on
 * `signals/<site>/<intersection>/set`, or its desired twin (docs/broker.md).
 * Unknown keys are ignored, so a rule may send its whole row.
 */
export type Via = 'edge' | 'cloud' | 'unknown';
export const VIAS: readonly Via[] = ['edge', 'cloud', 'unknown'];

const commandSchema = z.object({
  greenNsMs: z.number().finite().optional(),
  greenEwMs: z.number().finite().optional(),
  phase: z.enum(['NS', 'EW']).optional(),
  /** When the sensor message that led to this decision was sent (ms since the epoch). */
  sensorTs: z.number().finite().optional(),
  via: z.enum(['edge', 'cloud']).optional(),
});

export interface ParsedCommand {
  command: SignalCommand;
  sensorTs?: number;
  via: Via;
}

/** A command's payload, or a reason it is not one. */
export function parseCommand(payload: Buffer | string, defaultVia: Via = 'unknown'): ParsedCommand | { error: string } {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString());
  } catch {
    return { error: 'not JSON' };
  }
  return fromObject(json, defaultVia);
}

/**
 * A desired twin `{version, desired}`: the desired document is read as a
 * command that came from the cloud (the only writer of desired state) unless
 * it names its `via`.
 */
export function parseDesired(payload: Buffer | string): { version: number; parsed: ParsedCommand | { error: string } } | { error: string } {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString());
  } catch {
    return { error: 'not JSON' };
  }
  const doc = z.object({ version: z.number().int().nonnegative(), desired: z.record(z.string(), z.unknown()) }).safeParse(json);
  if (!doc.success) return { error: 'not a desired twin document' };
  return { version: doc.data.version, parsed: fromObject(doc.data.desired, 'cloud') };
}

function fromObject(json: unknown, defaultVia: Via): ParsedCommand | { error: string } {
  const r = commandSchema.safeParse(json);
  if (!r.success) return { error: r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') };
  const { sensorTs, via, ...command } = r.data;
  const out: ParsedCommand = { command: stripUndefined(command), via: via ?? defaultVia };
  if (sensorTs !== undefined) out.sensorTs = sensorTs;
  return out;
}

function stripUndefined(c: SignalCommand): SignalCommand {
  const out: SignalCommand = {};
  if (c.greenNsMs !== undefined) out.greenNsMs = c.greenNsMs;
  if (c.greenEwMs !== undefined) out.greenEwMs = c.greenEwMs;
  if (c.phase !== undefined) out.phase = c.phase;
  return out;
}
