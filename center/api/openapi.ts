import { z } from 'zod';
import { DIGEST_PATTERN, KINDS, UPLINK_PATH, modelSignatureSchema, sinkMessagesPageSchema, uplinkAckSchema, uplinkBatchSchema } from '../../core/index.ts';
import { messagesQuerySchema } from '../uplink/uplink-routes.ts';
import { joinRequestSchema, renewRequestSchema, tokenRequestSchema } from './auth-routes.ts';
import { certificateRequestSchema, credentialIssuedSchema, credentialRequestSchema, deviceQuerySchema } from './device-routes.ts';
import { artifactQuerySchema } from './artifact-routes.ts';
import { sessionRequestSchema } from './session-routes.ts';
import { execQuerySchema, logsQuerySchema } from './instance-queries.ts';
import { applyQuerySchema, listQuerySchema, objectQuerySchema, watchQuerySchema } from './resource-routes.ts';
import { rolloutQuerySchema, undoRequestSchema } from './rollout-routes.ts';
import { instanceTelemetryQuerySchema, nodeTelemetryQuerySchema } from '../dashboard/routes.ts';

/**
 * The OpenAPI 3.1 document, generated from the same zod schemas that validate
 * requests. `redocly lint` checks it in npm test (center/api/openapi.test.ts),
 * which also checks that every route the center serves is in it and that
 * every request ApiClient makes is one it describes.
 */
export function openApiDocument(version: string): Record<string, unknown> {
  const schemas: Record<string, unknown> = {};
  for (const k of Object.values(KINDS)) schemas[k.kind] = z.toJSONSchema(k.schema, { io: 'input', unrepresentable: 'any' });
  schemas.TokenRequest = z.toJSONSchema(tokenRequestSchema, { io: 'input' });
  schemas.JoinRequest = z.toJSONSchema(joinRequestSchema, { io: 'input' });
  schemas.DeviceCredentialRequest = z.toJSONSchema(credentialRequestSchema, { io: 'input' });
  schemas.DeviceCertificateRequest = z.toJSONSchema(certificateRequestSchema, { io: 'input' });
  schemas.RenewRequest = z.toJSONSchema(renewRequestSchema, { io: 'input' });
  schemas.SessionRequest = z.toJSONSchema(sessionRequestSchema, { io: 'input' });
  schemas.UndoRequest = z.toJSONSchema(undoRequestSchema, { io: 'input' });
  const issued = z.toJSONSchema(credentialIssuedSchema, { io: 'output', unrepresentable: 'any' }) as { properties: Record<string, unknown> };
  schemas.DeviceCredentialIssued = { ...issued, properties: { ...issued.properties, credential: { $ref: '#/components/schemas/DeviceCredential' } } };
  schemas.UplinkBatch = z.toJSONSchema(uplinkBatchSchema, { io: 'input' });
  schemas.UplinkAck = z.toJSONSchema(uplinkAckSchema, { io: 'output' });
  schemas.SinkMessagesPage = z.toJSONSchema(sinkMessagesPageSchema, { io: 'output' });
  schemas.ArtifactFacts = {
    type: 'object',
    description: 'A model file (kind model, its signature read from it) or a labelled evaluation set (kind eval-set: the input its rows feed, one row\'s dims, rows and classes).',
    required: ['digest', 'size', 'uploadedAt'],
    properties: {
      digest: { type: 'string', pattern: DIGEST_PATTERN.source },
      size: { type: 'integer' },
      kind: { type: 'string', enum: ['model', 'eval-set'] },
      signature: z.toJSONSchema(modelSignatureSchema, { io: 'output' }),
      evalSet: { type: 'object', required: ['input', 'dims', 'rows', 'classes'], properties: { input: { type: 'string' }, dims: { type: 'array', items: { type: 'integer' } }, rows: { type: 'integer' }, classes: { type: 'integer' } } },
      uploadedAt: { type: 'string', format: 'date-time' },
    },
  };
  schemas.Error = {
    type: 'object',
    required: ['code', 'message', 'details'],
    properties: {
      code: { type: 'string' },
      message: { type: 'string' },
      details: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' }, line: { type: 'integer' } } } },
    },
  };
  const ref = (n: string) => ({ $ref: `#/components/schemas/${n}` });
  const errors = { '4XX': { description: 'Client error', content: { 'application/json': { schema: ref('Error') } } } };
  const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
  /** Served without a token. */
  const open = { security: [] };
  // Model files: raw bytes, and the Range header that resumes a download.
  const file = { content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } };
  const rangeHeader = { name: 'range', in: 'header', required: false, schema: { type: 'string', pattern: '^bytes=\\d+-\\d*$' } };
  const inPath = (...names: string[]) => names.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
  const inQuery = (schema: z.ZodType, repeated: string[] = []) =>
    Object.entries((z.toJSONSchema(schema, { io: 'input' }) as { properties: Record<string, unknown> }).properties).map(([name, s]) => ({
      name,
      in: 'query',
      required: name === 'command' || name === 'kinds',
      schema: s,
      ...(repeated.includes(name) ? { style: 'form', explode: true } : {}),
    }));
  const artifactQuery = inQuery(artifactQuerySchema);
  const fileHeaders = { 'content-length': { schema: { type: 'integer' } }, etag: { description: 'The digest, quoted', schema: { type: 'string' } } };
  const text = (description: string, type = 'text/plain') => ({ description, content: { [type]: { schema: { type: 'string' } } } });
  const paths: Record<string, unknown> = {
    '/api/v1/apply': {
      post: {
        operationId: 'applyManifests',
        summary: 'Create or update objects by name (YAML or JSON, one or many documents). dryRun=true validates and admits them and says what would happen, writing nothing',
        parameters: inQuery(applyQuerySchema),
        requestBody: { required: true, content: { 'application/yaml': { schema: { type: 'string' } }, 'application/json': { schema: {} } } },
        responses: { 200: { description: 'Per-object actions: created, configured or unchanged' }, ...errors },
      },
    },
    '/api/v1/watch': {
      get: {
        operationId: 'watchChanges',
        summary:
          'One NDJSON change stream for several kinds (kinds=nodes,instances,...; project narrows namespaced kinds; since=REV resumes). The first line is a BOOKMARK naming the revision the stream starts after; 410 when since was compacted',
        parameters: inQuery(watchQuerySchema),
        responses: { 200: text('{type, revision, object} per line', 'application/x-ndjson'), ...errors },
      },
    },
    '/api/v1/overview': {
      get: { operationId: 'readOverview', summary: "The fleet at a glance for the dashboard: counts and health per kind, per-site nodes and instances, the newest Warning events (of the token's projects)", responses: { 200: { description: 'Overview' }, ...errors } },
    },
    '/api/v1/nodes/{name}/telemetry': {
      get: {
        operationId: 'readNodeTelemetry',
        summary: "A node's usage history (cpu cores, memoryMiB, netRxBps, netTxBps): 10 s points up to 1 h, 5 min points up to 24 h; columns t (epoch seconds) and series, null where nothing was reported",
        parameters: [...inPath('name'), ...inQuery(nodeTelemetryQuerySchema)],
        responses: { 200: { description: 'Telemetry' }, ...errors },
      },
    },
    '/api/v1/instances/{name}/telemetry': {
      get: {
        operationId: 'readInstanceTelemetry',
        summary: "An instance's usage history (cpu cores and memoryMiB of its process tree), as for nodes",
        parameters: [...inPath('name'), ...inQuery(instanceTelemetryQuerySchema)],
        responses: { 200: { description: 'Telemetry' }, ...errors },
      },
    },
    '/api/v1/tokens': {
      get: { operationId: 'listTokens', summary: 'List tokens (no secrets)', responses: { 200: { description: 'Tokens' }, ...errors } },
      post: { operationId: 'createToken', summary: 'Issue a join, admin, user or metrics token (user: `projects` it may use)', requestBody: { required: true, ...json(ref('TokenRequest')) }, responses: { 201: { description: 'The token, shown once' }, ...errors } },
    },
    '/api/v1/tokens/{id}': {
      delete: { operationId: 'deleteToken', summary: 'Revoke a token: what is open in its name (watches, logs, exec, agent sessions) ends at once', parameters: inPath('id'), responses: { 200: { description: '{deleted: id}' }, ...errors } },
    },
    '/api/v1/join': {
      post: { operationId: 'joinNode', summary: "Exchange a join token and a CSR for a node identity, credential and short-lived certificate (the node first pins the center's CA: GET /api/v1/ca)", requestBody: { required: true, ...json(ref('JoinRequest')) }, responses: { 201: { description: 'Node, credential, certificate and the CA' }, ...errors } },
    },
    '/api/v1/ca': {
      get: { operationId: 'readCa', ...open, summary: "The center's CA certificate (PEM) and its pin (sha256 of its SubjectPublicKeyInfo); public: clients check it against the pin they were given", responses: { 200: { description: '{certificate, pin}' }, ...errors } },
    },
    '/api/v1/node/certificate': {
      post: {
        operationId: 'renewNodeCertificate',
        summary: "Renew the calling node's certificate from a CSR, over mutual TLS with its current certificate (or, within the center's grace, its expired one) and its credential",
        requestBody: { required: true, ...json(ref('RenewRequest')) },
        responses: { 201: { description: '{certificate, ca, notAfter}' }, ...errors },
      },
    },
    '/api/v1/session': {
      post: { operationId: 'createSession', ...open, summary: "The dashboard's sign-in: the token goes into an HttpOnly, SameSite=Strict cookie, taken afterwards only with the x-gedge-session header", requestBody: { required: true, ...json(ref('SessionRequest')) }, responses: { 200: { description: '{kind, projects, expiresAt}; Set-Cookie' }, ...errors } },
      get: { operationId: 'readSession', summary: 'The session (or bearer token) in use: kind, projects, expiry', responses: { 200: { description: '{kind, projects, expiresAt}' }, ...errors } },
      delete: { operationId: 'deleteSession', ...open, summary: 'Sign out: clears the session cookie', responses: { 200: { description: '{signedOut: true}' }, ...errors } },
    },
    '/api/v1/instances/{name}/logs': {
      get: {
        operationId: 'readInstanceLogs',
        summary: 'Instance logs, streamed from its edge agent (follow=true keeps streaming; since=10m or an RFC 3339 time, to one second). User tokens: instances of their projects',
        parameters: [...inPath('name'), ...inQuery(logsQuerySchema)],
        responses: { 200: text('The log'), ...errors },
      },
    },
    '/api/v1/instances/{name}/exec': {
      get: {
        operationId: 'execInstance',
        summary:
          'Run a command in a running instance: a WebSocket upgrade (Upgrade: websocket), carried to the edge over its agent\'s connection. Binary frames are one channel byte (0 stdin, 1 stdout, 2 stderr) and the bytes; text frames are JSON: from the client {"type":"resize","cols","rows"} and {"type":"eof"}, from the center {"type":"started"}, then last {"type":"exit","code","signal"} or {"type":"error","message"}. Every check (token, project, instance running, agent connected) answers with a JSON error before the upgrade; each exec is recorded as an Exec event. User tokens: instances of their projects',
        parameters: [...inPath('name'), ...inQuery(execQuerySchema, ['command'])],
        responses: { 101: { description: 'Switching Protocols: the exec stream' }, 400: { description: 'Not a WebSocket upgrade', ...json(ref('Error')) }, ...errors },
      },
    },
    '/api/v1/services/{name}/rollout/undo': {
      post: {
        operationId: 'undoRollout',
        summary: "Go back to a previous revision of a service's template (toRevision, or the one before the current); recorded as a RolloutUndo event",
        parameters: [...inPath('name'), ...inQuery(rolloutQuerySchema)],
        requestBody: { required: false, ...json(ref('UndoRequest')) },
        responses: { 200: { description: 'The service as updated' }, ...errors },
      },
    },
    '/api/v1/services/{name}/rollout/pause': {
      post: { operationId: 'pauseRollout', summary: "Pause a service's rollout where it stands", parameters: [...inPath('name'), ...inQuery(rolloutQuerySchema)], responses: { 200: { description: 'The service as updated' }, ...errors } },
    },
    '/api/v1/services/{name}/rollout/resume': {
      post: { operationId: 'resumeRollout', summary: "Resume a service's paused rollout", parameters: [...inPath('name'), ...inQuery(rolloutQuerySchema)], responses: { 200: { description: 'The service as updated' }, ...errors } },
    },
    '/api/v1/devices/{name}/credentials': {
      post: {
        operationId: 'issueDeviceCredential',
        summary: 'Issue a credential for a device; the password is in this answer only (only its sha256 is stored)',
        parameters: [...inPath('name'), ...inQuery(deviceQuerySchema)],
        requestBody: { required: false, ...json(ref('DeviceCredentialRequest')) },
        responses: { 201: { description: 'The credential and how the device signs in', ...json(ref('DeviceCredentialIssued')) }, ...errors },
      },
    },
    '/api/v1/devices/{name}/certificates': {
      post: {
        operationId: 'signDeviceCertificate',
        summary: "Sign a device's CSR as an X.509 client certificate (CN=<project>/<device>) from the center's CA; recorded as a DeviceCredential named by its serial (delete it to revoke)",
        parameters: [...inPath('name'), ...inQuery(deviceQuerySchema)],
        requestBody: { required: true, ...json(ref('DeviceCertificateRequest')) },
        responses: { 201: { description: '{credential, clientId, certificate, ca}' }, ...errors },
      },
    },
    '/api/v1/artifacts/{digest}': {
      put: {
        operationId: 'uploadArtifact',
        summary: "Upload a model file (ONNX) under the sha256 the client computed (digest: sha256:<hex>). Streamed; kept only if the bytes hash to the digest, fit the center's --max-artifact-bytes (413) and read as an ONNX model. 200 when it was there already",
        parameters: [...inPath('digest'), ...artifactQuery],
        requestBody: { required: true, ...file },
        responses: { 200: { description: 'Already stored', ...json(ref('ArtifactFacts')) }, 201: { description: 'Stored', ...json(ref('ArtifactFacts')) }, 413: { description: 'Larger than the limit', ...json(ref('Error')) }, ...errors },
      },
      head: {
        operationId: 'checkArtifact',
        summary: 'Whether the project holds the file (200) or not (404), read without opening it: its size in Content-Length, its digest in ETag',
        parameters: [...inPath('digest'), ...artifactQuery],
        responses: { 200: { description: 'Stored', headers: fileHeaders }, 404: { description: 'Not stored' }, ...errors },
      },
      get: {
        operationId: 'downloadArtifact',
        summary: 'Download a model file; `Range: bytes=START-` resumes a download (206)',
        parameters: [...inPath('digest'), ...artifactQuery, rangeHeader],
        responses: {
          200: { description: 'The file', ...file },
          206: { description: 'The range asked for', ...file },
          416: { description: 'The range starts past the end', ...json(ref('Error')) },
          ...errors,
        },
      },
      delete: {
        operationId: 'deleteArtifact',
        summary: 'Delete a model file; refused (409) while a Model version of the project names it',
        parameters: [...inPath('digest'), ...artifactQuery],
        responses: { 200: { description: '{deleted: boolean}' }, ...errors },
      },
    },
    '/api/v1/node/artifacts/{digest}': {
      get: {
        operationId: 'downloadNodeArtifact',
        summary: "A node's download of a model file one of its instances serves (node credential and certificate); `Range: bytes=START-` resumes (206)",
        parameters: [...inPath('digest'), ...artifactQuery, rangeHeader],
        responses: {
          200: { description: 'The file', ...file },
          206: { description: 'The range asked for', ...file },
          ...errors,
        },
      },
    },
    '/api/v1/node/artifacts/{project}/{digest}': {
      get: {
        operationId: 'downloadNodeArtifactLegacy',
        deprecated: true,
        summary: 'Deprecated: downloadNodeArtifact with the project in the path, as agents of the previous release ask for it; answers carry a `Warning: 299` header. Use /api/v1/node/artifacts/{digest}?project=',
        parameters: [...inPath('project', 'digest'), rangeHeader],
        responses: {
          200: { description: 'The file', ...file },
          206: { description: 'The range asked for', ...file },
          ...errors,
        },
      },
    },
    [UPLINK_PATH]: {
      post: {
        operationId: 'postUplinkBatch',
        summary: "An edge node's batch of one route's device messages (node credential; Content-Encoding: gzip or identity). Idempotent: seqs at or below the recorded progress are skipped",
        parameters: [{ name: 'content-encoding', in: 'header', required: false, schema: { type: 'string', enum: ['gzip', 'identity'] } }],
        requestBody: { required: true, ...json(ref('UplinkBatch')) },
        responses: {
          200: { description: "The (node, route) progress: everything up to ackedSeq is in the route's sink", ...json(ref('UplinkAck')) },
          404: { description: 'RouteGone: the route does not exist or does not run on the node\'s site; the edge drops its backlog', ...json(ref('Error')) },
          503: { description: 'SinkUnavailable: the sink failed; what landed is recorded, the edge retries the rest', ...json(ref('Error')) },
          ...errors,
        },
      },
    },
    '/api/v1/routes/{name}/messages': {
      get: {
        operationId: 'listRouteMessages',
        summary: "A page of a route's table sink, oldest first: after the `after` id, or the newest `limit` when `after` is unset; `next` is the following page's `after`",
        parameters: [...inPath('name'), ...inQuery(messagesQuerySchema)],
        responses: { 200: { description: 'Messages', ...json(ref('SinkMessagesPage')) }, ...errors },
      },
    },
    '/api/v1/openapi.json': {
      get: { operationId: 'readOpenApi', summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1' }, ...errors } },
    },
    '/metrics': {
      get: { operationId: 'readMetrics', summary: 'Prometheus metrics (text exposition format); an admin or metrics token', responses: { 200: text('Metrics'), ...errors } },
    },
    '/api/v1/metrics/targets': {
      get: {
        operationId: 'listMetricsTargets',
        summary: "Prometheus HTTP service discovery (http_sd_configs): one target per node, this center's address with `__metrics_path__` set to the node's metrics; labels node, site, connected; an admin or metrics token",
        responses: { 200: { description: '[{targets, labels}]' }, ...errors },
      },
    },
    '/api/v1/nodes/{name}/metrics': {
      get: {
        operationId: 'readNodeMetrics',
        summary: "A node's agent's Prometheus metrics (uplink queue, edge broker, devices, rules, workloads, the process), asked of it over its connection; an admin or metrics token",
        parameters: inPath('name'),
        responses: { 200: text('Metrics'), ...errors },
      },
    },
    '/healthz': {
      get: { operationId: 'readHealth', summary: "The center's health for admins and nodes: the store's revision and durability, and each module's state, restarts and last failure", responses: { 200: { description: '{ok, revision, store, modules: [{name, essential, state, restarts, since, error?}]}' }, ...errors } },
    },
    '/livez': {
      get: { operationId: 'readLiveness', ...open, summary: 'Up: the process answers (for load balancers and supervisors; tells nothing else)', responses: { 200: { description: '{ok: true}' }, ...errors } },
    },
    '/readyz': {
      get: { operationId: 'readReadiness', ...open, summary: 'Ready: the store answers and every essential module runs', responses: { 200: { description: '{ok: true}' }, 503: { description: 'The store does not answer, or a module is down (named in details)', ...json(ref('Error')) }, ...errors } },
    },
  };
  for (const k of Object.values(KINDS)) {
    // Node -> Nodes, PriorityClass -> PriorityClasses: the plural, cased as the kind.
    const plural = k.kind + k.plural.slice(k.kind.length);
    const body = { required: true, ...json(ref(k.kind)) };
    paths[`/api/v1/${k.plural}`] = {
      get: { operationId: `list${plural}`, summary: `List ${k.plural} (labelSelector; limit and continue for pages; watch=true&since=REV streams NDJSON changes)`, parameters: inQuery(listQuerySchema), responses: { 200: { description: 'List' }, ...errors } },
      post: { operationId: `create${k.kind}`, summary: `Create a ${k.kind}`, requestBody: body, responses: { 201: { description: 'Created', ...json(ref(k.kind)) }, ...errors } },
    };
    paths[`/api/v1/${k.plural}/{name}`] = {
      get: { operationId: `read${k.kind}`, summary: `Read a ${k.kind}`, parameters: [...inPath('name'), ...inQuery(objectQuerySchema).filter((p) => p.name === 'project')], responses: { 200: { description: k.kind, ...json(ref(k.kind)) }, ...errors } },
      put: { operationId: `apply${k.kind}`, summary: `Apply a ${k.kind} (409 when metadata.revision is stale)`, parameters: inPath('name'), requestBody: body, responses: { 200: { description: 'Applied' }, ...errors } },
      delete: { operationId: `delete${k.kind}`, summary: `Delete a ${k.kind} (revision: only if it is still at that revision)`, parameters: [...inPath('name'), ...inQuery(objectQuerySchema)], responses: { 200: { description: 'Deleted', ...json(ref(k.kind)) }, ...errors } },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'gedge API',
      version,
      description: 'Everything of a project takes it as the query parameter `project` (unset: `default`; a list or watch without it spans every project the token may read).',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: '/', description: 'The center that served this document' }],
    components: { schemas, securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
}
