import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { UnauthorizedError, ForbiddenError, nowIso } from '../../core/index.ts';
import type { Store, TokenKind, TokenRecord } from '../store/store.ts';

/**
 * Bearer tokens look like `gdg_<id>_<secret>`: the id finds the record, the
 * secret is compared against its sha256 (secrets are random 256-bit values,
 * so a fast hash suffices; no password is ever stored). The prefix lets
 * secret scanners recognise a leaked token.
 */
const FORMAT = /^gdg_([a-f0-9]{16})_([A-Za-z0-9_-]{43})$/;

export interface IssuedToken {
  token: string;
  record: TokenRecord;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export async function issueToken(
  store: Store,
  kind: TokenKind,
  opts: { subject?: string | null; ttlMs?: number | null; description?: string; projects?: string[] } = {},
): Promise<IssuedToken> {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const record: TokenRecord = {
    id,
    kind,
    hash: hashSecret(secret),
    description: opts.description ?? '',
    subject: opts.subject ?? null,
    createdAt: nowIso(),
    expiresAt: opts.ttlMs ? new Date(Date.now() + opts.ttlMs).toISOString() : null,
    usedAt: null,
    projects: kind === 'user' ? [...new Set(opts.projects ?? [])].sort() : [],
  };
  await store.tokens.insert(record);
  return { token: `gdg_${id}_${secret}`, record };
}

/** Checks a bearer header and the token's kind; throws Unauthorized/Forbidden with a reason. */
export async function authenticate(store: Store, header: string | undefined, allowed: TokenKind[]): Promise<TokenRecord> {
  if (!header) throw new UnauthorizedError('missing bearer token', { details: [{ path: 'authorization', message: 'required' }] });
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  const parts = m ? FORMAT.exec(m[1]!) : null;
  if (!parts) throw new UnauthorizedError('malformed bearer token', { details: [{ path: 'authorization', message: 'expected "Bearer gdg_…"' }] });
  const record = await store.tokens.get(parts[1]!);
  const given = Buffer.from(hashSecret(parts[2]!), 'hex');
  if (!record || !timingSafeEqual(given, Buffer.from(record.hash, 'hex'))) {
    throw new UnauthorizedError('invalid token', { details: [{ path: 'authorization', message: 'unknown or revoked' }] });
  }
  if (record.expiresAt && Date.parse(record.expiresAt) <= Date.now()) {
    throw new UnauthorizedError('token expired', { details: [{ path: 'authorization', message: `expired at ${record.expiresAt}` }] });
  }
  if (!allowed.includes(record.kind)) {
    throw new ForbiddenError(`a ${record.kind} token cannot do this`, { details: [{ path: 'authorization', message: `needs one of: ${allowed.join(', ')}` }] });
  }
  return record;
}

/** On first start: creates the admin token and returns it (once); undefined when one exists. */
export async function bootstrapAdmin(store: Store): Promise<string | undefined> {
  const existing = (await store.tokens.list({ kinds: ['admin'] })).length > 0;
  if (existing) return undefined;
  return (await issueToken(store, 'admin', { description: 'bootstrap admin' })).token;
}
