import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { BadRequestError } from '../../core/index.ts';

/**
 * preParsing hook: inflates a `Content-Encoding: gzip` body. The route's
 * bodyLimit then bounds the inflated size (a small bomb cannot blow up),
 * and `receivedEncodedLength` lets Fastify check Content-Length against the
 * bytes that actually came over the wire.
 */
export async function gunzipBody(req: FastifyRequest, _reply: unknown, payload: Readable): Promise<Readable> {
  const encoding = req.headers['content-encoding'];
  if (encoding === undefined || encoding === 'identity') return payload;
  if (encoding !== 'gzip') throw new BadRequestError(`unsupported content-encoding "${encoding}"`, { details: [{ path: 'content-encoding', message: 'gzip or identity' }] });
  const inflated = createGunzip() as ReturnType<typeof createGunzip> & { receivedEncodedLength: number };
  inflated.receivedEncodedLength = 0;
  payload.on('data', (chunk: Buffer) => (inflated.receivedEncodedLength += chunk.length));
  payload.on('error', (err) => inflated.destroy(err));
  payload.pipe(inflated);
  return inflated;
}
