import { z } from 'zod';
import { KINDS } from '../../core/index.ts';
import { joinRequestSchema, tokenRequestSchema } from './auth-routes.ts';

/** The OpenAPI 3.1 document, generated from the same zod schemas that validate requests. */
export function openApiDocument(version: string): Record<string, unknown> {
  const schemas: Record<string, unknown> = {};
  for (const k of Object.values(KINDS)) schemas[k.kind] = z.toJSONSchema(k.schema, { io: 'input', unrepresentable: 'any' });
  schemas.TokenRequest = z.toJSONSchema(tokenRequestSchema, { io: 'input' });
  schemas.JoinRequest = z.toJSONSchema(joinRequestSchema, { io: 'input' });
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
  const paths: Record<string, unknown> = {
    '/api/v1/apply': {
      post: { summary: 'Create or update objects by name (YAML or JSON, one or many documents)', responses: { 200: { description: 'Per-object actions' }, ...errors } },
    },
    '/api/v1/tokens': {
      get: { summary: 'List tokens (no secrets)', responses: { 200: { description: 'Tokens' }, ...errors } },
      post: { summary: 'Issue a join or admin token', requestBody: { content: { 'application/json': { schema: ref('TokenRequest') } } }, responses: { 201: { description: 'The token, shown once' }, ...errors } },
    },
    '/api/v1/join': {
      post: { summary: 'Exchange a join token for a node identity and credential', requestBody: { content: { 'application/json': { schema: ref('JoinRequest') } } }, responses: { 201: { description: 'Node and credential' }, ...errors } },
    },
    '/api/v1/instances/{name}/logs': { get: { summary: 'Instance logs, streamed from its edge agent (follow=true keeps streaming)', responses: { 200: { description: 'text/plain' }, ...errors } } },
  };
  for (const k of Object.values(KINDS)) {
    paths[`/api/v1/${k.plural}`] = {
      get: { summary: `List ${k.plural} (labelSelector; watch=true&since=REV streams NDJSON changes)`, responses: { 200: { description: 'List' }, ...errors } },
      post: { summary: `Create a ${k.kind}`, requestBody: { content: { 'application/json': { schema: ref(k.kind) } } }, responses: { 201: { description: 'Created', content: { 'application/json': { schema: ref(k.kind) } } }, ...errors } },
    };
    paths[`/api/v1/${k.plural}/{name}`] = {
      get: { summary: `Read a ${k.kind}`, responses: { 200: { description: k.kind, content: { 'application/json': { schema: ref(k.kind) } } }, ...errors } },
      put: { summary: `Apply a ${k.kind} (409 when metadata.revision is stale)`, requestBody: { content: { 'application/json': { schema: ref(k.kind) } } }, responses: { 200: { description: 'Applied' }, ...errors } },
      delete: { summary: `Delete a ${k.kind}`, responses: { 200: { description: 'Deleted' }, ...errors } },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'gedge API', version },
    components: { schemas, securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
}
