import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { GedgeError, RangeNotSatisfiableError, parseOrThrow } from '../../core/index.ts';
import { ADMIN_OR_USER } from '../auth/access.ts';
import type { ModelArtifacts } from '../services/models.ts';

const paramsSchema = z.object({ project: z.string(), digest: z.string() });
const URL = '/api/v1/projects/:project/artifacts/:digest';

/**
 * Model artifacts over HTTP (center/services/models.ts does the rest):
 * `PUT` streams the raw file (application/octet-stream) under the digest the
 * client computed, and the center stores it only if the body hashes to it;
 * `GET` serves it with byte ranges, so a download cut off resumes where it
 * stopped; `HEAD` says whether it is there; `DELETE` removes one no model
 * version uses. Only this route takes a binary body: it is registered in a
 * scope of its own, the rest of the API keeps its 1 MiB text bodies.
 */
export function registerArtifactRoutes(app: FastifyInstance, artifacts: ModelArtifacts): void {
  void app.register(async (scope) => {
    scope.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
    const auth = { config: { auth: ADMIN_OR_USER } };
    const target = (req: FastifyRequest) => parseOrThrow(paramsSchema, req.params, 'path');

    scope.put(URL, auth, async (req, reply) => {
      const { project, digest } = target(req);
      const length = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
      const body = (req.body as Readable | undefined) ?? req.raw;
      try {
        const { info, created } = await artifacts.upload(req.token, project, digest, body, length);
        return await reply.status(created ? 201 : 200).send(info);
      } catch (e) {
        // What is left of a refused body is not read: the connection closes after the answer.
        if (e instanceof GedgeError && !body.readableEnded) void reply.header('connection', 'close');
        throw e;
      }
    });

    scope.get(URL, auth, async (req, reply) => {
      const { project, digest } = target(req);
      const size = (await artifacts.facts(req.token, project, digest)).size;
      const range = byteRange(req.headers.range, size);
      const { info, stream } = await artifacts.download(req.token, project, digest, range);
      return send(reply, info, stream, range);
    });

    // A node fetches the files its instances serve, with its credential and certificate; resumable like the above.
    scope.get('/api/v1/node/artifacts/:project/:digest', { config: { auth: ['node'] } }, async (req, reply) => {
      const { project, digest } = target(req);
      const node = req.token!.subject ?? '';
      const size = (await artifacts.factsForNode(node, project, digest)).size;
      const range = byteRange(req.headers.range, size);
      const { info, stream } = await artifacts.forNode(node, project, digest, range);
      return send(reply, info, stream, range);
    });

    scope.delete(URL, auth, async (req) => {
      const { project, digest } = target(req);
      return artifacts.delete(req.token, project, digest);
    });
  });
}

function send(reply: FastifyReply, info: { digest: string; size: number }, stream: Readable, range?: { start: number; end: number }) {
  void reply.header('accept-ranges', 'bytes').header('etag', `"${info.digest}"`).type('application/octet-stream');
  if (!range) return reply.header('content-length', info.size).send(stream);
  return reply.status(206).header('content-range', `bytes ${range.start}-${range.end}/${info.size}`).header('content-length', range.end - range.start + 1).send(stream);
}

/** One `bytes=START-` or `bytes=START-END` range (what a resumed download asks); undefined for none. Several ranges or a suffix range are not served. */
function byteRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d{1,15})-(\d{1,15})?$/.exec(header.trim());
  const start = m ? Number(m[1]) : NaN;
  const end = m?.[2] === undefined ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (!m || start >= size || end < start) {
    throw new RangeNotSatisfiableError(`range "${header.slice(0, 80)}" is not within the ${size} bytes`, { details: [{ path: 'range', message: `bytes=START- or bytes=START-END, START below ${size}` }] });
  }
  return { start, end };
}
