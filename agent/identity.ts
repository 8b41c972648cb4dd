import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { GedgeError, errorFromBody, type Resources } from '../core/index.ts';

const identitySchema = z.object({ node: z.string(), credential: z.string(), center: z.string() });
export type Identity = z.infer<typeof identitySchema>;

export class JoinError extends GedgeError {
  override readonly code = 'JoinFailed';
}

/**
 * Zero-touch join: a single-use join token is exchanged once for a node
 * identity and credential, kept in the data dir (mode 0600) so that a re-run
 * with the same data dir reuses it and needs no token.
 */
export async function loadOrJoin(opts: {
  dataDir: string;
  center: string;
  joinToken?: string;
  name: string;
  site?: string;
  labels: Record<string, string>;
  capacity: Resources;
}): Promise<{ identity: Identity; joined: boolean }> {
  const file = join(opts.dataDir, 'identity.json');
  if (existsSync(file)) return { identity: identitySchema.parse(JSON.parse(readFileSync(file, 'utf8'))), joined: false };
  if (!opts.joinToken) throw new JoinError(`no identity in ${opts.dataDir} and no join token given (--join-token)`);
  const res = await fetch(new URL('/api/v1/join', opts.center), {
    method: 'POST',
    headers: { authorization: `Bearer ${opts.joinToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: opts.name, site: opts.site, labels: opts.labels, capacity: opts.capacity }),
  }).catch((cause: unknown) => {
    throw new JoinError(`cannot reach the center at ${opts.center}`, { cause });
  });
  const body = (await res.json().catch(() => ({}))) as { credential?: string; node?: { metadata: { name: string } }; code?: string; message?: string };
  if (!res.ok || !body.credential || !body.node) {
    const err = errorFromBody(res.status, body);
    throw new JoinError(`join refused: ${err.message}`, { cause: err, details: err.details });
  }
  const identity: Identity = { node: body.node.metadata.name, credential: body.credential, center: opts.center };
  mkdirSync(opts.dataDir, { recursive: true });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(identity, null, 2), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return { identity, joined: true };
}
