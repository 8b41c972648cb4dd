import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { DEFAULT_PROJECT, GedgeError, RangeNotSatisfiableError, parseOrThrow } from '../../core/index.ts';
import { ADMIN_OR_USER } from '../auth/access.ts';
import type { ModelArtifacts } from '../services/models.ts';

/** The query of every artifact route (also for OpenAPI): the project that holds the file. */
export const artifactQuerySchema = z.object({ project: z.string().default(DEFAULT_PROJECT) });
const paramsSchema = z.object({ digest: z.string() });
const URL = '/api/v1/artifacts/:digest';
const NODE_URL = '/api/v1/node/artifacts/:digest';
/**
 * Deprecated: where agents of the previous release fetch model files (the
 * project in the path). Served so that a center upgraded before its agents
 * still feeds them; agents now fetch NODE_URL. Answers carry a Warning
 * saying so (as Kubernetes warns of a deprecated API).
 */
export const LEGACY_NODE_URL = '/api/v1/node/artifacts/:project/:digest';
const LEGACY_WARNING = '299 - "GET /api/v1/node/artifacts/{project}/{digest} is deprecated: use /api/v1/node/artifacts/{digest}?project="';

/**
 * Model artifacts over HTTP (center/services/models.ts does the rest),
 * addressed as `/api/v1/artifacts/{digest}?project=`:
 * `PUT` streams the raw file (application/octet-stream) under the digest the
 * client computed, and the center stores it only if the body hashes to it;
 * `GET` serves it with byte ranges, so a download cut off resumes where it
 * stopped; `HEAD` says whether it is there (and its size) without opening it;
 * `DELETE` removes one no model version uses. Only this route takes a binary
 * body: it is registered in a scope of its own, the rest of the API keeps its
 * 1 MiB text bodies.
 */
export function registerArtifactRoutes(app: FastifyInstance, artifacts: ModelArtifacts): void {
  void app.register(async (scope) => {
    scope.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
    const auth = { config: { auth: ADMIN_OR_USER } };
    const target = (req: FastifyRequest) => ({
      digest: parseOrThrow(paramsSchema, req.params, 'path').digest,
      project: parseOrThrow(artifactQuerySchema, req.query, 'query', 'query').project,
    });

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

    // Before the GET: Fastify's own HEAD for a GET would open the file only to drop its bytes.
    scope.head(URL, auth, async (req, reply) => {
      const { project, digest } = target(req);
      const info = await artifacts.facts(req.token, project, digest);
      return reply.header('accept-ranges', 'bytes').header('etag', `"${info.digest}"`).header('content-length', info.size).type('application/octet-stream').send();
    });

    scope.get(URL, auth, async (req, reply) => {
      const { project, digest } = target(req);
      const size = (await artifacts.facts(req.token, project, digest)).size;
      const range = byteRange(req.headers.range, size);
      const { info, stream } = await artifacts.download(req.token, project, digest, range);
      return send(reply, info, stream, range);
    });

    // A node fetches the files its instances serve, with its credential and certificate; resumable like the above.
    const forNode = async (req: FastifyRequest, reply: FastifyReply, project: string, digest: string) => {
      const node = req.token!.subject ?? '';
      const size = (await artifacts.factsForNode(node, project, digest)).size;
      const range = byteRange(req.headers.range, size);
      const { info, stream } = await artifacts.forNode(node, project, digest, range);
      return send(reply, info, stream, range);
    };
    scope.get(NODE_URL, { config: { auth: ['node'] } }, async (req, reply) => {
      const { project, digest } = target(req);
      return forNode(req, reply, project, digest);
    });
    scope.get(LEGACY_NODE_URL, { config: { auth: ['node'] } }, async (req, reply) => {
      const { project, digest } = parseOrThrow(z.object({ project: z.string(), digest: z.string() }), req.params, 'path');
      void reply.header('warning', LEGACY_WARNING);
      return forNode(req, reply, project, digest);
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
